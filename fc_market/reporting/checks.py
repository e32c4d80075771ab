"""Validation of a month's acts: field checks row by row, then cross-row and history rules.

Everything a check needs is loaded once per file (:class:`Rules`: the lot's contract, UO
catalogue and sites; :func:`load_history`: the acts of the file's beneficiaries, one query
per chunk of identifiers), so validating 20,000 rows runs no per-row query.

A file's rows are checked a chunk at a time, column by column (each distinct value of a
column resolved once), and the valid ones inserted in batches into the draft, inside the
import's transaction; the rules across rows (duplicates, the UO window,
the sequence warnings, double financing) then read those acts back from the database a chunk
of beneficiaries at a time (:meth:`RowChecker.check_stored`), so the memory a file needs does
not grow with its number of rows.  A rejected file is rolled back.

Rules come from the contract and the catalogue, never from constants here:
``UnitOfWork.max_per_beneficiary`` / ``window_months`` (billed again inside the window:
blocking), ``proof_required``, ``expects_prior_code`` (warning), and
``LotContract.late_acts_grace_days`` (acts dated before the period: warning inside the
grace, blocking beyond).
"""
import functools
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from operator import attrgetter
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from fc_market.excel.reader import map_distinct
from fc_market.extensions import db
from fc_market.market.dates import add_months, parse_period
from fc_market.market.models import FlagRule, Price, UnitOfWork
from fc_market.market.terms import EXTRA_KEYS, lot_terms
from fc_market.reporting import dictionary as dd
from fc_market.reporting.models import Act, ReportVersion, VersionStatus
from fc_market.territory.models import Site

#: Screens and the journal keep this many issues; the counts are always complete
MAX_STORED_ISSUES = 5000
#: Unusual monthly change: relative change of a UO's count versus the lot's recent mean.
#: The contract's ``reporting.volume_change_threshold``, ``volume_min_mean`` and
#: ``volume_history_months`` (read through ``lot_terms``) set it; a flag rule
#: ``reporting_volume_change`` of the market, when one exists, still wins for the threshold.
DEFAULT_VOLUME_CHANGE = float(EXTRA_KEYS["reporting.volume_change_threshold"].default)
VOLUME_MIN_MEAN = EXTRA_KEYS["reporting.volume_min_mean"].default
VOLUME_HISTORY_MONTHS = EXTRA_KEYS["reporting.volume_history_months"].default
HISTORY_CHUNK = 2000
PARIS = ZoneInfo("Europe/Paris")


def fr_day(d):
    return d.strftime("%d/%m/%Y")


def paris_today():
    """Today in Paris (the market's day, whatever the server's time zone)."""
    return datetime.now(PARIS).date()


@dataclass(slots=True)
class Issue:
    severity: str
    code: str
    message: str
    sheet: str | None = None
    row: int | None = None
    column: str | None = None
    field: str | None = None

    def as_dict(self):
        return {"sheet": self.sheet, "row": self.row, "column": self.column,
                "field": self.field, "code": self.code, "message": self.message}

    @property
    def where(self):
        parts = []
        if self.sheet:
            parts.append(f"feuille « {self.sheet} »")
        if self.row:
            parts.append(f"ligne {self.row}")
        if self.column:
            parts.append(f"colonne {self.column}" + (f" ({self.field})" if self.field else ""))
        return ", ".join(parts)


def sort_issues(issues):
    return sorted(issues, key=lambda i: (i.sheet or "", i.row or 0, i.column or "", i.code))


@dataclass
class UO:
    id: int
    code: str
    level: int | None
    kind: str
    proof_required: bool
    max_per_beneficiary: int | None
    window_months: int | None
    expects_prior_code: str | None
    label: str = ""


@dataclass
class SiteInfo:
    id: int
    code: str
    name: str
    opened_on: date
    closed_on: date | None

    def open_on(self, day):
        return self.opened_on <= day and (self.closed_on is None or self.closed_on >= day)


