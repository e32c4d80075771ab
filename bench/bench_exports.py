"""Time the act export of a 20,000-act version (the "Exporter vers Excel" of a version: the
acts sheet, plus its figures, warnings and history sheets) against openpyxl's write-only
bare write of the same rows (plain values, no styles, no conversion), measured in the same
run, and the Python memory peak (tracemalloc) of the export at 20,000 and 40,000 acts.

    .venv/bin/python -m bench.bench_exports [--rows 20000] [--repeat 3]

Target (issue 16): the export at most 1.5x the bare write, memory flat.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import date
from io import BytesIO

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.bench_reporting_import import ben, setup  # noqa: E402

TARGET_RATIO = 1.5


def add_version(db, lot, rows, period):
    """A validated version of ``rows`` acts with every column filled, like a real file."""
    import sqlalchemy as sa
    from datetime import datetime
    from fc_market.market.models import UnitOfWork
    from fc_market.reporting.models import Act, Report, ReportVersion
    from fc_market.territory.models import Site
    year, month = map(int, period.split("-"))
    report = Report(lot_id=lot.id, period=period, period_start=date(year, month, 1),
                    due_on=date(year, month, 10))
    db.session.add(report)
    db.session.flush()
    version = ReportVersion(report_id=report.id, lot_id=lot.id, number=1, status="draft",
                            source="excel", act_count=rows)
    db.session.add(version)
    db.session.flush()
    uos = db.session.scalars(sa.select(UnitOfWork.id).where(
        UnitOfWork.code.in_(["UO0", "UO1", "UO2.1"]))).all()
    sites = db.session.scalars(sa.select(Site.id).where(Site.lot_id == lot.id)).all()
    modes = ("presentiel", "telephone", "visio")
    db.session.execute(Act.__table__.insert(), [
        {"version_id": version.id, "lot_id": lot.id, "beneficiary_id": ben(i // 2),
         "uo_id": uos[i % len(uos)], "act_date": date(year, month, 1 + i % 28),
         "mode": modes[i % 3], "site_id": sites[i % len(sites)] if i % 3 == 0 else None,
         "proof_ref": f"DS-{i:06d}", "sex": "FM"[i % 2], "age_band": "26-44", "csp": "5",
         "employment_status": "cdi", "sector": "G", "source_row": i + 2}
        for i in range(rows)])
    db.session.commit()
    return version


def bare_write(rows):
    """The floor: openpyxl write-only, the same values appended as they are."""
    from openpyxl import Workbook
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Actes")
    for row in rows:
        ws.append(row)
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


def plain_rows(version_id):
    from fc_market.reporting.exporting import act_rows
    return [list(r.values()) for r in act_rows(version_id)]


def export(version):
    from fc_market.excel.writer import build_workbook
    from fc_market.reporting.exporting import version_sheets
    return build_workbook(version_sheets(version))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="bench_exports_")
    app, ctx, db, lot, user = setup(tmp)
    version = add_version(db, lot, args.rows, "2025-04")
    rows = plain_rows(version.id)
    bare, full, bare_cpu, full_cpu = [], [], [], []
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        bare_write(rows)
        bare.append(time.perf_counter() - t0)
        bare_cpu.append(time.process_time() - c0)
        t0, c0 = time.perf_counter(), time.process_time()
        data = export(version)
        full.append(time.perf_counter() - t0)
        full_cpu.append(time.process_time() - c0)
        db.session.rollback()
    b, f = statistics.median(bare), statistics.median(full)
    bc, fc = statistics.median(bare_cpu), statistics.median(full_cpu)
    print(f"Machine load average (1, 5, 15 min): {', '.join(f'{x:.1f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} cores")
    print(f"Floor: openpyxl write-only bare write of {len(rows):,} rows: {b:6.2f} s "
          f"(median of {args.repeat}, rows already in memory)")
    print(f"Act export of the version (query + 4 sheets): {f:6.2f} s (median of {args.repeat}) "
          f"= {f / b:.2f} x the floor (target <= {TARGET_RATIO:.1f} x: "
          f"{'OK' if f / b <= TARGET_RATIO else 'MISSED'}); {len(data) / 1e6:.1f} MB")
    print(f"CPU time of this process (less sensitive to the machine's load): floor {bc:.2f} s, "
          f"export {fc:.2f} s = {fc / bc:.2f} x")
    for count, period in ((20000, "2025-05"), (40000, "2025-06")):
        other = add_version(db, lot, count, period)
        tracemalloc.start()
        export(other)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        db.session.rollback()
        print(f"Python memory peak (tracemalloc), export of {count:,} acts: {peak / 1e6:6.1f} MB")
    ctx.pop()


if __name__ == "__main__":
    main()
