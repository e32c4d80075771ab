"""Monthly reporting: reports, versions, import, submission, review, alerts.

Every function that writes does so in the caller's session and leaves the commit to the
caller (views, CLI, jobs), except :func:`import_file`, which owns its transaction: an
accepted file is committed with its journal line; a refused one is rolled back entirely
and only its journal line (:class:`ReportImport`) is written afterwards.

Version life cycle (``VersionStatus``): a draft (Excel upload or web form) is submitted by
the mandataire; FC validates or rejects it.  A correction is a new draft; when it is
submitted the rejected versions of the period become *superseded*; when it is validated the
previously validated version becomes *superseded* (``report.superseded``) and the new one
``report.validated``.  Until then the validated version stays in force for billing.

``ReportVersion.days_late``: calendar days between the report's deadline
(``Report.due_on``, the contract's ``reporting_deadline_day`` of the following month) and
the day (Europe/Paris) the version was submitted; 0 when submitted on or before the
deadline.  Every submitted version carries it; the late-reporting penalty reads the *first*
submitted version of the period (a correction asked by FC does not make a report late).
"""
import hashlib
import queue
import threading
import time
from collections import Counter
from itertools import chain, repeat
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from fc_market import events
from fc_market.audit.service import record
from fc_market.excel.reader import map_distinct
from fc_market.auth.models import Role, User
from fc_market.extensions import db
from fc_market.unit_of_work import doom, independent_session
from fc_market.market.dates import add_months, parse_period
from fc_market.market.models import Lot
from fc_market.market.terms import terms_of
from fc_market.models_base import utcnow
from fc_market.notifications.service import notify, notify_lot_manager
from fc_market.reporting import dictionary as dd
from fc_market.reporting.checks import (MAX_STORED_ISSUES, RowChecker, Rules, load_history,
                                        recent_counts, sort_issues)
from fc_market.reporting.models import (Act, AlertStatus, DoubleFinancingAlert, LotFigures, Report,
                                        ReportImport, ReportVersion, VersionStatus)

PARIS = ZoneInfo("Europe/Paris")
#: SQLite: acts a multi-row INSERT writes, at most (15 columns x 2,000 rows = 30,000
#: parameters, within the 32,766 SQLite allows since 3.32; fewer where the library allows
#: fewer: see `ActWriter._prepare`)
SQLITE_ROWS_PER_INSERT = 2000
#: batches waiting for the acts writer's thread (`ActWriter`): memory flat
WRITER_QUEUE = 2
FIGURE_FIELDS = [name for name, _, _ in dd.FIGURE_ROWS]
#: Act columns copied into a correction
ACT_COPY_COLUMNS = ("lot_id", "beneficiary_id", "uo_id", "act_date", "mode", "site_id", "proof_ref",
                    "sex", "age_band", "csp", "employment_status", "sector", "source_row")


class ReportingError(Exception):
    """A refused action, with a French message for the user."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class Conflict(ReportingError):
    """Someone else acted on the same object first (optimistic lock)."""


def paris_today():
    return datetime.now(PARIS).date()


# -- reports and deadlines -------------------------------------------------------------------

def deadline(lot, period):
    """The contract's reporting day of the month following ``period``."""
    start, _ = parse_period(period)
    day = terms_of(lot, start).reporting.deadline_day
    following = add_months(start, 1)
    return following.replace(day=day)


def compute_days_late(report, on_day):
    return max(0, (on_day - report.due_on).days)


def find_report(lot, period):
    return db.session.scalar(sa.select(Report).where(Report.lot_id == lot.id,
                                                     Report.period == period))


def get_or_create_report(lot, period):
    report = find_report(lot, period)
    if report is None:
        start, _ = parse_period(period)
        report = Report(lot_id=lot.id, period=period, period_start=start,
                        due_on=deadline(lot, period))
        db.session.add(report)
        db.session.flush()
    return report


def contract_periods(lot, until):
    """Periods of the lot's contract from its start up to the month of ``until``."""
    from fc_market.market.dates import month_periods
    contract = lot.contract
    if contract is None:
        return []
    end = min(until, contract.end_date)
    return list(month_periods(contract.start_date, end)) if end >= contract.start_date else []


def check_period(lot, period):
    """ValueError (French) unless ``period`` is a month of the lot's contract."""
    start, end = parse_period(period)
    contract = lot.contract
    if contract is None:
        raise ValueError(f"Le lot {lot.code} n'a pas de contrat enregistré.")
    if end < contract.start_date or start > contract.end_date:
        raise ValueError(f"La période {period} est hors du contrat du lot {lot.code} "
                         f"({contract.start_date:%m/%Y} – {contract.end_date:%m/%Y}).")
    return start, end


def versions_of(report):
    return db.session.scalars(sa.select(ReportVersion).where(ReportVersion.report_id == report.id)
                              .order_by(ReportVersion.number)).all()


def current_draft(report, *options):
    return db.session.scalar(sa.select(ReportVersion).where(
        ReportVersion.report_id == report.id, ReportVersion.status == VersionStatus.DRAFT)
        .options(*options))


def pending_version(report):
    return db.session.scalar(sa.select(ReportVersion).where(
        ReportVersion.report_id == report.id, ReportVersion.status == VersionStatus.SUBMITTED))