@dataclass
class Rules:
    """Everything the checks of one lot and period need, loaded in a few queries."""
    lot_id: int
    lot_code: str
    period: str
    start: date
    end: date
    grace_days: int
    contract_start: date | None
    contract_end: date | None
    uos: dict                      # code -> UO (every UO of the market)
    allowed: dict                  # code -> UO billable per beneficiary in this lot
    sites: dict                    # code -> SiteInfo of this lot
    other_site_codes: set = field(default_factory=set)
    volume_change: float = DEFAULT_VOLUME_CHANGE
    volume_min_mean: int = VOLUME_MIN_MEAN
    volume_history_months: int = VOLUME_HISTORY_MONTHS
    #: The day the file is checked (Paris): an act dated after it is refused
    today: date = field(default_factory=date.today)

    @classmethod
    def load(cls, lot, period, today=None):
        start, end = parse_period(period)
        contract = lot.contract
        units = db.session.scalars(sa.select(UnitOfWork)
                                   .where(UnitOfWork.market_id == lot.market_id)
                                   .order_by(UnitOfWork.sort_order)).all()
        uos = {u.code: UO(u.id, u.code, u.level, u.kind, u.proof_required, u.max_per_beneficiary,
                          u.window_months, u.expects_prior_code, u.label) for u in units}
        priced = set(db.session.scalars(sa.select(Price.uo_id).where(Price.lot_id == lot.id)
                                         .distinct()))
        allowed = {code: uo for code, uo in uos.items()
                   if uo.kind == "beneficiary" and (not priced or uo.id in priced)}
        sites = {s.code: SiteInfo(s.id, s.code, s.name, s.opened_on, s.closed_on)
                 for s in db.session.scalars(sa.select(Site).where(Site.lot_id == lot.id))}
        others = set(db.session.scalars(sa.select(Site.code).where(Site.lot_id != lot.id)
                                        .distinct()))
        threshold = db.session.scalar(sa.select(FlagRule.threshold).where(
            FlagRule.market_id == lot.market_id, FlagRule.code == "reporting_volume_change"))
        reporting = lot_terms(lot, start).reporting if contract else None
        if threshold is None and reporting is not None:
            threshold = reporting.volume_change_threshold
        return cls(lot_id=lot.id, lot_code=lot.code, period=period, start=start, end=end,
                   grace_days=reporting.late_acts_grace_days if reporting else 0,
                   contract_start=contract.start_date if contract else None,
                   contract_end=contract.end_date if contract else None,
                   uos=uos, allowed=allowed, sites=sites, other_site_codes=others - set(sites),
                   volume_change=float(threshold) if threshold is not None
                   else DEFAULT_VOLUME_CHANGE,
                   volume_min_mean=reporting.volume_min_mean if reporting else VOLUME_MIN_MEAN,
                   volume_history_months=reporting.volume_history_months if reporting
                   else VOLUME_HISTORY_MONTHS, today=today or paris_today())

    @property
    def uos_by_id(self):
        return {uo.id: uo for uo in self.uos.values()}

    @property
    def earliest_allowed(self):
        return self.start - timedelta(days=self.grace_days)

    @property
    def max_window(self):
        return max([uo.window_months or 0 for uo in self.uos.values()] + [0])

    def open_sites(self):
        return sorted((s for s in self.sites.values()
                       if s.opened_on <= self.end and (s.closed_on is None or s.closed_on >= self.start)),
                      key=lambda s: s.code)


# -- field checks ----------------------------------------------------------------------------

