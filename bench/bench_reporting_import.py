"""Time the import of a monthly reporting file (parse, validate, commit) against python-calamine's
bare read of the same file (``get_sheet_by_name("Actes").to_python()``, what the app reads
with), and measure the Python memory peak (tracemalloc) for 20,000 and 40,000 acts.

Target (issue 16): the import end to end at most 3x the bare read, measured in the same run.

    .venv/bin/python -m bench.bench_reporting_import [--rows 20000] [--repeat 5]
        [--url postgresql://127.0.0.1:5432/fcm_bench_import]   # on PostgreSQL (dropped first)

Each import runs as a request or a command runs it: one unit of work, committed at its end,
the commit inside the time measured.

A temporary SQLite database is built with the migrations; the lot (IDF) gets 10 sites, a
mandataire, and a validated previous month of 20,000 acts sharing half of the file's
beneficiaries, so the history preload of the window and double-financing rules has real
rows to read, and a control campaign drawn on that month (its items reference acts: on
PostgreSQL every act deleted is checked against them).  The file is "template-free": generated with openpyxl, without the template's
drop-down lists.  Note: tracemalloc sees Python allocations only; calamine's Rust-side
buffers (the sheet it decodes) are not included.
"""
import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import date, datetime, timedelta
from decimal import Decimal
from io import BytesIO

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PERIOD = "2025-03"
MODES = ("Présentiel", "Téléphone", "Visioconférence")


def ben(n):
    return hashlib.sha256(f"bench:{n}".encode()).hexdigest()


def make_file(rows):
    """``rows`` acts: every beneficiary gets UO0 then UO1 (or UO2.1 for one in five)."""
    from openpyxl import Workbook
    from fc_market.reporting.dictionary import ACT_COLUMNS, FIGURE_ROWS
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Actes")
    ws.append([header for _, header, _ in ACT_COLUMNS])
    start = date(2025, 3, 1)
    for i in range(rows):
        n = i // 2
        uo = "UO0" if i % 2 == 0 else ("UO2.1" if n % 5 == 0 else "UO1")
        mode = MODES[i % 3]
        ws.append([ben(n), uo, start + timedelta(days=(n + i % 2 * 5) % 31), mode,
                   f"S{(n % 10) + 1:03d}" if mode == "Présentiel" else None,
                   f"DS-{i:06d}", "F" if n % 100 < 52 else "M", ("<26", "26-44", "45-54", "55+")[n % 4],
                   str(1 + n % 6), ("cdi", "cdd", "interim", "independant")[n % 4],
                   "QGCNHIMPFS"[n % 10]])
    fs = wb.create_sheet("Indicateurs du lot")
    fs.append(["Indicateur", "Valeur"])
    fs.append(["Lot", "IDF"])
    fs.append(["Période", PERIOD])
    for name, label, kind in FIGURE_ROWS:
        fs.append([label, 10 if kind == "int" else "Actions UO4"])
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


#: Target: the import end to end within this multiple of calamine's bare read
TARGET_RATIO = 3.0


def bare_read(data):
    """The floor: calamine decodes the acts sheet into Python lists, nothing else."""
    from python_calamine import CalamineWorkbook
    wb = CalamineWorkbook.from_filelike(BytesIO(data))
    rows = wb.get_sheet_by_name("Actes").to_python()
    wb.close()
    return sum(1 for row in rows[1:] if row and row[0] not in (None, ""))