def in_force(report):
    """The version that currently counts: awaiting review, else validated."""
    return pending_version(report) or db.session.scalar(sa.select(ReportVersion).where(
        ReportVersion.report_id == report.id, ReportVersion.status == VersionStatus.VALIDATED))


def first_submitted(report):
    """The first submitted version of the period (its ``days_late`` feeds the penalty)."""
    return db.session.scalar(sa.select(ReportVersion).where(
        ReportVersion.report_id == report.id, ReportVersion.submitted_at.is_not(None))
        .order_by(ReportVersion.number).limit(1))


def _next_number(report):
    return (db.session.scalar(sa.select(sa.func.max(ReportVersion.number))
                              .where(ReportVersion.report_id == report.id)) or 0) + 1


def _correctable(report):
    """The latest decided version a new draft corrects (None for a first version)."""
    return db.session.scalar(sa.select(ReportVersion).where(
        ReportVersion.report_id == report.id,
        ReportVersion.status.in_([VersionStatus.VALIDATED, VersionStatus.REJECTED]))
        .order_by(ReportVersion.number.desc()).limit(1))


def open_draft(report, user, source="web", *options):
    """The report's draft, created if needed.  Refused while a version awaits review.
    ``options``: loader options for an existing draft (an import defers the warnings it
    replaces)."""
    draft = current_draft(report, *options)
    if draft is not None:
        return draft, False
    if pending_version(report) is not None:
        raise ReportingError("Une version de ce rapport est en cours d'examen par France "
                             "compétences : attendez sa décision avant d'en déposer une autre.")
    previous = _correctable(report)
    draft = ReportVersion(report_id=report.id, lot_id=report.lot_id, number=_next_number(report),
                          status=VersionStatus.DRAFT, source=source,
                          created_by_id=getattr(user, "id", None),
                          supersedes_id=previous.id if previous else None)
    db.session.add(draft)
    db.session.flush()
    return draft, True


def copy_into(draft, source_version):
    """Copy a version's acts and figures into a draft (one INSERT … SELECT)."""
    table = Act.__table__
    cols = [table.c[c] for c in ACT_COPY_COLUMNS]
    select = sa.select(sa.literal(draft.id).label("version_id"), *cols).where(
        table.c.version_id == source_version.id)
    db.session.execute(table.insert().from_select(["version_id", *ACT_COPY_COLUMNS], select))
    if source_version.figures is not None:
        save_figures_values(draft, {name: getattr(source_version.figures, name)
                                    for name in FIGURE_FIELDS})
    _refresh_count(draft)


def _refresh_count(version):
    version.act_count = db.session.scalar(sa.select(sa.func.count()).select_from(Act)
                                          .where(Act.version_id == version.id))


def save_figures_values(version, values):
    figures = db.session.scalar(sa.select(LotFigures).where(LotFigures.version_id == version.id))
    if figures is None:
        figures = LotFigures(version_id=version.id)
        db.session.add(figures)
    for name in FIGURE_FIELDS:
        value = values.get(name)
        setattr(figures, name, value if value is not None or name == "uo4_actions" else 0)
    db.session.flush()
    db.session.expire(version, ["figures"])
    return figures


# -- import ------------------------------------------------------------------------------------

@dataclass
class ImportResult:
    accepted: bool
    lot_code: str
    period: str
    errors: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    error_count: int = 0
    warning_count: int = 0
    rows: int = 0
    act_count: int = 0
    counts: dict = field(default_factory=dict)
    version_id: int | None = None
    version_number: int | None = None
    status: str | None = None
    import_id: int | None = None
    alerts: int = 0
    duration_ms: int = 0

    def as_json(self):
        return {"accepted": self.accepted, "lot": self.lot_code, "period": self.period,
                "status": self.status, "version": self.version_number,
                "import_id": self.import_id,
                "counts": {"rows": self.rows, "acts": self.act_count, "by_uo": self.counts,
                           "errors": self.error_count, "warnings": self.warning_count},
                "errors": [i.as_dict() for i in self.errors],
                "warnings": [i.as_dict() for i in self.warnings],
                "duration_ms": self.duration_ms}