def to_date(value):
    """A cell value as a date, or None when it cannot be one."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if 20000 < value < 80000:  # an Excel serial date without a date format
            return date(1899, 12, 30) + timedelta(days=int(value))
        return None
    if isinstance(value, str):
        text = value.strip()
        for fmt in ("%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y"):
            try:
                return datetime.strptime(text, fmt).date()
            except ValueError:
                continue
    return None


def is_blank(value):
    return value is None or (isinstance(value, str) and not value.strip())


def text_of(value):
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


#: Fields with their own personal-data rule (identifier) or that cannot hold text (date)
_OWN_CHECK = ("beneficiary_id", "act_date")
#: Distinct texts :meth:`RowChecker.check_columns` remembers as free of personal data
#: (bounded memory)
_FAST_CACHE_MAX = 4096


#: The fields of an act as the checks give it and the writer inserts it
ACT_FIELDS = ("beneficiary_id", "uo_id", "act_date", "mode", "site_id", "proof_ref",
              "source_row", *dd.PROFILE_FIELDS)
#: The fields of a file's columns :meth:`RowChecker.check_columns` resolves
_COLUMN_FIELDS = frozenset(name for name, _, _ in dd.ACT_COLUMNS)
#: A cell value some check would speak about (:meth:`RowChecker.check_columns`)
_FAIL = object()
_CODE, _ID = attrgetter("code"), attrgetter("id")
#: Identifiers already normalised, one a line (`_all_hex_ids`)
_HEX_IDS = re.compile(r"[0-9a-f]{64}(?:\n[0-9a-f]{64})*")
#: References `dd.plain_reference` clears, at most 100 characters, one a line: no white
#: space, "@" nor "M", and no line with nine digits (`_NINE_DIGITS_LINE`)
_PLAIN_PROOFS = re.compile(r"[^\s@M]{1,100}(?:\n[^\s@M]{1,100})*")
_NINE_DIGITS_LINE = re.compile(r"^[^\d\n]*(?:\d[^\d\n]*){9}", re.M)


def _all_hex_ids(values):
    """True when every value is a ``str`` already a normalised identifier (64 lower-case
    hexadecimal characters: `dd.check_beneficiary_id` returns it unchanged): one search."""
    try:
        text = "\n".join(values)
    except TypeError:  # a value that is not a str
        return False
    return len(text) == 65 * len(values) - 1 and _HEX_IDS.fullmatch(text) is not None


def _all_plain_proofs(values):
    """True when every value is a ``str`` the proof checks accept unchanged and silently
    (see `_PLAIN_PROOFS`): two searches over the column."""
    try:
        text = "\n".join(values)
    except TypeError:  # a blank (None) or a number
        return False
    return (text.count("\n") == len(values) - 1 and _PLAIN_PROOFS.fullmatch(text) is not None
            and _NINE_DIGITS_LINE.search(text) is None)


#: The row of a beneficiary's act from another version in the rules across rows: sorts as
#: row 0 (before the file's rows of the same day, after the web form's, numbered ``-id``), as
#: the web form's new act (row 0) does, and is told apart from it by identity only (``is``:
#: False == 0); the window rule, which compares rows, turns it into None first
HISTORY = False


class RowChecker:
    """Checks rows: a file's by chunks, column by column (:meth:`check_columns`), the web
    form's one at a time.

    ``check(row_number, values, columns)`` returns the insert dict of a valid row (or None)
    and appends its issues to ``self.issues``.  The rules across rows and against the
    history return the double-financing findings: :meth:`check_stored` for a file or a
    draft (acts read back from the database), :meth:`finish` for the rows kept in memory
    (``track``: the web form's single act).
    """

    def __init__(self, rules, sheet=dd.ACTS_SHEET, track=True):
        self.rules = rules
        self.sheet = sheet
        self.issues = []
        self.error_count = 0
        self.warning_count = 0
        #: ``track``: keep the valid rows' keys in memory for :meth:`finish` (the web form's
        #: single act); files are checked across rows from the database (:meth:`check_stored`)
        self.track = track
        #: (beneficiary, uo_id, act_date) -> row, for the valid rows when tracking
        self.seen = {}
        #: acts already in the version (web form): duplicates only, not re-checked
        self.known = {}
        #: identifier -> the same string, so a beneficiary's rows share one object
        self.beneficiaries = {}
        self.counts = defaultdict(int)
        self.rows = 0
        self.late_acts = 0
        #: :meth:`compact` sorts and trims the issues once they are this many
        self.compact_at = MAX_STORED_ISSUES + 1000
        self.compact_slack = 1000
        #: text cells found free of personal data (:meth:`check_columns`)
        self._clean_texts = set()
        #: the versions whose acts count, once asked, and the version checked
        #: (:meth:`check_stored`)
        self._live = self._version_id = None
        #: message -> the same string: a message repeated on many rows is held once
        self._messages = {}
        #: the rules across rows: (day, months) -> the day months before; level 2 day -> the
        #: message of a level 1 act after it
        self._before, self._level1_messages = {}, {}

    def add(self, severity, code, message, row=None, column=None, field_name=None, sheet=None):
        if severity == "error":
            self.error_count += 1
        else:
            self.warning_count += 1
        sheet = self.sheet if sheet is None else (sheet or None)
        if row is not None and row <= 0:  # acts typed in the web form have no row
            row = None
        # a message repeated on many rows (sequence warnings...) is held once: memory flat
        messages = self._messages
        shared = messages.get(message)
        if shared is None:
            if len(messages) < _FAST_CACHE_MAX:
                messages[message] = message
        else:
            message = shared
        self.issues.append(Issue(severity, code, message, sheet, row, column,
                                 dd.ACT_HEADERS.get(field_name, field_name)))

    def error(self, code, message, row=None, column=None, field_name=None, sheet=None):
        self.add("error", code, message, row, column, field_name, sheet)

    def warning(self, code, message, row=None, column=None, field_name=None, sheet=None):
        self.add("warning", code, message, row, column, field_name, sheet)

    def compact(self, final=False):
        """Bound the issues held: keep the first `MAX_STORED_ISSUES` errors and warnings in
        :func:`sort_issues` order (all that the journal, the screens and the result keep:
        the same ones as sorting everything at the end, the sort being stable), the counts
        staying complete.  Called between rows, never inside one (see :meth:`drop_issues`);
        ``final`` once every row and rule has spoken: exactly the issues kept, without the
        slack kept between rows (the end of an import then holds no more)."""
        if len(self.issues) <= (MAX_STORED_ISSUES if final else self.compact_at):
            return
        errors = sort_issues(i for i in self.issues if i.severity == "error")
        warnings = sort_issues(i for i in self.issues if i.severity != "error")
        self.issues = errors[:MAX_STORED_ISSUES] + warnings[:MAX_STORED_ISSUES]
        # the next compaction once a fifth more (at least ``compact_slack``) have come: never
        # one per row, whatever is kept
        kept = len(self.issues)
        self.compact_at = max(self.compact_at, kept + max(self.compact_slack, kept // 5))

    @property
    def act_total(self):
        return sum(self.counts.values())

    @property
    def errors(self):
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self):
        return [i for i in self.issues if i.severity == "warning"]

    def check(self, row, values, columns):
        """``values``: field -> raw cell value; ``columns``: field -> column letter.

        Every text cell is first searched for personal data (:func:`dd.personal_data_in`;
        the beneficiary id has its own check): such a cell gets that one error, never an
        error that would repeat its value, and the row is refused.  A file's rows come by
        chunks through :meth:`check_columns`, which runs this only for the rows it cannot
        accept silently."""
        start = len(self.issues)
        personal = set()
        for name, value in values.items():
            if name in _OWN_CHECK or not (isinstance(value, str) or name == "proof_ref"):
                continue
            reason = dd.personal_data_in(value, reference=name == "proof_ref")
            if reason:
                personal.add(dd.ACT_HEADERS.get(name, name))
                self.error("personal_data", f"« {dd.ACT_HEADERS.get(name, name)} » {reason}", row,
                           columns.get(name), name)
        act = self._check(row, values, columns)
        if personal:
            self.drop_issues(start, lambda i: i.field in personal and i.code != "personal_data")
            return None
        return act

    def check_columns(self, numbers, columns, letters, formulas=None):
        """A chunk of a file's rows, by column: ``numbers`` their row numbers, ``columns``
        field -> [raw cell values] (`SheetRows.chunks`), ``letters`` field -> column letter,
        ``formulas`` row number -> {letters of its cells holding a formula}.  Returns the
        acts accepted as ``{field: [values]}`` in `ACT_FIELDS` order, in row order.

        Each column's distinct values are resolved once (the silent answer of every check
        on that cell, or `_FAIL`), then the rules joining cells (site open on the date, site
        of a face-to-face act, proof the UO requires, profile of a level 1 or 2 act); a row
        any check would speak about, and a row holding a formula, takes :meth:`check`, which
        says why (tests assert both ways give the same acts and issues).  A formula cell's
        cached value is not a value the mandataire typed: nothing else is said about that
        cell (already reported), and the row is kept out."""
        formulas = formulas or {}
        count = len(numbers)
        absent = [None] * count

        def column(name):
            values = columns.get(name)
            return absent if values is None else values

        texts = self._silent_text
        bens = column("beneficiary_id")
        if not (bens.__class__ is list and _all_hex_ids(bens)):
            bens = map_distinct(bens, self._silent_beneficiary)
        uos = map_distinct(column("uo_code"), lambda raw: self._silent_code(raw, self._silent_uo))
        dates = map_distinct(column("act_date"), self._silent_day)
        modes = map_distinct(column("mode"), lambda raw: self._silent_code(raw, self._silent_mode))
        sites = map_distinct(column("site_code"),
                          lambda raw: self._silent_code(raw, self._silent_site, blank=None))
        proofs = column("proof_ref")
        if not _all_plain_proofs(proofs):
            proofs = map_distinct(proofs, self._silent_proof)
        profiles = {name: map_distinct(column(name), functools.partial(
            self._silent_code, resolve=functools.partial(self._silent_profile, name), blank=None))
            for name in dd.PROFILE_FIELDS}
        bad = {i for i, number in enumerate(numbers) if number in formulas} if formulas else set()
        for name, values in columns.items():  # a field no silent rule knows: said by check
            if name not in _COLUMN_FIELDS:
                bad.update(i for i, ok in enumerate(map_distinct(values, texts)) if not ok)
        for values in (bens, uos, dates, modes, sites, proofs, *profiles.values()):
            if _FAIL in values:
                bad.update(i for i, value in enumerate(values) if value is _FAIL)
        site_ids = [site if site is None or site is _FAIL
                    else (site.id if day is not _FAIL and site.open_on(day) else _FAIL)
                    for site, day in zip(sites, dates)]
        bad.update(i for i, (site, mode) in enumerate(zip(site_ids, modes))
                   if site is _FAIL or (site is None and mode == "presentiel"))
        if None in proofs:
            bad.update(i for i, (proof, uo) in enumerate(zip(proofs, uos))
                       if proof is None and uo is not _FAIL and uo.proof_required)
        for values in profiles.values():
            if None in values:
                bad.update(i for i, (value, uo) in enumerate(zip(values, uos))
                           if value is None and uo is not _FAIL and (uo.level or 0) >= 1)
        if not bad:
            self.rows += count
            for code, found in Counter(map(_CODE, uos)).items():
                self.counts[code] += found
            return {"beneficiary_id": bens, "uo_id": list(map(_ID, uos)), "act_date": dates,
                    "mode": modes, "site_id": site_ids, "proof_ref": proofs,
                    "source_row": list(numbers), **profiles}
        out = {name: [] for name in ACT_FIELDS}
        appends = [out[name].append for name in ACT_FIELDS]
        silent = zip(bens, uos, dates, modes, site_ids, proofs, numbers, *profiles.values())
        for index, act in enumerate(silent):
            if index in bad:
                self.compact()  # between rows: bounded memory whatever the file's issues
                number = numbers[index]
                record = {name: values[index] for name, values in columns.items()}
                start = len(self.issues)
                found = self.check(number, record, letters)
                if number in formulas:
                    cells = formulas[number]
                    self.drop_issues(start, lambda i: i.column in cells)
                    found = None
                if found is None:
                    continue
                act = [found[name] for name in ACT_FIELDS]
            else:
                self.rows += 1
                self.counts[act[1].code] += 1
                act = list(act)
                act[1] = act[1].id
            for append, value in zip(appends, act):
                append(value)
        return out

    def _silent_beneficiary(self, raw):
        ben, problem = dd.check_beneficiary_id(raw)
        return _FAIL if problem is not None else ben

    def _silent_code(self, raw, resolve, blank=_FAIL):
        """A code cell's silent answer: `_FAIL` if it holds personal data (or ``blank``
        when blank is not accepted silently), ``blank`` when blank, else ``resolve(raw)``."""
        if not self._silent_text(raw):
            return _FAIL
        if raw is None or (isinstance(raw, str) and not raw.strip()):  # is_blank
            return blank
        return resolve(raw)

    def _silent_text(self, value):
        """False when ``value``, a text cell, holds personal data (each text asked once)."""
        if isinstance(value, str) and value not in self._clean_texts:
            if dd.personal_data_in(value) is not None:
                return False
            if len(self._clean_texts) < _FAST_CACHE_MAX:
                self._clean_texts.add(value)
        return True

    def _silent_uo(self, raw):
        uo = self.rules.allowed.get(text_of(raw).upper())
        return _FAIL if uo is None else uo

    def _silent_mode(self, raw):
        mode = dd.code_of("mode", raw)
        return _FAIL if mode is None else mode

    def _silent_site(self, raw):
        site = self.rules.sites.get(dd.leading_code(text_of(raw)))
        return _FAIL if site is None else site

    def _silent_profile(self, name, raw):
        code = dd.code_of(name, raw)
        return _FAIL if code is None else code

    def _silent_proof(self, proof):
        if proof is not None and not (proof.__class__ is str and dd.plain_reference(proof)) \
                and dd.personal_data_in(proof, reference=True) is not None:
            return _FAIL
        if is_blank(proof):
            return None
        proof = text_of(proof)
        return _FAIL if len(proof) > 100 else proof

    def _silent_day(self, raw):
        act_date = self._silent_date(raw)
        return _FAIL if act_date is None else act_date

    def _silent_date(self, raw):
        """The act date of a cell the date checks accept without any issue (no late-act
        warning either), else None."""
        if is_blank(raw):
            return None
        rules = self.rules
        act_date = to_date(raw)
        if (act_date is None or act_date > rules.today or act_date > rules.end
                or act_date < rules.start
                or (rules.contract_start and act_date < rules.contract_start)):
            return None
        return act_date

    def drop_issues(self, start, condition):
        """Remove the issues added since index ``start`` that meet ``condition`` (a cell
        already reported for a reason that must not be repeated: personal data, formula)."""
        kept = []
        for issue in self.issues[start:]:
            if condition(issue):
                if issue.severity == "error":
                    self.error_count -= 1
                else:
                    self.warning_count -= 1
            else:
                kept.append(issue)
        self.issues[start:] = kept

    def _check(self, row, values, columns):
        rules = self.rules
        self.rows += 1
        before = self.error_count
        col = columns.get

        ben, problem = dd.check_beneficiary_id(values.get("beneficiary_id"))
        if problem:
            self.error(problem[0], problem[1], row, col("beneficiary_id"), "beneficiary_id")

        uo = None
        raw_uo = values.get("uo_code")
        if is_blank(raw_uo):
            self.error("uo_missing", "Code UO manquant.", row, col("uo_code"), "uo_code")
        else:
            code = text_of(raw_uo).upper()
            uo = rules.allowed.get(code)
            if uo is None:
                known = rules.uos.get(code)
                if known is not None and known.kind == "lump_sum":
                    msg = (f"{code} est un forfait annuel : il ne se déclare pas par bénéficiaire "
                           f"(codes admis : {', '.join(rules.allowed)}).")
                else:
                    msg = (f"Code UO « {text_of(raw_uo)[:20]} » inconnu (codes admis : "
                           f"{', '.join(rules.allowed)}).")
                self.error("uo_unknown", msg, row, col("uo_code"), "uo_code")

        act_date = None
        raw_date = values.get("act_date")
        if is_blank(raw_date):
            self.error("date_missing", "Date de l'acte manquante.", row, col("act_date"), "act_date")
        else:
            act_date = to_date(raw_date)
            if act_date is None:
                self.error("date_invalid", "Date de l'acte illisible : saisissez une date "
                           "(format JJ/MM/AAAA).", row, col("act_date"), "act_date")
            elif act_date > rules.today:
                self.error("date_future", f"Date du {fr_day(act_date)} postérieure à aujourd'hui "
                           f"({fr_day(rules.today)}) : un acte ne se déclare qu'une fois réalisé.",
                           row, col("act_date"), "act_date")
                act_date = None
            elif act_date > rules.end:
                self.error("date_after_period", f"Date du {fr_day(act_date)} postérieure à la "
                           f"période déclarée ({rules.period}).", row, col("act_date"), "act_date")
                act_date = None
            elif rules.contract_start and act_date < rules.contract_start:
                self.error("date_before_contract", f"Date du {fr_day(act_date)} antérieure au "
                           f"début du marché ({fr_day(rules.contract_start)}).", row,
                           col("act_date"), "act_date")
                act_date = None
            elif act_date < rules.start:
                if act_date >= rules.earliest_allowed:
                    self.late_acts += 1
                    self.warning("date_late_act", f"Acte du {fr_day(act_date)} antérieur à la "
                                 f"période : admis au titre du délai de {rules.grace_days} jours "
                                 "prévu au contrat.", row, col("act_date"), "act_date")
                else:
                    extra = (f" (le contrat admet les actes des {rules.grace_days} jours "
                             "précédant la période)" if rules.grace_days else
                             " (le contrat n'admet pas d'actes tardifs)")
                    self.error("date_before_period", f"Date du {fr_day(act_date)} hors de la "
                               f"période déclarée ({rules.period}){extra}.", row,
                               col("act_date"), "act_date")
                    act_date = None

        mode = None
        raw_mode = values.get("mode")
        if is_blank(raw_mode):
            self.error("mode_missing", "Modalité manquante (présentiel, téléphone ou "
                       "visioconférence).", row, col("mode"), "mode")
        else:
            mode = dd.code_of("mode", raw_mode)
            if mode is None:
                self.error("mode_unknown", f"Modalité « {text_of(raw_mode)[:30]} » inconnue "
                           "(présentiel, téléphone ou visioconférence).", row, col("mode"), "mode")

        site_id = None
        raw_site = values.get("site_code")
        if is_blank(raw_site):
            if mode == "presentiel":
                self.error("site_missing", "Site manquant : un acte en présentiel indique le "
                           "site où il a eu lieu.", row, col("site_code"), "site_code")
        else:
            site_code = dd.leading_code(text_of(raw_site))
            site = rules.sites.get(site_code)
            if site is None:
                code = "site_other_lot" if site_code in rules.other_site_codes else "site_unknown"
                self.error(code, f"Le site « {site_code[:32]} » n'est pas un site du lot "
                           f"{rules.lot_code}.", row, col("site_code"), "site_code")
            elif act_date is not None and not site.open_on(act_date):
                when = (f"fermé depuis le {fr_day(site.closed_on)}" if site.closed_on
                        and site.closed_on < act_date else f"ouvert le {fr_day(site.opened_on)}")
                self.error("site_closed", f"Le site {site.code} n'était pas ouvert le "
                           f"{fr_day(act_date)} ({when}).", row, col("site_code"), "site_code")
            else:
                site_id = site.id

        proof = None if is_blank(values.get("proof_ref")) else text_of(values["proof_ref"])
        if proof is not None and len(proof) > 100:
            self.error("proof_too_long", "Référence du justificatif trop longue (100 caractères "
                       "au plus).", row, col("proof_ref"), "proof_ref")
        if uo is not None and uo.proof_required and proof is None:
            self.error("proof_missing", f"Référence du justificatif manquante : le contrat "
                       f"l'exige pour {uo.code}.", row, col("proof_ref"), "proof_ref")

        profile = {}
        missing = False
        for name in dd.PROFILE_FIELDS:
            raw = values.get(name)
            if is_blank(raw):
                profile[name] = None
                missing = True
                continue
            code = dd.code_of(name, raw)
            if code is None:
                self.error(f"{name}_unknown", f"Valeur « {text_of(raw)[:30]} » inconnue pour "
                           f"« {dd.ACT_HEADERS[name]} » : choisissez dans la liste.", row,
                           col(name), name)
            profile[name] = code
        if missing and uo is not None and (uo.level or 0) >= 1:
            self.error("profile_missing", "Profil du bénéficiaire incomplet : sexe, tranche "
                       "d'âge, catégorie, situation d'emploi et secteur sont demandés pour les "
                       "actes de niveau 1 et 2.", row, None, None)

        if self.error_count > before or ben is None or uo is None or act_date is None:
            return None
        if self.track:
            key = (ben, uo.id, act_date)
            first = self.seen[key] if key in self.seen else self.known.get(key)
            if first is not None:
                self._duplicate(row, first)
                return None
            ben = self.beneficiaries.setdefault(ben, ben)
            self.seen[(ben, uo.id, act_date)] = row
        self.counts[uo.code] += 1
        return {"beneficiary_id": ben, "uo_id": uo.id, "act_date": act_date, "mode": mode,
                "site_id": site_id, "proof_ref": proof, "source_row": row, **profile}

    # -- across rows and months ------------------------------------------------------------
    def _duplicate(self, row, first):
        other = f"la ligne {first}" if first and first > 0 else "un acte déjà saisi"
        self.error("duplicate", f"Ligne en double : même bénéficiaire, même UO et même date "
                   f"que {other}.", row, None, None)

    def finish(self, history):
        """Cross-row rules on the tracked rows against ``history`` (see
        :func:`load_history`); returns the double-financing findings (other lots), which
        only FC sees."""
        acts = ((ben, uo_id, act_date, row) for (ben, uo_id, act_date), row in self.seen.items())
        return self._across(acts, history, self.beneficiaries)

    def check_stored(self, version_id, report_id):
        """The rules across rows for a version's acts already in the database (flushed in
        this transaction), a chunk of beneficiaries at a time, each chunk with its history:
        duplicates (same beneficiary, UO and date: the act inserted first is the original),
        then the window, sequence and double-financing rules; a duplicate row is reported as
        such and left out of those rules (they would count the doubled act twice), so its
        first occurrence still gets them.  Acts typed in the web form (no file row) are named
        by ``-id``.  Returns the double-financing findings; nothing but a chunk is held in
        memory."""
        self._version_id = version_id
        findings = []
        chunk, acts, first_of, duplicates = [], [], {}, []
        days = _DAYS
        for ben, uo_id, act_date, row in _driver_rows(_stored_acts_statement(),
                                                      {"version_id": version_id}):
            if not chunk or ben != chunk[-1]:
                if len(chunk) == HISTORY_CHUNK:
                    findings.extend(self._chunk(chunk, acts, duplicates, report_id))
                    chunk, acts, first_of, duplicates = [], [], {}, []
                chunk.append(ben)
            act = (ben, uo_id, days.get(act_date) or _as_date(act_date), row)
            key = act[:3]
            if key in first_of:  # the same act again: the one inserted first is the original
                duplicates.append((row, first_of[key]))
            else:
                first_of[key] = row
                acts.append(act)
        if chunk:
            findings.extend(self._chunk(chunk, acts, duplicates, report_id))
        return findings

    def _chunk(self, chunk, acts, duplicates, report_id):
        """The rules across rows for one chunk of beneficiaries (see :meth:`check_stored`)."""
        for row, first in sorted(duplicates):
            self._duplicate(row, first)
        if self._live is None:
            self._live = live_version_ids(report_id)
        findings = self._across(acts, load_history(self.rules, chunk, report_id, self._live,
                                                   self._version_id), chunk)
        self.compact()
        return findings

    def _across(self, acts, history, beneficiaries):
        """``acts``: (beneficiary, uo_id, act_date, row) of the version checked;
        ``history``: the same beneficiaries' acts elsewhere (:func:`load_history`).

        A beneficiary's events are ``(date, row, uo_id)``, row `HISTORY` for an act of
        another version, sorted by date then row; the rules read each UO's figures from
        `_uo_terms`, computed once per checker."""
        lot_id = self.rules.lot_id
        terms = self._uo_terms()
        own = {}      # beneficiary -> [(date, row or HISTORY, uo_id)]
        others = {}   # beneficiary -> [(date, uo_id, lot_id, version_id)]
        for ben, lot, uo_id, act_date, version_id in history:
            if lot == lot_id:
                events = own.get(ben)
                if events is None:
                    events = own[ben] = []
                events.append((act_date, HISTORY, uo_id))
            else:
                events = others.get(ben)
                if events is None:
                    events = others[ben] = []
                events.append((act_date, uo_id, lot, version_id))
        for ben, uo_id, act_date, row in acts:
            events = own.get(ben)
            if events is None:
                events = own[ben] = []
            events.append((act_date, row, uo_id))
        findings = []
        window_rule, sequence = self._window_rule, self._sequence_warnings
        for ben in beneficiaries:
            events = own.get(ben)
            if events is None:
                continue
            if len(events) > 1:
                events.sort()
                # the window rule counts a UO's acts: only when one comes more than once
                if len({uo_id for _, _, uo_id in events}) < len(events):
                    window_rule(events, terms)
            sequence(events, terms)
            if ben in others:
                findings.extend(self._cross_lot(ben, events, others[ben], terms))
        return findings

    def _uo_terms(self):
        """uo_id -> (UO, level, window_months, max_per_beneficiary, id of the UO expected
        before it or None), for the rules across rows."""
        terms = getattr(self, "_terms", None)
        if terms is None:
            uos = self.rules.uos
            terms = self._terms = {}
            for uo in uos.values():
                prior = uos.get(uo.expects_prior_code) if uo.expects_prior_code else None
                terms[uo.id] = (uo, uo.level, uo.window_months, uo.max_per_beneficiary,
                                prior.id if prior is not None else None)
        return terms

    def _window_rule(self, events, terms):
        per_uo = defaultdict(list)  # uo_id -> [(date, row, None for another version's)]
        for act_date, row, uo_id in events:
            per_uo[uo_id].append((act_date, None if row is HISTORY else row))
        for uo_id, items in per_uo.items():
            uo, _, window_months, maximum, _ = terms[uo_id]
            if not maximum or not window_months or len(items) <= maximum:
                continue
            flagged = set()
            start = 0
            for end in range(len(items)):
                while add_months(items[start][0], window_months) <= items[end][0]:
                    start += 1
                window = items[start:end + 1]
                if len(window) <= maximum:
                    continue
                file_rows = [row for _, row in window if row is not None]
                if not file_rows:
                    continue
                first_date, first_row = window[0]
                targets = [r for r in file_rows if r != first_row] or file_rows
                for target in targets:
                    if target in flagged:
                        continue
                    flagged.add(target)
                    previous = next(((d, r) for d, r in window if r != target), window[0])
                    where = (f"ligne {previous[1]}" if previous[1] and previous[1] > 0
                             else "acte déjà déclaré")
                    self.error("window", f"{uo.code} déjà facturé pour ce bénéficiaire le "
                               f"{fr_day(previous[0])} ({where}) : le contrat l'admet "
                               f"{maximum} fois par période de {window_months} mois.",
                               target, None, None)

    def _sequence_warnings(self, events, terms):
        level2 = None  # the dates of the beneficiary's level 2 acts, once asked
        for act_date, row, uo_id in events:
            if row is HISTORY:
                continue
            uo, level, window_months, _, prior_id = terms[uo_id]
            if prior_id is not None:
                for day, _, other in events:
                    if other == prior_id and day <= act_date:
                        break
                else:
                    self.warning("expects_prior", f"{uo.code} sans {uo.expects_prior_code} "
                                 "préalable pour ce bénéficiaire (ni dans ce fichier ni dans les "
                                 "mois déclarés).", row, None, None)
            if level == 1:
                if level2 is None:
                    level2 = [day for day, _, other in events if terms[other][1] == 2]
                if not level2:
                    continue
                limit = self._months_before(act_date, window_months)
                later = [day for day in level2 if limit < day < act_date]
                if later:
                    message = self._level1_messages.get(later[0])
                    if message is None:
                        message = self._level1_messages[later[0]] = (
                            "Niveau 1 déclaré après un niveau 2 pour le même bénéficiaire "
                            f"(niveau 2 le {fr_day(later[0])}).")
                    self.warning("level1_after_level2", message, row, None, None)

    def _months_before(self, day, months):
        """``add_months(day, -months)`` (``date.min`` without a window), once per day: a file's
        acts fall on a month's thirty-odd days."""
        if not months:
            return date.min
        key = (day, months)
        found = self._before.get(key)
        if found is None:
            found = self._before[key] = add_months(day, -months)
        return found

    def _cross_lot(self, ben, events, other_events, terms):
        found = {}
        for act_date, row, uo_id in events:
            if row is HISTORY:
                continue
            uo, level, window_months, _, _ = terms[uo_id]
            if not level or level < 1 or not window_months:
                continue
            for other_date, other_uo_id, lot_id, version_id in other_events:
                other_terms = terms.get(other_uo_id)
                if other_terms is None or other_terms[1] != level:
                    continue
                other = other_terms[0]
                window = max(window_months, other.window_months or 0)
                if other_date < add_months(act_date, window) and act_date < add_months(other_date, window):
                    key = (lot_id, level)
                    gap = abs((other_date - act_date).days)
                    if key not in found or gap < found[key]["gap"]:
                        found[key] = {"beneficiary_id": ben, "level": level, "uo_code": uo.code,
                                      "act_date": act_date, "row": row, "other_lot_id": lot_id,
                                      "other_version_id": version_id, "other_uo_code": other.code,
                                      "other_act_date": other_date, "window_months": window,
                                      "gap": gap}
        return list(found.values())

    def volume_warnings(self, previous):
        """``previous``: [{uo_code: count}] of the lot's recent months (newest first)."""
        rules = self.rules
        if len(previous) < 3:
            return
        for code in rules.allowed:
            values = [p.get(code, 0) for p in previous[:rules.volume_history_months]]
            mean = sum(values) / len(values)
            if mean < rules.volume_min_mean:
                continue
            current = self.counts.get(code, 0)
            change = (current - mean) / mean
            if abs(change) > rules.volume_change:
                direction = "hausse" if change > 0 else "baisse"
                self.warning("volume_change", f"{code} : {current} acte(s) ce mois, {direction} "
                             f"de {abs(change):.0%} par rapport à la moyenne des {len(values)} "
                             f"derniers mois du lot ({mean:.0f}).".replace("%", " %"),
                             None, None, None, "")


