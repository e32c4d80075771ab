"""Bounded load test of the production server: gunicorn (gunicorn.conf.py) on 127.0.0.1 in
front of a fresh PostgreSQL database, mandataires uploading and submitting their monthly
reports while market managers and finance read their dashboards.

    .venv/bin/python -m bench.load_test [--duration 60] [--workers 3] [--threads 2]
                                        [--mandataires 8] [--managers 2] [--finance 2]
                                        [--max-requests 20000] [--timing] [--keep]

What it does:

1. creates its own database on 127.0.0.1:5432 (trust authentication; ``--pg`` to change the
   server, loopback only) and drops it at the end (``--keep`` keeps it);
2. migrates it (``flask db upgrade``), loads the demo contract, and seeds: one account
   per simulated person, ten sites per lot, and two validated months for every lot used (so
   dashboards have something to read);
3. starts gunicorn with the production settings (gunicorn.conf.py, FC_ENV=production, CSRF
   on, scrypt passwords) and waits for ``/health``;
4. ramp-up, before the measured window: every simulated person logs in like a browser (login
   page and CSRF token, login, session cookie, landing redirect), all at once; their
   latencies are printed in a table of their own (a login hashes its password with scrypt,
   slow on purpose: ~0.1 s of CPU each, and twelve at once would otherwise compete with the
   measured requests on a small machine);
5. the measured window, which starts when everyone is logged in: for ``--duration`` seconds
   (and at most ``--max-requests`` requests), with no think time, each mandataire uploads,
   for distinct months of its lot, a generated ``.xlsx`` (60 acts) from the period page,
   reads the check page and submits the draft; managers read /pilotage, a lot scorecard and
   the review queue; finance reads /finances, /interets and a lot's finances; the window
   ends when the mandataires have uploaded all their months;
6. prints requests/s, p50/p95/p99 latency and errors per kind of request with a verdict
   against the issue's target (p99 at most ``TARGET_P99_MS``, logins excepted), the CPU
   used meanwhile by gunicorn, PostgreSQL, the load generator and the rest of the machine,
   and the load average; with ``--timing``, gunicorn serves ``bench.timed_wsgi:app`` and a
   second table gives per kind the time inside the application, its CPU, its SQL (count
   and time) and the wait before the application started the request;
7. checks the database: every accepted upload is there exactly once (one report, one
   submitted version with its 60 acts and the file's SHA-256, one accepted import journal
   line), and nothing else changed (every other table has the row count it had before the
   load, apart from the audit log, notifications, login journal and login sessions that the
   uploads and logins write; the seeded months are untouched).

Exit code 0 when the checks pass, no request failed and every measured p99 meets the target;
1 otherwise.  Only loopback addresses are contacted.
"""
import argparse
import hashlib
import http.cookiejar
import ipaddress
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from datetime import date, timedelta
from io import BytesIO

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
PASSWORD = "Bench-Password-2026"
ACTS_PER_FILE = 60
MODES = ("Présentiel", "Téléphone", "Visioconférence")
#: Tables the load is allowed to grow besides the reporting tables checked one by one: audit
#: log, notifications, login journal, job runs and the server-side login sessions (one per
#: login since branch `sec`)
JOURNALS = {"audit_entries", "notifications", "login_attempts", "job_runs", "user_sessions"}
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


# --------------------------------------------------------------------------- database

def _loopback(host):
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except OSError:
        return False