def setup(tmp, url=None):
    """The app on a new SQLite file in ``tmp``, or on the PostgreSQL database ``url``
    (dropped and created again)."""
    if url:
        from bench.bench_steering import recreate
        recreate(url)
        os.environ["DATABASE_URL"] = url
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp}/bench.db"
    os.environ.setdefault("SECRET_KEY", "bench")
    import flask_migrate
    import sqlalchemy as sa

    import config
    from fc_market import create_app
    from fc_market.extensions import db
    # the database given to the factory: the configuration read the environment when it was
    # first imported (by another benchmark of the same run, maybe)
    app = create_app(config.Config, SQLALCHEMY_DATABASE_URI=config.normalise_database_url(
        os.environ["DATABASE_URL"]))
    ctx = app.app_context()
    ctx.push()
    flask_migrate.upgrade()
    from fc_market.market.contract_file import load_file
    load_file(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "contracts", "cep-demo.toml"))
    from fc_market.auth.service import create_user
    from fc_market.market.models import Lot, UnitOfWork
    from fc_market.reporting.models import Act, Report, ReportVersion
    from fc_market.territory.models import Site
    lot = db.session.scalar(sa.select(Lot).where(Lot.code == "IDF"))
    for i in range(10):
        db.session.add(Site(lot=lot, code=f"S{i + 1:03d}", name=f"Site {i + 1}", commune="Paris",
                            latitude=Decimal("48.85"), longitude=Decimal("2.35"), kind="permanent",
                            opened_on=date(2024, 1, 1)))
    user = create_user("mandataire.bench@example.org", "Mandataire", "mandataire",
                       "Bench-Password-2026", lot)
    report = Report(lot_id=lot.id, period="2025-02", period_start=date(2025, 2, 1),
                    due_on=date(2025, 3, 10))
    db.session.add(report)
    db.session.flush()
    # written as a draft (a validated version's acts are frozen: PostgreSQL's triggers refuse
    # new ones), then moved through its life cycle below
    version = ReportVersion(report_id=report.id, lot_id=lot.id, number=1, status="draft",
                            source="excel", act_count=20000)
    db.session.add(version)
    db.session.flush()
    uo21 = db.session.scalar(sa.select(UnitOfWork.id).where(UnitOfWork.code == "UO2.2"))
    db.session.execute(Act.__table__.insert(), [
        {"version_id": version.id, "lot_id": lot.id, "beneficiary_id": ben(n * 2 if n < 10000 else 10 ** 6 + n),
         "uo_id": uo21, "act_date": date(2025, 2, 1 + n % 28), "mode": "telephone",
         "proof_ref": f"DS-{n}"} for n in range(20000)])
    db.session.commit()
    with db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE report_versions SET status = 'submitted', submitted_at = :at "
                             "WHERE id = :id"), {"at": datetime(2025, 3, 5), "id": version.id})
        conn.execute(sa.text("UPDATE report_versions SET status = 'validated', decided_at = :at "
                             "WHERE id = :id"), {"at": datetime(2025, 3, 6), "id": version.id})
    db.session.expire_all()
    # a control campaign on that month, as FC draws them (its items reference acts: every
    # act deleted is checked against them on PostgreSQL)
    from fc_market import unit_of_work
    from fc_market.controls.service import open_campaign
    with unit_of_work.unit():
        campaign = open_campaign(lot, ["2025-02"], seed="bench-16",
                                 today=date(2025, 3, 20))
    print(f"control campaign {campaign.reference}: {campaign.sample_size} acts drawn")
    # as a serving process before its first request (gunicorn's post_worker_init): what the
    # process holds for good leaves the garbage collector's generations
    from fc_market.web import prepare_worker
    prepare_worker()
    return app, ctx, db, lot, user


def import_once(db, lot, user, data):
    """One import as a request or a command runs it: one unit of work, committed at its end
    (the commit is inside the time measured)."""
    from fc_market import unit_of_work
    from fc_market.reporting import service
    started = time.perf_counter()
    with unit_of_work.unit():
        result = service.import_file(lot, PERIOD, data, user=user, file_name="bench.xlsx")
    elapsed = time.perf_counter() - started
    assert result.accepted, result.as_json()["errors"][:3]
    return elapsed, result


def breakdown(db, lot, user, data):
    """One more import, its stages timed from inside the import's thread (each counted once,
    their sum is the import): the safety check, calamine and the reader, the row checks, the
    acts handed to the writer's thread (their parameters built, and any wait for a free
    place in its queue), the wait for its last writes, the rules across rows
    (``check_stored``), and the rest (report, figures, journal, commit).  The writer's own
    time (the draft's previous acts deleted, the inserts) runs meanwhile in its thread: it
    is printed apart."""
    from fc_market.excel import reader
    from fc_market.reporting import checks, service, workbook
    spent = dict.fromkeys(("safety", "read", "checks", "handed", "tail", "across"), 0.0)

    def timed(owner, name, stage):
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[stage] += time.perf_counter() - started
        setattr(owner, name, wrapper)
        return owner, name, original

    writer_time = [0.0]
    original_run = service.ActWriter._run

    def run(self):
        started = time.thread_time()
        try:
            original_run(self)
        finally:
            writer_time[0] += time.thread_time() - started

    patches = [timed(reader, "check_xlsx", "safety"), timed(workbook, "read_workbook", "read"),
               timed(checks.RowChecker, "check_columns", "checks"),
               timed(service.ActWriter, "write_columns", "handed"),
               timed(service.ActWriter, "close", "tail"),
               timed(checks.RowChecker, "check_stored", "across")]
    service.ActWriter._run = run
    try:
        total, _ = import_once(db, lot, user, data)
    finally:
        service.ActWriter._run = original_run
        for owner, name, original in patches:
            setattr(owner, name, original)
    # read_workbook holds the safety check, the checks and the acts handed to the writer
    read = spent["read"] - spent["safety"] - spent["checks"] - spent["handed"]
    return {"safety check (check_xlsx, once)": spent["safety"],
            "calamine read + reader": read, "row checks (RowChecker.check_columns)": spent["checks"],
            "acts handed to the writer's thread": spent["handed"],
            "wait for the writer's last inserts": spent["tail"],
            "rules across rows (check_stored)": spent["across"],
            "the rest (report, figures, journal)":
                total - spent["read"] - spent["tail"] - spent["across"],
            "total (this run)": total,
            "  meanwhile, writer's thread CPU (clear + inserts)": writer_time[0]}