class ActWriter:
    """Writes a draft's acts to the database in a thread of its own, while the import's
    thread reads and checks the next rows.

    The import is Python (the reader, the row checks) and the inserts are the database's
    work (SQLite's b-trees, PostgreSQL's server): on two cores they overlap.  Each batch is
    turned into the driver's parameters here, in the caller's thread, then written by the
    thread on the unit of work's own DBAPI connection, in the same transaction: SQLite by
    multi-row INSERTs of `SQLITE_ROWS_PER_INSERT` rows (one call into SQLite, which runs
    without the GIL: an executemany takes it back at each row, and the two threads would then
    wait for each other), PostgreSQL by one ``COPY … FROM STDIN`` fed batch after batch (an
    INSERT a row fires the acts' statement-level guard at each one; COPY once).  Either way PostgreSQL's
    triggers still refuse acts of a frozen version.

    Jobs run in the order given; at most `WRITER_QUEUE` batches wait (memory stays flat).
    The first failure stops the rest and is raised in the caller's thread as SQLAlchemy's
    own error (`IntegrityError`, `OperationalError`…), by the next write or by `close`.
    Until `close` the caller must not use the session: the connection is the writer's, and
    a statement sent from the caller's thread meanwhile is refused (`RuntimeError`).
    Other databases: written in the caller's thread, by SQLAlchemy's executemany.
    """

    def __init__(self, version, lot_id):
        db.session.flush()  # what the session holds is written before the writer starts
        self.connection = db.session.connection()
        self.dialect = self.connection.dialect
        self.raw = self.connection.connection.driver_connection
        self.version_id, self.lot_id = version.id, lot_id
        self.table = Act.__table__
        self.count = 0
        self._names = None
        #: PostgreSQL's COPY (its context, the copy object, its cursor), open from the first
        #: batch to the end
        self._stream = self._copying = self._cursor = None
        self._failed = False  # the thread stopped at a failure: every job after it is dropped
        self._error = None    # that failure, until raised in the caller's thread
        self._thread = None
        if self.dialect.name in ("sqlite", "postgresql"):
            self._jobs = queue.Queue(maxsize=WRITER_QUEUE)
            sa.event.listen(self.connection, "before_cursor_execute", _writer_owns_connection)
            self._thread = threading.Thread(target=self._run, name="acts-writer", daemon=True)
            self._thread.start()

    # -- the caller's thread -------------------------------------------------------------
    def clear(self):
        """The draft's previous acts and lot figures deleted (a new file replaces them)."""
        for model in (Act, LotFigures):
            statement = sa.delete(model.__table__).where(model.__table__.c.version_id
                                                         == self.version_id)
            if self._thread is None:
                db.session.execute(statement)
            else:
                self._submit(_driver_statement(self.dialect, statement))

    def write_columns(self, acts):
        """Insert ``acts``: ``{field: [values]}``, every list as long, the same fields at
        every call (`RowChecker.check_columns`)."""
        names = list(acts)
        count = len(acts[names[0]]) if names else 0
        if not count:
            return
        if self._names is None:
            self._prepare(names)
        elif names != self._names:
            raise ValueError(f"acts written with other fields: {names} (first {self._names})")
        self.count += count
        if self._thread is None:
            db.session.execute(self.table.insert(), [
                {"version_id": self.version_id, "lot_id": self.lot_id, **dict(zip(names, row))}
                for row in zip(*acts.values())])
            return
        columns = [acts[name] for name in names]
        for index, process in self._convert:  # each distinct value converted once
            columns[index] = map_distinct(
                columns[index], lambda value: None if value is None else process(value))
        rows = zip(repeat(self.version_id, count), repeat(self.lot_id, count), *columns)
        if self.dialect.name == "postgresql":
            self._submit((self._copy, list(rows)))
            return
        flat = list(chain.from_iterable(rows))  # the multi-row INSERT's parameters
        width = len(self._columns)
        step = self._per_insert * width
        for start in range(0, len(flat), step):
            chunk = flat[start:start + step]
            self._submit((self._insert_sql(len(chunk) // width), chunk))

    def close(self):
        """Wait for every write; the first failure, if any, raised here."""
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join()
            self._thread = None
            sa.event.remove(self.connection, "before_cursor_execute", _writer_owns_connection)
        self._raise()

    def abandon(self):
        """The caller failed: wait for the thread, without raising its failure (the caller's
        is the one that counts; the unit of work rolls back)."""
        try:
            self.close()
        except Exception:
            pass

    def _submit(self, job):
        self._raise()
        self._jobs.put(job)

    def _raise(self):
        error, self._error = self._error, None
        if error is not None:
            statement, exc = error
            dbapi = self.dialect.loaded_dbapi
            if isinstance(exc, dbapi.Error):
                raise sa.exc.DBAPIError.instance(statement, None, exc, dbapi.Error) from exc
            raise exc

    def _prepare(self, names):
        self._names = names
        self._columns = ["version_id", "lot_id", *names]
        # SQLite stores dates as text: the column's own bind processor (what SQLAlchemy sends)
        self._convert = [] if self.dialect.name != "sqlite" else [
            (index, process) for index, name in enumerate(names)
            if (process := self.table.c[name].type.bind_processor(self.dialect)) is not None]
        quote = self.dialect.identifier_preparer.quote
        self._into = f"{quote(self.table.name)} ({', '.join(quote(c) for c in self._columns)})"
        self._statements = {}
        if self.dialect.name == "sqlite":
            import sqlite3
            limit = (self.raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
                     if hasattr(self.raw, "getlimit") else 999)  # Python < 3.11: the old floor
            self._per_insert = max(1, min(SQLITE_ROWS_PER_INSERT, limit // len(self._columns)))

    def _insert_sql(self, count):
        sql = self._statements.get(count)
        if sql is None:
            row = "(" + ", ".join("?" * len(self._columns)) + ")"
            sql = self._statements[count] = (f"INSERT INTO {self._into} VALUES "
                                             + ", ".join([row] * count))
        return sql

    def _copy(self, rows):
        """PostgreSQL: one ``COPY … FROM STDIN`` for the whole import, opened at the first
        batch and ended by `close` (`_end_copy`): the server stores the rows as they come,
        while the next ones are checked, and the acts' statement-level guard fires once."""
        if self._stream is None:
            self._cursor = self.raw.cursor()
            self._stream = self._cursor.copy(f"COPY {self._into} FROM STDIN")
            self._copying = self._stream.__enter__()
        write = self._copying.write_row
        for row in rows:
            write(row)

    def _end_copy(self, failure=None):
        stream, cursor = self._stream, self._cursor
        self._stream = self._copying = self._cursor = None
        if stream is None:
            return
        try:
            if failure is None:
                stream.__exit__(None, None, None)  # the server's refusal, if any, raised here
            else:
                stream.__exit__(type(failure), failure, failure.__traceback__)
        finally:
            cursor.close()

    # -- the writer's thread ---------------------------------------------------------------
    def _run(self):
        while True:
            job = self._jobs.get()
            if job is None:
                break
            if self._failed:
                continue  # stopped at the first failure: the rest is dropped
            first, second = job
            try:
                if callable(first):
                    first(second)
                else:
                    if self._stream is not None:
                        self._end_copy()
                    self.raw.execute(first, second)
            except BaseException as exc:  # raised in the caller's thread (_raise)
                self._fail(first, exc)
        try:
            self._end_copy(self._error[1] if self._failed and self._error else None)
        except BaseException as exc:
            if not self._failed:
                self._fail(self._end_copy, exc)

    def _fail(self, job, exc):
        self._error = (job if isinstance(job, str) else f"COPY {self._into} FROM STDIN", exc)
        self._failed = True


def _writer_owns_connection(*args, **kwargs):
    raise RuntimeError("the import's acts writer owns the connection until its close()")


def _driver_statement(dialect, statement):
    """``statement`` as the driver takes it: its SQL and parameters (positional or named)."""
    compiled = statement.compile(dialect=dialect)
    params = compiled.construct_params()
    if compiled.positional:
        return compiled.string, [params[key] for key in compiled.positiontup]
    return compiled.string, params


def _stored(issues):
    return [i.as_dict() for i in sort_issues(issues)[:MAX_STORED_ISSUES]]


def import_file(lot, period, data, *, user, file_name=None, channel="web", submit=False,
                today=None):
    """Check and load a filled-in template into the period's draft; all or nothing.

    A refused file leaves only its journal row (written on its own).  Returns an :class:`ImportResult` (errors and warnings, each with sheet, row
    and column).  With ``submit`` an accepted file is submitted in the same transaction.
    """
    from fc_market.reporting.workbook import read_workbook
    started = time.perf_counter()
    digest = hashlib.sha256(data).hexdigest() if data else None
    result = ImportResult(False, lot.code, period)
    rules = None
    try:
        check_period(lot, period)
        rules = Rules.load(lot, period, today)
    except ValueError as exc:
        checker = RowChecker(None)
        checker.error("period", str(exc), None, None, None, "")
        return _refused(lot, period, checker, result, user, channel, file_name, digest, data,
                        started)
    checker = RowChecker(rules, track=False)
    try:
        report = get_or_create_report(lot, period)
        # the previous import's warnings are replaced, never read: not loaded (decoding
        # thousands of them took longer than checking the rows)
        draft, _ = open_draft(report, user, "excel", sa.orm.defer(ReportVersion.warnings))
        draft.source = "excel"
        # the acts go to the database in a thread of their own while the rows are read and
        # checked; the draft's previous acts first (a new file replaces them)
        writer = ActWriter(draft, lot.id)
        writer.clear()
        try:
            figures = read_workbook(data, checker, writer.write_columns, lot.code, period)
        except BaseException:
            writer.abandon()
            raise
        writer.close()
        db.session.expire(draft, ["figures"])
        inserted = writer.count
        findings = []
        if inserted:
            findings = checker.check_stored(draft.id, report.id)
        if not checker.error_count:
            checker.volume_warnings(recent_counts(rules, report.id))
            if not inserted:
                checker.warning("empty", "Aucun acte déclaré pour ce mois.", None, None, None, "")
        checker.compact(final=True)
        if checker.error_count:
            return _refused(lot, period, checker, result, user, channel, file_name, digest, data,
                            started)
        if figures is not None:
            save_figures_values(draft, figures)
        draft.file_name = (file_name or "")[:255] or None
        draft.file_sha256 = digest
        draft.act_count = inserted
        draft.warnings = _stored(checker.warnings)
        draft.warning_count = checker.warning_count
        record("reporting.import", draft, summary=f"Import du reporting {lot.code} {period} "
               f"(version {draft.number}, {inserted} acte(s), {checker.warning_count} "
               "avertissement(s))", user=user, actor="ligne de commande" if channel == "cli" else None,
               changes={"file": file_name, "sha256": digest, "acts": inserted})
        if submit and not period_ended(period, today or paris_today()):
            checker.warning("not_submitted", not_ended_message(period) + " Le fichier est "
                            "enregistré en brouillon, non déposé.", None, None, None, "")
            draft.warnings = _stored(checker.warnings)
            draft.warning_count = checker.warning_count
            submit = False
        if submit:
            _submit(draft, user, today or paris_today(), checker, findings, rules)
        journal = _journal(lot, period, user, channel, file_name, digest, data, True, checker,
                           draft.id, started, warnings=draft.warnings)
    except ReportingError as exc:
        checker.error("refused", exc.message, None, None, None, "")
        return _refused(lot, period, checker, result, user, channel, file_name, digest, data,
                        started)
    except (IntegrityError, StaleDataError, sa.exc.OperationalError) as exc:
        if isinstance(exc, sa.exc.OperationalError) and not _is_write_conflict(exc):
            raise
        checker.error("concurrent", "Un autre dépôt de ce rapport a eu lieu au même moment : "
                      "rien n'a été enregistré, recommencez.", None, None, None, "")
        return _refused(lot, period, checker, result, user, channel, file_name, digest, data,
                        started)
    result.accepted = True
    result.version_id, result.version_number, result.status = draft.id, draft.number, draft.status
    result.import_id = journal.id
    result.alerts = len(findings) if submit else 0
    return _fill(result, checker, started)


def _fill(result, checker, started):
    # the first MAX_STORED_ISSUES of each, as the journal and the screens (the checker holds
    # no more for long: see RowChecker.compact); the counts below are complete
    result.errors = sort_issues(checker.errors)[:MAX_STORED_ISSUES]
    result.warnings = sort_issues(checker.warnings)[:MAX_STORED_ISSUES]
    result.error_count, result.warning_count = checker.error_count, checker.warning_count
    result.rows = checker.rows
    result.act_count = checker.act_total if not checker.error_count else 0
    result.counts = dict(checker.counts) if not checker.error_count else {}
    result.duration_ms = int((time.perf_counter() - started) * 1000)
    return result


#: How long a refused import's journal line waits for another upload's SQLite write lock
SQLITE_JOURNAL_WAIT_MS = 120_000
#: PostgreSQL: serialization failure, deadlock, lock not available
_CONFLICT_SQLSTATES = {"40001", "40P01", "55P03"}


def _is_write_conflict(exc):
    """Another transaction holds what this one writes: SQLite's "database is locked", or a
    PostgreSQL serialization failure, deadlock or lock timeout."""
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) in _CONFLICT_SQLSTATES:
        return True
    return "database is locked" in str(orig) or "database table is locked" in str(orig)


def _journal(lot, period, user, channel, file_name, digest, data, accepted, checker, version_id,
             started, warnings=None):
    journal = _journal_row(lot, period, user, channel, file_name, digest, data, accepted, checker,
                           version_id, started, warnings)
    db.session.add(journal)
    db.session.flush()
    return journal


def _journal_row(lot, period, user, channel, file_name, digest, data, accepted, checker,
                 version_id, started, warnings=None):
    """``warnings``: the stored list already built for the draft (the same one, not built
    twice)."""
    return ReportImport(lot_id=lot.id, period=period, user_id=getattr(user, "id", None),
                           channel=channel, file_name=(file_name or "")[:255] or None,
                           file_sha256=digest, file_size=len(data) if data else 0,
                           accepted=accepted, version_id=version_id, row_count=checker.rows,
                           error_count=checker.error_count, warning_count=checker.warning_count,
                           errors=_stored(checker.errors),
                           warnings=_stored(checker.warnings) if warnings is None else warnings,
                           duration_ms=int((time.perf_counter() - started) * 1000))


def _refused(lot, period, checker, result, user, channel, file_name, digest, data, started):
    """The import is rolled back (the unit of work doomed): only the journal line of the
    refused attempt is kept, written on its own."""
    doom("reporting import refused")
    journal = _journal_row(lot, period, user, channel, file_name, digest, data, False, checker,
                           None, started)
    from fc_market.reporting.refused import attach_row_values
    journal.errors = attach_row_values(data, journal.errors or [])  # the refused rows, kept
    result.import_id = record_refused_import_now(journal)
    return _fill(result, checker, started)


def record_refused_import_now(journal):
    """Write the journal line of a refused import in a transaction of its own, so that it
    stays whatever becomes of the request's (rolled back after a conflict or an error);
    returns its id.  On SQLite it waits for a concurrent upload's write lock to clear."""
    with independent_session() as session:
        if session.get_bind().dialect.name == "sqlite":
            session.execute(sa.text(f"PRAGMA busy_timeout = {SQLITE_JOURNAL_WAIT_MS}"))
        session.add(journal)
        session.flush()
        return journal.id


# -- web form ----------------------------------------------------------------------------------

def _draft_of(version):
    if version.status != VersionStatus.DRAFT:
        raise ReportingError(f"La version {version.number} est « {version.status_label} » : "
                             "elle n'est plus modifiable. Créez une version corrective.")
    return version


def _version_acts_of(version, beneficiary, exclude_id=None):
    stmt = sa.select(Act).where(Act.version_id == version.id, Act.beneficiary_id == beneficiary)
    if exclude_id:
        stmt = stmt.where(Act.id != exclude_id)
    return db.session.scalars(stmt).all()


def add_act(version, values, user, replace=None):
    """Add one act typed in the web form to a draft (or replace ``replace``).

    Returns the list of blocking :class:`Issue`; empty when the act was added.  Warnings
    are recomputed at submission.
    """
    _draft_of(version)
    report = version.report
    lot = db.session.get(Lot, version.lot_id)
    rules = Rules.load(lot, report.period)
    checker = RowChecker(rules, sheet=None)
    ben, _ = dd.check_beneficiary_id(values.get("beneficiary_id"))
    others = _version_acts_of(version, ben, replace.id if replace else None) if ben else []
    for act in others:
        checker.known[(act.beneficiary_id, act.uo_id, act.act_date)] = act.source_row or 0
    row = checker.check(0, values, {})
    if row is None:
        return checker.errors
    history = load_history(rules, {ben}, report.id)
    history += [(a.beneficiary_id, lot.id, a.uo_id, a.act_date, version.id) for a in others]
    checker.finish(history)
    if checker.error_count:
        return checker.errors
    if replace is not None:
        db.session.delete(replace)
        db.session.flush()
    row.update(version_id=version.id, lot_id=lot.id, source_row=None)
    act = Act(**row)
    db.session.add(act)
    db.session.flush()
    _refresh_count(version)
    version.source = "web" if version.source != "excel" else version.source
    record("reporting.act_edit" if replace else "reporting.act_add", version,
           summary=f"{'Correction' if replace else 'Ajout'} d'un acte {rules.uos_by_id[row['uo_id']].code} "
                   f"du {row['act_date']:%d/%m/%Y} (version {version.number}, saisie web)",
           user=user)
    return []


def delete_act(version, act, user):
    _draft_of(version)
    if act.version_id != version.id:
        raise ReportingError("Cet acte n'appartient pas à cette version.")
    summary = f"Suppression d'un acte {act.uo.code} du {act.act_date:%d/%m/%Y} (version {version.number})"
    db.session.delete(act)
    db.session.flush()
    _refresh_count(version)
    record("reporting.act_delete", version, summary=summary, user=user)


def save_figures(version, values, user):
    _draft_of(version)
    personal = dd.personal_data_in(values.get("uo4_actions"))
    if personal:
        labels = {n: lab for n, lab, _ in dd.FIGURE_ROWS}
        raise ReportingError(f"« {labels['uo4_actions']} » {personal}")
    for part, whole in dd.FIGURE_PAIRS:
        if (values.get(part) or 0) > (values.get(whole) or 0):
            labels = {n: lab for n, lab, _ in dd.FIGURE_ROWS}
            raise ReportingError(f"« {labels[part]} » ne peut pas dépasser « {labels[whole]} ».")
    save_figures_values(version, values)
    record("reporting.figures", version, summary=f"Indicateurs du lot saisis (version "
           f"{version.number})", user=user, changes={k: values.get(k) for k in FIGURE_FIELDS})


def new_correction(report, user):
    """A draft correcting the latest decided version, starting from its content."""
    draft, created = open_draft(report, user, source="web")
    if created and draft.supersedes_id:
        copy_into(draft, db.session.get(ReportVersion, draft.supersedes_id))
    if created:
        record("reporting.draft", draft, summary=f"Nouvelle version {draft.number} du reporting "
               f"{report.lot.code} {report.period}" + (" (à partir de la version précédente)"
                                                      if draft.supersedes_id else ""), user=user)
    return draft


# -- submission --------------------------------------------------------------------------------

def recheck(version, today=None):
    """Run every rule on a draft's acts from the database (after web edits)."""
    report = version.report
    lot = db.session.get(Lot, version.lot_id)
    rules = Rules.load(lot, report.period, today)
    checker = RowChecker(rules, track=False)
    table = Act.__table__
    stmt = (sa.select(table.c.id, table.c.source_row, table.c.beneficiary_id, table.c.uo_id,
                      table.c.act_date, table.c.mode, table.c.site_id, table.c.proof_ref)
            .where(table.c.version_id == version.id).order_by(table.c.source_row, table.c.id))
    by_id = rules.uos_by_id
    sites = {s.id: s for s in rules.sites.values()}
    for act_id, row, ben, uo_id, act_date, mode, site_id, proof in db.session.execute(stmt):
        where = row or -act_id  # web acts: no row in a file
        uo = by_id[uo_id]
        if uo.code not in rules.allowed:
            checker.error("uo_unknown", f"{uo.code} n'est pas facturable dans ce lot.", where)
            continue
        if uo.proof_required and not proof:
            checker.error("proof_missing", f"Référence du justificatif manquante : le contrat "
                          f"l'exige pour {uo.code}.", where)
        site = sites.get(site_id)
        if site_id is not None and (site is None or not site.open_on(act_date)):
            checker.error("site_closed", f"Le site n'était pas ouvert le {act_date:%d/%m/%Y}.", where)
        if act_date > rules.today:
            checker.error("date_future", f"Date du {act_date:%d/%m/%Y} postérieure à aujourd'hui : "
                          "un acte ne se déclare qu'une fois réalisé.", where)
        elif act_date > rules.end or act_date < rules.earliest_allowed:
            checker.error("date_outside", f"Date du {act_date:%d/%m/%Y} hors de la période.", where)
        elif act_date < rules.start:
            checker.warning("date_late_act", f"Acte du {act_date:%d/%m/%Y} antérieur à la période : "
                            f"admis au titre du délai de {rules.grace_days} jours.", where)
        checker.rows += 1
        checker.counts[uo.code] += 1
    findings = checker.check_stored(version.id, report.id)
    checker.volume_warnings(recent_counts(rules, report.id))
    if version.figures is None:
        checker.error("figures_missing", "Indicateurs du lot non renseignés (enquêtes, "
                      "réclamations, actions UO4) : complétez-les avant de déposer.", None,
                      sheet=dd.FIGURES_SHEET)
    return checker, findings, rules


def submit(version, user, today=None, submitted_at=None):
    """Submit a draft after checking it again; returns the checker (errors block).
    ``submitted_at`` backdates the submission (demo only: a submitted version is frozen)."""
    _draft_of(version)
    checker, findings, rules = recheck(version, today)
    if checker.error_count:
        return checker
    _submit(version, user, today or paris_today(), checker, findings, rules, submitted_at)
    return checker


def period_ended(period, today):
    """A report is submitted once its month is over (a draft can be saved before)."""
    return today > parse_period(period)[1]


def not_ended_message(period):
    _, end = parse_period(period)
    return (f"La période {period} n'est pas terminée (elle s'achève le {end:%d/%m/%Y}) : le "
            f"rapport peut être préparé en brouillon et déposé à partir du "
            f"{end + timedelta(days=1):%d/%m/%Y}.")


def _submit(version, user, today, checker, findings, rules, submitted_at=None):
    if not period_ended(version.report.period, today):
        raise ReportingError(not_ended_message(version.report.period))
    if version.figures is None:
        raise ReportingError("Indicateurs du lot non renseignés (feuille « Indicateurs du lot » "
                             "ou formulaire web) : le rapport ne peut pas être déposé sans eux.")
    report = version.report
    lot = db.session.get(Lot, version.lot_id)
    # everything read first: a lazy load between these assignments would flush the status
    # alone, and the submitted version would then be frozen before the rest is written
    user_id, days_late = getattr(user, "id", None), compute_days_late(report, today)
    status = VersionStatus.check(version.status, VersionStatus.SUBMITTED)
    warnings = _stored(checker.warnings)
    with db.session.no_autoflush:
        version.status = status
        version.submitted_at = submitted_at or utcnow()
        version.submitted_by_id = user_id
        version.days_late = days_late
        version.warnings = warnings
        version.warning_count = checker.warning_count
    for old in db.session.scalars(sa.select(ReportVersion).where(
            ReportVersion.report_id == report.id, ReportVersion.status == VersionStatus.REJECTED)):
        old.status = VersionStatus.check(old.status, VersionStatus.SUPERSEDED)
    db.session.flush()
    created = store_alerts(version, findings)
    late = f", {version.days_late} jour(s) de retard" if version.days_late else ""
    record("reporting.submit", version, summary=f"Dépôt du reporting {lot.code} {report.period} "
           f"(version {version.number}, {version.act_count} acte(s){late})", user=user,
           changes={"days_late": version.days_late, "warnings": version.warning_count})
    notify_lot_manager(lot, kind="reporting.submitted",
           subject=f"Reporting {lot.code} {report.period} déposé (version {version.number})",
           body=f"Le mandataire du lot {lot.code} a déposé le reporting de {report.period} : "
                f"{version.act_count} acte(s), {version.warning_count} avertissement(s){late}. "
                "Il attend votre examen.",
           link=f"/reporting/versions/{version.id}", dedup_key=f"reporting.submitted:{version.id}")
    if created:
        notify(kind="reporting.double_financing", audience="fc", role=Role.MANAGER,
               subject=f"{created} alerte(s) de double financement ({lot.code} {report.period})",
               body=f"Le dépôt du lot {lot.code} pour {report.period} révèle {created} "
                    "bénéficiaire(s) déjà accompagné(s) dans un autre lot sur la même période.",
               link="/reporting/alertes", dedup_key=f"reporting.alerts:{version.id}")
    return version


def store_alerts(version, findings):
    """Record double-financing findings not known yet; returns how many are new."""
    if not findings:
        return 0
    rows = []
    for f in findings:
        low, high = sorted([version.lot_id, f["other_lot_id"]])
        first, second = sorted([f["act_date"], f["other_act_date"]])
        key = f"{f['beneficiary_id']}:{f['level']}:{low}:{high}:{first.isoformat()}:{second.isoformat()}"
        rows.append((key, f))
    known = set()
    keys = [k for k, _ in rows]
    for i in range(0, len(keys), 1000):
        known.update(db.session.scalars(sa.select(DoubleFinancingAlert.key)
                                        .where(DoubleFinancingAlert.key.in_(keys[i:i + 1000]))))
    new = []
    for key, f in rows:
        if key in known:
            continue
        known.add(key)
        new.append({"key": key, "beneficiary_id": f["beneficiary_id"], "level": f["level"],
                    "lot_id": version.lot_id, "version_id": version.id, "uo_code": f["uo_code"],
                    "act_date": f["act_date"], "other_lot_id": f["other_lot_id"],
                    "other_version_id": f["other_version_id"], "other_uo_code": f["other_uo_code"],
                    "other_act_date": f["other_act_date"], "window_months": f["window_months"],
                    "status": AlertStatus.OPEN, "created_at": utcnow(), "version_counter": 1})
    if new:
        db.session.execute(DoubleFinancingAlert.__table__.insert(), new)
    return len(new)


# -- review ------------------------------------------------------------------------------------

CONFLICT_MESSAGE = ("Cette version vient d'être traitée par une autre personne de France "
                    "compétences : votre décision n'a pas été enregistrée. Rechargez la page pour "
                    "voir la décision prise.")


def decide(version, user, decision, comment, expected_counter):
    """Validate or reject a submitted version.  Raises :class:`Conflict` for the loser of
    two simultaneous decisions, :class:`ReportingError` for a refused move."""
    if expected_counter is not None and version.version_counter != expected_counter:
        raise Conflict(CONFLICT_MESSAGE)
    comment = (comment or "").strip() or None
    if decision not in ("validate", "reject"):
        raise ReportingError("Décision inconnue.")
    if version.status != VersionStatus.SUBMITTED:
        raise Conflict(CONFLICT_MESSAGE if version.status in (VersionStatus.VALIDATED,
                                                              VersionStatus.REJECTED)
                       else f"La version {version.number} n'est pas en attente d'examen.")
    if decision == "reject" and not comment:
        raise ReportingError("Un rejet doit être motivé : indiquez au mandataire ce qu'il doit "
                             "corriger.")
    report = version.report
    lot = db.session.get(Lot, version.lot_id)
    new_status = VersionStatus.VALIDATED if decision == "validate" else VersionStatus.REJECTED
    try:
        version.status = VersionStatus.check(version.status, new_status)
        version.decided_at = utcnow()
        version.decided_by_id = user.id
        version.decision_comment = comment
        db.session.flush()
        if decision == "validate":
            for old in db.session.scalars(sa.select(ReportVersion).where(
                    ReportVersion.report_id == report.id, ReportVersion.id != version.id,
                    ReportVersion.status == VersionStatus.VALIDATED)):
                old.status = VersionStatus.check(old.status, VersionStatus.SUPERSEDED)
                db.session.flush()
                events.emit("report.superseded", old)
            events.emit("report.validated", version)
    except StaleDataError as exc:
        raise Conflict(CONFLICT_MESSAGE) from exc
    label = "validé" if decision == "validate" else "rejeté"
    record(f"reporting.{decision}", version, summary=f"Reporting {lot.code} {report.period} "
           f"version {version.number} {label}" + (f" : {comment}" if comment else ""), user=user,
           changes={"status": [VersionStatus.SUBMITTED, new_status], "comment": comment})
    notify(kind=f"reporting.{'validated' if decision == 'validate' else 'rejected'}",
           audience="mandataire", lot_id=lot.id,
           subject=f"Reporting {report.period} {label} (version {version.number})",
           body=f"France compétences a {label} la version {version.number} du reporting de "
                f"{report.period}." + (f" Motif : {comment}" if comment else "")
                + (" Déposez une version corrigée." if decision == "reject" else ""),
           link=f"/reporting/versions/{version.id}", dedup_key=f"reporting.decision:{version.id}")
    return version


def decide_alert(alert, user, status, comment, expected_counter):
    if status not in (AlertStatus.CONFIRMED, AlertStatus.DISMISSED, AlertStatus.OPEN):
        raise ReportingError("Décision inconnue.")
    if expected_counter is not None and alert.version_counter != expected_counter:
        raise Conflict("Cette alerte vient d'être traitée par une autre personne : rechargez la "
                       "page.")
    comment = (comment or "").strip() or None
    if status != AlertStatus.OPEN and not comment:
        raise ReportingError("Motivez la décision (pièces examinées, échange avec les lots).")
    old = alert.status
    try:
        alert.status = status
        alert.comment = comment
        alert.decided_at = utcnow() if status != AlertStatus.OPEN else None
        alert.decided_by_id = user.id if status != AlertStatus.OPEN else None
        db.session.flush()
    except StaleDataError as exc:
        raise Conflict("Cette alerte vient d'être traitée par une autre personne : rechargez "
                       "la page.") from exc
    record("reporting.alert", alert, summary=f"Alerte de double financement n° {alert.id} : "
           f"{AlertStatus.LABELS[status]}", user=user, lot_id=alert.lot_id,
           changes={"status": [old, status], "comment": comment})
    return alert


# -- users -------------------------------------------------------------------------------------

def acting_user(lot, email=None):
    """The user a command-line import acts as: ``email`` if given (a mandataire of the lot,
    or FC manager/admin), else the lot's first active mandataire account."""
    if email:
        user = db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))
        if user is None or not user.active:
            raise ReportingError(f"Compte « {email} » inconnu ou désactivé.")
        if user.is_mandataire and user.lot_id != lot.id:
            raise ReportingError(f"Le compte {user.email} est mandataire d'un autre lot.")
        if not user.is_mandataire and user.role not in (Role.MANAGER, Role.ADMIN):
            raise ReportingError(f"Le compte {user.email} ne peut pas déposer de reporting.")
        return user
    user = db.session.scalar(sa.select(User).where(User.role == Role.MANDATAIRE,
                                                   User.lot_id == lot.id, User.active.is_(True))
                             .order_by(User.id).limit(1))
    if user is None:
        raise ReportingError(f"Aucun compte mandataire actif pour le lot {lot.code} : "
                             "précisez --as EMAIL.")
    return user


def uo_counts(version_ids):
    """{version_id: Counter(uo_code)} in one query."""
    from fc_market.market.models import UnitOfWork
    out = {vid: Counter() for vid in version_ids}
    if not version_ids:
        return out
    stmt = (sa.select(Act.version_id, UnitOfWork.code, sa.func.count())
            .join(UnitOfWork, UnitOfWork.id == Act.uo_id)
            .where(Act.version_id.in_(version_ids)).group_by(Act.version_id, UnitOfWork.code))
    for vid, code, count in db.session.execute(stmt):
        out[vid][code] = count
    return out