def create_database(pg_host, pg_port, name):
    import psycopg
    with psycopg.connect(f"host={pg_host} port={pg_port} dbname=test connect_timeout=5",
                         autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql://{pg_host}:{pg_port}/{name}"


def drop_database(pg_host, pg_port, name):
    import psycopg
    with psycopg.connect(f"host={pg_host} port={pg_port} dbname=test connect_timeout=5",
                         autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def flask(env, *args):
    subprocess.run([os.path.join(ROOT, ".venv", "bin", "flask"), "--app", "fc_market", *args],
                   cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def ben(*parts):
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()


def report_file(code, period, seed_part="load"):
    """A filled-in monthly report for ``code``/``period``: ``ACTS_PER_FILE`` acts (UO0 then
    UO1 or UO2.1 per beneficiary), the lot's figures."""
    from openpyxl import Workbook
    from fc_market.reporting.dictionary import ACT_COLUMNS, FIGURE_ROWS
    year, month = map(int, period.split("-"))
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Actes")
    ws.append([header for _, header, _ in ACT_COLUMNS])
    for i in range(ACTS_PER_FILE):
        n = i // 2
        uo = "UO0" if i % 2 == 0 else ("UO2.1" if n % 5 == 0 else "UO1")
        mode = MODES[n % 3]
        ws.append([ben(seed_part, code, period, n), uo, date(year, month, 1 + (n + i % 2 * 5) % 28),
                   mode, f"S{(n % 10) + 1:03d}" if mode == "Présentiel" else None,
                   f"DS-{period}-{i:04d}", "F" if n % 2 else "M",
                   ("<26", "26-44", "45-54", "55+")[n % 4], str(1 + n % 6),
                   ("cdi", "cdd", "interim", "independant")[n % 4], "QGCNHIMPFS"[n % 10]])
    fs = wb.create_sheet("Indicateurs du lot")
    fs.append(["Indicateur", "Valeur"])
    fs.append(["Lot", code])
    fs.append(["Période", period])
    for name, label, kind in FIGURE_ROWS:
        fs.append([label, 10 if kind == "int" else "Actions UO4 (charge)"])
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


def seed(url, lots_used, args):
    """Accounts, sites and two validated months per lot used (through the real services)."""
    import sqlalchemy as sa
    import config
    from fc_market import create_app
    from fc_market.auth.service import create_user
    from fc_market.extensions import db
    from fc_market.market.models import Lot
    from fc_market.reporting import service as reporting
    from fc_market.territory.models import Site
    app = create_app(config.Config, SQLALCHEMY_DATABASE_URI=config.normalise_database_url(url),
                     SECRET_KEY="bench-seed", PASSWORD_HASH_METHOD="scrypt")
    people = {"mandataire": [], "manager": [], "finance": []}
    with app.app_context():
        lots = db.session.scalars(sa.select(Lot).order_by(Lot.number)).all()[:lots_used]
        manager = create_user("gestion@load.test", "Gestion (charge)", "manager", PASSWORD)
        people["manager"] = [("gestion@load.test", None)]
        for i in range(1, args.managers):
            create_user(f"gestion{i}@load.test", f"Gestion {i}", "manager", PASSWORD)
            people["manager"].append((f"gestion{i}@load.test", None))
        for i in range(args.finance):
            create_user(f"finances{i}@load.test", f"Finances {i}", "finance", PASSWORD)
            people["finance"].append((f"finances{i}@load.test", None))
        for lot in lots:
            for s in range(1, 11):
                db.session.add(Site(lot_id=lot.id, code=f"S{s:03d}", name=f"Point CEP {lot.code} {s}",
                                    commune="Commune", latitude=48 + s / 100, longitude=2 + s / 100,
                                    kind="permanent", opened_on=date(2024, 1, 1)))
        db.session.flush()
        mandataires = {}
        for lot in lots:
            email = f"mandataire.{lot.code.lower()}@load.test"
            mandataires[lot.code] = create_user(email, f"Mandataire {lot.code}", "mandataire",
                                                PASSWORD, lot)
        db.session.commit()
        for lot in lots:
            for period in ("2024-01", "2024-02"):
                result = reporting.import_file(lot, period, report_file(lot.code, period, "seed"),
                                               user=mandataires[lot.code], submit=True)
                if not result.accepted:
                    raise SystemExit(f"seed refused for {lot.code} {period}: "
                                     f"{[i.message for i in result.errors][:3]}")
                version = db.session.get(reporting.ReportVersion, result.version_id)
                reporting.decide(version, manager, "validate", None, None)
                db.session.commit()
        for i, lot in enumerate(lots[:args.mandataires]):
            people["mandataire"].append((f"mandataire.{lot.code.lower()}@load.test", lot.code))
        codes = [lot.code for lot in lots]
    return app, people, codes


def table_counts(app):
    import sqlalchemy as sa
    from fc_market.extensions import db
    with app.app_context():
        with db.engine.connect() as conn:
            return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()
                    for t in db.metadata.sorted_tables}


def seeded_fingerprint(app):
    """Acts of the seeded (validated) versions: count and a checksum of their identifiers."""
    import sqlalchemy as sa
    from fc_market.extensions import db
    from fc_market.reporting.models import Act, ReportVersion
    with app.app_context():
        rows = db.session.execute(
            sa.select(Act.version_id, Act.beneficiary_id, Act.act_date)
            .join(ReportVersion, ReportVersion.id == Act.version_id)
            .where(ReportVersion.status == "validated").order_by(Act.id)).all()
        return len(rows), hashlib.sha256(repr(rows).encode()).hexdigest()


# --------------------------------------------------------------------------- HTTP client

class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Client:
    """One person's browser: a cookie jar, the CSRF token of the session, timings."""

    def __init__(self, base, stats):
        self.base = base
        self.stats = stats
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar),
                                                  NoRedirect())
        self.token = None

    def request(self, kind, path, data=None, headers=None, expect=(200,)):
        # the kind and the sending time let ``--timing`` match server-side figures to requests
        headers = dict(headers or {}, **{"X-Load-Kind": kind, "X-Load-Sent": repr(time.time())})
        req = urllib.request.Request(self.base + path, data=data, headers=headers)
        started = time.perf_counter()
        try:
            with self.opener.open(req, timeout=60) as response:
                body, status, location = response.read(), response.status, None
        except urllib.error.HTTPError as exc:
            body, status, location = exc.read(), exc.code, exc.headers.get("Location")
        except OSError as exc:
            self.stats.record(kind, time.perf_counter() - started, f"{type(exc).__name__}: {exc}")
            return None, None, None
        elapsed = time.perf_counter() - started
        error = None if status in expect else f"HTTP {status}"
        self.stats.record(kind, elapsed, error)
        return status, body.decode("utf-8", "replace"), location

    def login(self, email):
        _, page, _ = self.request("login_page", "/connexion")
        token = CSRF.search(page or "")
        form = urllib.parse.urlencode({"email": email, "password": PASSWORD,
                                       "csrf_token": token.group(1) if token else ""}).encode()
        status, _, _ = self.request("login", "/connexion", form, expect=(302,))
        if status != 302:
            raise RuntimeError(f"login failed for {email}: {status}")
        _, page, _ = self.request("home", "/", expect=(302,))

    def csrf_from(self, path, kind):
        status, page, _ = self.request(kind, path)
        match = CSRF.search(page or "")
        if match:
            self.token = match.group(1)
        return page

    def post_form(self, kind, path, fields, expect=(302,)):
        fields = dict(fields, csrf_token=self.token or "")
        return self.request(kind, path, urllib.parse.urlencode(fields).encode(), expect=expect)

    def post_file(self, kind, path, name, data, expect=(302,)):
        boundary = secrets.token_hex(16)
        parts = [f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n"
                 f"{self.token or ''}\r\n".encode(),
                 f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                 f"filename=\"{name}\"\r\nContent-Type: application/vnd.openxmlformats-"
                 "officedocument.spreadsheetml.sheet\r\n\r\n".encode(), data,
                 f"\r\n--{boundary}--\r\n".encode()]
        return self.request(kind, path, b"".join(parts),
                            {"Content-Type": f"multipart/form-data; boundary={boundary}"}, expect)