# -- history ---------------------------------------------------------------------------------

def live_versions_clause():
    """Versions whose acts count: the one awaiting review, else the validated one."""
    other = sa.orm.aliased(ReportVersion)
    pending = sa.select(other.id).where(other.report_id == ReportVersion.report_id,
                                        other.status == VersionStatus.SUBMITTED).exists()
    return sa.or_(ReportVersion.status == VersionStatus.SUBMITTED,
                  sa.and_(ReportVersion.status == VersionStatus.VALIDATED, ~pending))


def load_history(rules, beneficiaries, report_id, live=None, version_id=None):
    """Acts of these beneficiaries in every lot's live versions, except this report's, dated
    within the largest UO window of the period: one query per chunk of identifiers, the
    versions checked here against ``live`` (:func:`live_version_ids`, asked once by a caller
    with many chunks): joined in SQL, each act would be checked against its version.
    ``version_id``: the version checked, whose acts the query leaves out at once."""
    months = rules.max_window or 24
    low, high = add_months(rules.start, -months), add_months(rules.end, months)
    if live is None:
        live = live_version_ids(report_id)
    conn = db.session.connection()
    sqlite = conn.dialect.name == "sqlite"
    ids = sorted(beneficiaries)
    out = []
    days = _DAYS
    for i in range(0, len(ids), HISTORY_CHUNK):
        chunk = ids[i:i + HISTORY_CHUNK]
        if sqlite:  # dates are ISO text there, compared and read as text (`_as_date`)
            sql = _HISTORY_SQL.format(ids=", ".join("?" * len(chunk)), mark="?")
            params = [*chunk, low.isoformat(), high.isoformat(), version_id or -1]
        else:
            sql = _HISTORY_SQL.format(ids="SELECT unnest(%s::varchar[])", mark="%s")
            params = [chunk, low, high, version_id or -1]
        out.extend((ben, lot_id, uo_id, days.get(day) or _as_date(day), version)
                   for ben, lot_id, uo_id, day, version in _driver_rows(sql, params)
                   if version in live)
    return out