#: Memory is "flat" when the peak at 40,000 acts is within this factor of the peak at 20,000
FLAT_FACTOR = 1.10
#: Imports measured at each size for the memory peak (their median is compared)
MEMORY_RUNS = 3


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--url", default=None,
                    help="a PostgreSQL database to build and use (dropped first) instead of SQLite, "
                         "e.g. postgresql://127.0.0.1:5432/fcm_bench_import")
    args = ap.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="bench_reporting_")
    app, ctx, db, lot, user = setup(tmp, args.url)
    print(f"database: {args.url or 'SQLite (temporary file)'}")

    t0 = time.perf_counter()
    data = make_file(args.rows)
    print(f"File: {args.rows:,} acts, {len(data) / 1e6:.1f} MB, generated in "
          f"{time.perf_counter() - t0:.1f} s")

    bare, bare_cpu = [], []
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        assert bare_read(data) == args.rows
        bare.append(time.perf_counter() - t0)
        bare_cpu.append(time.process_time() - c0)
    full, full_cpu = [], []
    # one import first, untimed, as a serving process has run some: its caches (compiled
    # statements, the contract's terms) are warm
    import_once(db, lot, user, data)
    result = None
    for _ in range(args.repeat):
        c0 = time.process_time()
        elapsed, result = import_once(db, lot, user, data)
        full.append(elapsed)
        full_cpu.append(time.process_time() - c0)
    print("each run: floor " + ", ".join(f"{x:.3f}" for x in bare) + "; import "
          + ", ".join(f"{x:.3f}" for x in full))
    b, f = statistics.median(bare), statistics.median(full)
    bc, fc = statistics.median(bare_cpu), statistics.median(full_cpu)
    import os as _os
    print(f"Machine load average (1, 5, 15 min): {', '.join(f'{x:.1f}' for x in _os.getloadavg())} "
          f"on {_os.cpu_count()} cores")
    print(f"Floor: calamine bare read (to_python)   : {b:6.2f} s (median of {args.repeat})")
    print(f"Import end to end (parse, validate, commit): {f:6.2f} s (median of {args.repeat}) "
          f"= {f / b:.2f} x the floor (target <= {TARGET_RATIO:.1f} x: "
          f"{'OK' if f / b <= TARGET_RATIO else 'MISSED'}); {result.act_count:,} acts, "
          f"{result.warning_count} warning(s)")
    print(f"CPU time of this process (less sensitive to the machine's load): floor {bc:.2f} s, "
          f"import {fc:.2f} s = {fc / bc:.2f} x")
    print("Breakdown of one more import (wall time, each stage counted once):")
    for stage, value in breakdown(db, lot, user, data).items():
        print(f"  {stage:<50}: {value:6.2f} s")

    peaks = {}
    for rows in (20000, 40000):
        payload = make_file(rows)
        # the median of MEMORY_RUNS imports: one peak moves by a few tenths of a megabyte
        # with the garbage collector's timing
        found = []
        for _ in range(MEMORY_RUNS):
            tracemalloc.start()
            import_once(db, lot, user, payload)
            found.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        peaks[rows] = statistics.median(found)
        print(f"Python memory peak (tracemalloc), import of {rows:,} acts: "
              f"{peaks[rows] / 1e6:6.1f} MB, median of {MEMORY_RUNS} "
              f"({', '.join(f'{x / 1e6:.1f}' for x in found)}; file {len(payload) / 1e6:.1f} MB)")
    growth = peaks[40000] / peaks[20000]
    print(f"Memory from 20,000 to 40,000 acts: x {growth:.2f} "
          f"({'FLAT' if growth <= FLAT_FACTOR else 'NOT FLAT'}: flat means at most "
          f"x {FLAT_FACTOR:.2f})")
    import resource
    print(f"Process max RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    ctx.pop()


if __name__ == "__main__":
    main()