class Stats:
    def __init__(self, max_requests):
        self.lock = threading.Lock()
        self.samples = defaultdict(list)
        self.errors = defaultdict(list)
        self.count = 0
        self.max_requests = max_requests

    def record(self, kind, seconds, error=None):
        with self.lock:
            self.samples[kind].append(seconds)
            self.count += 1
            if error:
                self.errors[kind].append(error)

    def exhausted(self):
        return self.count >= self.max_requests


# --------------------------------------------------------------------------- people

def ramp_up(client, email, stats, ready):
    """Log in (the ramp-up figures record it), then wait until everyone has: the measured
    window starts once all are logged in, so the deliberately slow password hashes of the
    logins do not compete with the measured requests.  False when the ramp-up failed."""
    try:
        client.login(email)
    except BaseException:
        ready.abort()
        raise
    client.stats = stats
    try:
        ready.wait()
    except threading.BrokenBarrierError:
        return False
    return True


def mandataire(client, email, code, periods, files, accepted, stop, stats, ready):
    if not ramp_up(client, email, stats, ready):
        return
    for period in periods:
        if stop.is_set() or stats.exhausted():
            return
        client.csrf_from(f"/lots/{code}/reporting/{period}", "period_page")
        data = files[(code, period)]
        status, _, location = client.post_file("upload", f"/lots/{code}/reporting/{period}/depot",
                                               f"reporting-{code}-{period}.xlsx", data)
        if status != 302 or not location:
            continue
        path = urllib.parse.urlparse(location).path
        _, page, _ = client.request("import_page", path)
        if not page or "Fichier accepté" not in page:
            stats.record("upload_refused", 0, f"refused {code} {period}")
            continue
        match = re.search(r"/reporting/versions/(\d+)", page)
        if not match:
            continue
        version_id = int(match.group(1))
        status, _, _ = client.post_form("submit", f"/reporting/versions/{version_id}/deposer", {})
        accepted.append({"lot": code, "period": period, "version_id": version_id,
                         "sha256": hashlib.sha256(data).hexdigest(), "submitted": status == 302})