#: :func:`load_history`'s query, in the driver's own SQL: the identifiers are a list of
#: parameters (SQLite) or one array (PostgreSQL)
_HISTORY_SQL = ("SELECT beneficiary_id, lot_id, uo_id, act_date, version_id FROM acts "
                "WHERE beneficiary_id IN ({ids}) AND act_date BETWEEN {mark} AND {mark} "
                "AND version_id <> {mark}")


def live_version_ids(report_id):
    """The ids of the versions whose acts count (`live_versions_clause`), this report's left
    out."""
    return frozenset(db.session.scalars(sa.select(ReportVersion.id).where(
        ReportVersion.report_id != (report_id or -1), live_versions_clause())))


@functools.cache
def _stored_acts_statement():
    """A version's acts in beneficiary order, then as inserted (:meth:`RowChecker.check_stored`):
    the act's file row, or ``-id`` for an act typed in the web form."""
    table = Act.__table__
    return (sa.select(table.c.beneficiary_id, table.c.uo_id, _raw_date(table.c.act_date),
                      sa.func.coalesce(table.c.source_row, -table.c.id))
            .where(table.c.version_id == sa.bindparam("version_id"))
            .order_by(table.c.beneficiary_id, table.c.id))


def _driver_rows(stmt, params=None):
    """The rows of ``stmt`` (a Core statement, or SQL text with its driver's parameters) as
    the driver's plain tuples, a chunk fetched at a time (no SQLAlchemy row per act): for
    statements whose parameters the driver takes as they are (integers, texts; ``params``
    for the bound ones).  PostgreSQL's client-side cursor holds the result in libpq's
    memory."""
    db.session.flush()  # as the session's own execute would (acts of the web form)
    conn = db.session.connection()
    if not isinstance(stmt, str):
        compiled = stmt.compile(dialect=conn.dialect)
        params = {**compiled.params, **(params or {})}
        if compiled.positiontup is not None:  # SQLite's "?"
            params = [params[name] for name in compiled.positiontup]
        stmt = str(compiled)
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.execute(stmt, params)
        while True:
            rows = cursor.fetchmany(HISTORY_CHUNK)
            if not rows:
                return
            yield from rows
    finally:
        cursor.close()


def _raw_date(column):
    """A date column as the driver returns it: SQLite's ISO text is turned into a date by
    :func:`_as_date`, once per distinct day rather than on every row; PostgreSQL returns
    dates."""
    return sa.type_coerce(column, sa.String)


_DAYS = {}


def _as_date(value):
    if value is None or isinstance(value, date):
        return value
    found = _DAYS.get(value)
    if found is None:
        found = date.fromisoformat(value)  # what SQLAlchemy's SQLite DATE does too
        if len(_DAYS) < _FAST_CACHE_MAX:
            _DAYS[value] = found
    return found


def recent_counts(rules, report_id, months=None):
    """Per-UO act counts of the lot's live versions of earlier periods, newest first."""
    from fc_market.reporting.models import Report
    by_id = rules.uos_by_id
    months = months or rules.volume_history_months
    stmt = (sa.select(Report.period, Act.uo_id, sa.func.count())
            .select_from(Act).join(ReportVersion, ReportVersion.id == Act.version_id)
            .join(Report, Report.id == ReportVersion.report_id)
            .where(Report.lot_id == rules.lot_id, Report.period < rules.period,
                   Report.period >= add_months(rules.start, -months).strftime("%Y-%m"),
                   Report.id != (report_id or -1), live_versions_clause())
            .group_by(Report.period, Act.uo_id))
    per_period = defaultdict(dict)
    for period, uo_id, count in db.session.execute(stmt):
        per_period[period][by_id[uo_id].code] = count
    return [per_period[p] for p in sorted(per_period, reverse=True)]