def reader(client, email, paths, stop, stats, ready):
    if not ramp_up(client, email, stats, ready):
        return
    rng = random.Random(email)
    while not stop.is_set() and not stats.exhausted():
        kind, path = rng.choice(paths)
        client.request(kind, path)


# --------------------------------------------------------------------------- checks

def check(app, accepted, before, after, seeded_before, seeded_after):
    import sqlalchemy as sa
    from fc_market.extensions import db
    from fc_market.reporting.models import Act, Report, ReportImport, ReportVersion
    problems = []
    with app.app_context():
        for a in accepted:
            lot_id = db.session.scalar(sa.text("SELECT id FROM lots WHERE code = :c"), {"c": a["lot"]})
            reports = db.session.scalars(sa.select(Report).where(Report.lot_id == lot_id,
                                                                 Report.period == a["period"])).all()
            versions = db.session.scalars(sa.select(ReportVersion).join(Report).where(
                Report.lot_id == lot_id, Report.period == a["period"])).all()
            imports = db.session.scalar(sa.select(sa.func.count()).select_from(ReportImport).where(
                ReportImport.lot_id == lot_id, ReportImport.period == a["period"],
                ReportImport.accepted.is_(True)))
            acts = db.session.scalar(sa.select(sa.func.count()).select_from(Act).where(
                Act.version_id == a["version_id"]))
            label = f"{a['lot']} {a['period']}"
            if len(reports) != 1 or len(versions) != 1 or imports != 1:
                problems.append(f"{label}: {len(reports)} report(s), {len(versions)} version(s), "
                                f"{imports} accepted import(s) (expected 1, 1, 1)")
                continue
            v = versions[0]
            if v.id != a["version_id"] or acts != ACTS_PER_FILE or v.act_count != ACTS_PER_FILE:
                problems.append(f"{label}: version {v.id}, {acts} acts stored, act_count {v.act_count}")
            if v.file_sha256 != a["sha256"]:
                problems.append(f"{label}: stored SHA-256 differs from the uploaded file")
            expected_status = "submitted" if a["submitted"] else "draft"
            if v.status != expected_status:
                problems.append(f"{label}: status {v.status}, expected {expected_status}")
    n = len(accepted)
    expected = {"reports": n, "report_versions": n, "acts": n * ACTS_PER_FILE}
    for table, count in after.items():
        delta = count - before.get(table, 0)
        if table in expected:
            if delta != expected[table]:
                problems.append(f"table {table}: +{delta} rows, expected +{expected[table]}")
        elif table == "report_imports":
            if delta < n:
                problems.append(f"table report_imports: +{delta} rows for {n} accepted uploads")
        elif table == "lot_figures":
            if delta != n:
                problems.append(f"table lot_figures: +{delta} rows, expected +{n}")
        elif table not in JOURNALS and delta:
            problems.append(f"table {table}: {before.get(table, 0)} → {count} rows (should not change)")
    if seeded_before != seeded_after:
        problems.append(f"the seeded validated months changed: {seeded_before} → {seeded_after}")
    return problems


def percentile(values, q):
    values = sorted(values)
    if not values:
        return 0.0
    k = (len(values) - 1) * q
    low, high = int(k), min(int(k) + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (k - low)


#: The issue's target: every measured request's p99 at most this (the logins excepted: their
#: password hash is slow on purpose; they are measured in the ramp-up, before the window)
TARGET_P99_MS = 500
EXCEPTED = {"login": "excepted (scrypt)"}


def report(stats, elapsed, title=None):
    """The table of ``stats``; returns (text, kinds over the target)."""
    total = sum(len(v) for v in stats.samples.values())
    errors = sum(len(v) for v in stats.errors.values())
    lines = [title or f"{total} requests in {elapsed:.1f} s: {total / elapsed:.1f} requests/s, "
             f"{errors} error(s)", "",
             f"{'kind':<16}{'count':>7}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
             f"{'max ms':>9}{'errors':>8}  p99 ≤ {TARGET_P99_MS} ms"]
    over = []
    for kind in sorted(stats.samples):
        v = [s * 1000 for s in stats.samples[kind]]
        if kind == "upload_refused":
            continue
        p99 = percentile(v, .99)
        if kind in EXCEPTED:
            verdict = EXCEPTED[kind]
        elif p99 <= TARGET_P99_MS:
            verdict = "yes"
        else:
            verdict, _ = "NO", over.append(kind)
        lines.append(f"{kind:<16}{len(v):>7}{len(v) / elapsed:>8.1f}{percentile(v, .5):>9.0f}"
                     f"{percentile(v, .95):>9.0f}{p99:>9.0f}{max(v):>9.0f}"
                     f"{len(stats.errors.get(kind, [])):>8}  {verdict}")
    for kind, errs in sorted(stats.errors.items()):
        lines.append(f"  errors {kind}: {sorted(set(errs))[:5]}")
    return "\n".join(lines), over


def server_report(log_prefix):
    """Per kind, what the application itself did (``--timing``, see bench/timed_wsgi.py)."""
    rows = defaultdict(list)
    folder, prefix = os.path.split(log_prefix)
    for name in os.listdir(folder):
        if name.startswith(prefix + "."):
            with open(os.path.join(folder, name), encoding="utf-8") as fh:
                for line in fh:
                    entry = json.loads(line)
                    if not entry["kind"].startswith("/"):  # /health and other unlabelled calls
                        rows[entry["kind"]].append(entry)
    lines = ["server side (--timing): time inside the application, CPU of its thread, SQL, and "
             "the wait between sending and the application starting the request", "",
             f"{'kind':<16}{'count':>7}{'app p50':>9}{'app p99':>9}{'cpu avg':>9}{'cpu p99':>9}"
             f"{'queries':>9}{'sql avg':>9}{'wait p50':>10}{'wait p99':>10}"]
    for kind in sorted(rows):
        r = rows[kind]
        ms, cpu = [e["ms"] for e in r], [e["cpu_ms"] for e in r]
        wait = [e["wait_ms"] for e in r if "wait_ms" in e]
        lines.append(f"{kind:<16}{len(r):>7}{percentile(ms, .5):>9.0f}{percentile(ms, .99):>9.0f}"
                     f"{statistics.mean(cpu):>9.1f}{percentile(cpu, .99):>9.0f}"
                     f"{statistics.mean(e['queries'] for e in r):>9.1f}"
                     f"{statistics.mean(e['sql_ms'] for e in r):>9.1f}"
                     f"{percentile(wait, .5):>10.0f}{percentile(wait, .99):>10.0f}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- CPU accounting

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_stat(pid):
    """(parent pid, command, CPU seconds) of a process, from /proc (None when gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            raw = fh.read()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1:raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2:].split()
    return int(fields[1]), comm, (int(fields[11]) + int(fields[12])) / TICK


def cpu_snapshot(server_pid):
    """CPU seconds used so far by each gunicorn process and each PostgreSQL process (by pid),
    this load generator and the whole machine (busy and idle), from /proc; {} where /proc is
    missing."""
    if not os.path.exists("/proc/stat"):
        return {}
    snap = {"server": {}, "postgres": {}}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        stat = _proc_stat(name)
        if stat is None:
            continue
        ppid, comm, seconds = stat
        if ppid == server_pid or int(name) == server_pid:
            snap["server"][name] = seconds
        elif comm.startswith("postgres"):
            snap["postgres"][name] = seconds
    times = os.times()
    snap["client"] = times.user + times.system
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    snap["idle"] = (values[3] + values[4]) / TICK
    snap["busy"] = (sum(values[:8]) - values[3] - values[4]) / TICK
    return snap


def cpu_report(before, after, elapsed):
    if not before or not after:
        return "CPU: /proc not available"
    # per process: one that ended during the window took its CPU with it (counted in the rest)
    d = {k: (sum(v - before[k].get(pid, 0.0) for pid, v in after[k].items())
             if isinstance(before[k], dict) else after[k] - before[k]) for k in before}
    rest = d["busy"] - d["server"] - d["postgres"] - d["client"]
    return (f"CPU during the window ({os.cpu_count()} cores × {elapsed:.1f} s): gunicorn "
            f"{d['server']:.1f} s, PostgreSQL (every database) {d['postgres']:.1f} s, load "
            f"generator {d['client']:.1f} s, rest of the machine {max(rest, 0):.1f} s, idle "
            f"{d['idle']:.1f} s")


def load_average():
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "?"


# --------------------------------------------------------------------------- main

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_health(base, process, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(base + "/health", timeout=2) as r:
                if json.loads(r.read()).get("database") == "ok":
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit("gunicorn did not answer /health in time")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--max-requests", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--mandataires", type=int, default=8)
    parser.add_argument("--managers", type=int, default=2)
    parser.add_argument("--finance", type=int, default=2)
    parser.add_argument("--uploads-per-mandataire", type=int, default=24,
                        help="distinct months each mandataire may upload (bounded work)")
    parser.add_argument("--pg", default="127.0.0.1:5432", help="PostgreSQL host:port (loopback)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--timing", action="store_true",
                        help="log each request's time, CPU and SQL inside the server and print "
                             "them per kind (gunicorn serves bench.timed_wsgi:app)")
    args = parser.parse_args(argv)
    pg_host, _, pg_port = args.pg.partition(":")
    if not _loopback(pg_host):
        raise SystemExit("the load test only talks to loopback addresses")
    name = f"fc_market_load_{os.getpid()}"
    url = create_database(pg_host, pg_port or "5432", name)
    tmp = tempfile.mkdtemp(prefix="fc_market_load_")
    env = dict(os.environ, DATABASE_URL=url, SECRET_KEY=secrets.token_hex(32), FC_ENV="production",
               SESSION_COOKIE_SECURE="0", UPLOAD_FOLDER=os.path.join(tmp, "files"),
               LOG_LEVEL="WARNING", LOG_FORMAT="json")
    gunicorn = None
    try:
        t0 = time.time()
        flask(env, "db", "upgrade")
        flask(env, "market", "load", "contracts/cep-demo.toml")
        lots_used = max(args.mandataires, 4)
        app, people, codes = seed(url, lots_used, args)
        periods = []
        month = date(2024, 3, 1)
        while len(periods) < args.uploads_per_mandataire and month <= date.today() - timedelta(days=31):
            periods.append(f"{month:%Y-%m}")
            month = (month + timedelta(days=32)).replace(day=1)
        files = {(code, p): report_file(code, p) for _, code in people["mandataire"] for p in periods}
        print(f"setup: database {name}, {len(codes)} lots seeded with 2 validated months each, "
              f"{len(files)} report files of {ACTS_PER_FILE} acts generated "
              f"({time.time() - t0:.1f} s)")

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = open(os.path.join(tmp, "gunicorn.log"), "w")
        timing_log = os.path.join(tmp, "timing.jsonl")
        gunicorn = subprocess.Popen(
            [os.path.join(ROOT, ".venv", "bin", "gunicorn"), "-c", "gunicorn.conf.py",
             "--workers", str(args.workers), "--threads", str(args.threads),
             "--worker-connections", str(args.threads),  # as gunicorn.conf.py: = threads
             "bench.timed_wsgi:app" if args.timing else "wsgi:app"],
            cwd=ROOT, env=dict(env, BIND=f"127.0.0.1:{port}", FC_LOAD_TIMING_LOG=timing_log),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_health(base, gunicorn)
        before = table_counts(app)
        seeded_before = seeded_fingerprint(app)

        stats, stop, accepted = Stats(args.max_requests), threading.Event(), []
        ramp = Stats(args.max_requests)
        ready = threading.Barrier(len(people["mandataire"]) + len(people["manager"])
                                  + len(people["finance"]) + 1)
        manager_paths = [("pilotage", "/pilotage"), ("review_list", "/reporting/examen")] + \
            [("scorecard", f"/pilotage/lots/{c}") for c in codes[:4]]
        finance_paths = [("finances", "/finances"), ("interets", "/interets")] + \
            [("lot_finances", f"/lots/{c}/finances") for c in codes[:4]]
        threads = []
        for email, code in people["mandataire"]:
            threads.append(threading.Thread(target=mandataire, args=(
                Client(base, ramp), email, code, periods, files, accepted, stop, stats, ready)))
        for email, _ in people["manager"]:
            threads.append(threading.Thread(target=reader, args=(
                Client(base, ramp), email, manager_paths, stop, stats, ready)))
        for email, _ in people["finance"]:
            threads.append(threading.Thread(target=reader, args=(
                Client(base, ramp), email, finance_paths, stop, stats, ready)))
        print(f"load: {len(people['mandataire'])} mandataires, {len(people['manager'])} managers, "
              f"{len(people['finance'])} finance, gunicorn {args.workers} workers × {args.threads} "
              f"threads, {args.duration:.0f} s at most, {args.max_requests} requests at most; "
              f"load average {load_average()}")
        ramp_started = time.perf_counter()
        for t in threads:
            t.start()
        try:  # ramp-up: everyone logs in, then the measured window starts for all at once
            ready.wait(timeout=300)
        except threading.BrokenBarrierError:
            stop.set()
            raise SystemExit("ramp-up failed: a login did not succeed (see the errors above)")
        started = time.perf_counter()
        ramp_elapsed = started - ramp_started
        cpu_before = cpu_snapshot(gunicorn.pid)
        deadline = started + args.duration
        while time.perf_counter() < deadline and any(t.is_alive() for t in threads[:len(people["mandataire"])]):
            if stats.exhausted():
                break
            time.sleep(0.2)
        stop.set()
        for t in threads:
            t.join(120)
        elapsed = time.perf_counter() - started
        cpu_after = cpu_snapshot(gunicorn.pid)
        ramp_text, _ = report(ramp, ramp_elapsed, title=(
            f"ramp-up, before the measured window: the {len(threads)} people log in at once "
            f"({ramp_elapsed:.1f} s)"))
        text, over = report(stats, elapsed)
        print()
        print(ramp_text)
        print()
        print("measured window: " + text)
        print()
        print(cpu_report(cpu_before, cpu_after, elapsed) + f"; load average {load_average()}")
        if args.timing:
            print()
            print(server_report(timing_log))
        print(f"\nverdict: every measured kind has p99 ≤ {TARGET_P99_MS} ms" if not over else
              f"\nverdict: p99 over {TARGET_P99_MS} ms for {', '.join(over)}")
        print(f"\naccepted uploads: {len(accepted)} ({sum(a['submitted'] for a in accepted)} submitted)")

        after = table_counts(app)
        problems = check(app, accepted, before, after, seeded_before, seeded_fingerprint(app))
        errors = sum(len(v) for v in stats.errors.values()) + \
            sum(len(v) for v in ramp.errors.values())
        if problems:
            print("\nCHECK FAILED:")
            for p in problems[:50]:
                print("  " + p)
        else:
            print("check: every accepted upload is in the database exactly once (report, "
                  "version, 60 acts, SHA-256, import journal); no other table changed "
                  f"(journals excepted: {', '.join(sorted(JOURNALS & set(after)))})")
        return 1 if problems or errors or over else 0
    finally:
        if gunicorn is not None:
            os.killpg(gunicorn.pid, signal.SIGTERM)
            try:
                gunicorn.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(gunicorn.pid, signal.SIGKILL)
        try:
            from fc_market.extensions import db
            if "app" in locals():
                with app.app_context():
                    db.engine.dispose()
        except Exception:
            pass
        if not args.keep:
            drop_database(pg_host, pg_port or "5432", name)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
