"""Rebuild the per-lot, per-month aggregates (:class:`LotMonthStat`) from validated reporting.

Only acts and lot figures of versions whose status is ``validated`` count (a superseded
version's acts drop out when its correction is validated).  :func:`rebuild_lot` rebuilds a
lot as a whole — entries and pathways depend on each beneficiary's whole history — in one
pass over its acts ordered by beneficiary, date and id (plain driver tuples; about 2.5 s for
the 600,000 acts of the largest lot on PostgreSQL).  After a validation,
:func:`apply_versions` changes only what the changed versions move (the beneficiaries
concerned, the months that became mature): the same rows as a full rebuild, in a fraction
of a second.

Definitions (also shown on screen, see :data:`fc_market.steering.indicators.INDICATORS`):

* **entry**: a beneficiary's first level-1 or level-2 act of the calendar year, in the lot;
* **delay UO0 → level 1**: days from the latest aiguillage (UO0, within ``steering.pathway_gap_days``) to a
  level-1 act;
* **information only**: an aiguillage followed by no level-1 or level-2 act within
  ``steering.information_only_days`` (contract file, 90 by default);
* **abandonment**: a level-1 act followed by no level-2 act within
  ``steering.level2_days`` (120) ("niveau 2 non poursuivi");
* **level-2 start**: a level-2 act with no level-2 act in the previous
  ``steering.pathway_gap_days`` (365); it *starts
  at implementation* when that act is an implementation UO (a level-2 UO that expects a
  prior UO in the catalogue, UO2.2) with no project UO before;
* **short pathway**: a project act (level-2 UO without prerequisite, UO2.1) less than
  ``steering.short_pathway_days`` (14) after the beneficiary's first act of the pathway;
* **implementation follow-up**: a project act followed by implementation support within
  ``steering.implementation_days`` (183).

The horizons are the lot's contract terms (:func:`fc_market.market.terms.lot_terms`,
group ``steering``), read once per rebuild.

Cohort counters are stored only for mature months: the month's last day plus the horizon
must not pass the lot's latest validated month.
"""
from __future__ import annotations

import calendar
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from datetime import date, timedelta
from itertools import groupby
from operator import itemgetter

import sqlalchemy as sa

from fc_market.extensions import db
from fc_market.market.models import Lot, UnitOfWork
from fc_market.market.terms import terms_of
from fc_market.models_base import utcnow
from fc_market.reporting.models import Act, LotFigures, Report, ReportVersion
from fc_market.steering.models import LotMonthStat

REMOTE_MODES = ("telephone", "visio")
PROFILE_KEYS = ("csp", "sector", "sex", "age_band")
VALIDATED = "validated"

#: Extra monthly providers: name -> function(lot_id) returning {period: {column: value}}.
#: The controls module's figures are plugged in by :func:`csf_by_period` when it exists.
PROVIDERS = {}


def period_of(day):
    return f"{day.year:04d}-{day.month:02d}"


def month_end(period):
    year, month = int(period[:4]), int(period[5:7])
    return date(year, month, calendar.monthrange(year, month)[1])


def uo_roles(market_id=None):
    """{uo_id: (code, role)} with role in uo0, level1, project, implementation, other."""
    stmt = sa.select(UnitOfWork)
    if market_id is not None:
        stmt = stmt.where(UnitOfWork.market_id == market_id)
    out = {}
    for uo in db.session.scalars(stmt):
        if uo.level == 0:
            role = "uo0"
        elif uo.level == 1:
            role = "level1"
        elif uo.level == 2:
            role = "implementation" if uo.expects_prior_code else "project"
        else:
            role = "other"
        out[uo.id] = (uo.code, role)
    return out


#: Columns of an act the fold reads, in this order (``_fold`` indexes them)
_ACT_COLUMNS = (Act.beneficiary_id, Act.act_date, Act.uo_id, Act.mode, Act.csp, Act.sector,
                Act.sex, Act.age_band)
#: Roles as small integers (the fold compares them for every act)
OTHER, UO0, LEVEL1, PROJECT, IMPLEMENTATION = range(5)
_ROLE_NUMBER = {"other": OTHER, "uo0": UO0, "level1": LEVEL1, "project": PROJECT,
                "implementation": IMPLEMENTATION}
#: Rows turned into tuples at a time from PostgreSQL's result
CHUNK_ROWS = 20_000


def _validated_versions(lot_id):
    return sa.select(ReportVersion.id).where(ReportVersion.lot_id == lot_id,
                                             ReportVersion.status == VALIDATED)


def _acts_stmt(lot_id, *, extra=(), where=()):
    """The lot's acts (``where``: more conditions), ordered by beneficiary, date and id (the id
    settles acts of the same day: the entry and its profile are always the same act's)."""
    return (sa.select(*_ACT_COLUMNS, *extra)
            .where(Act.lot_id == lot_id, *where)
            .order_by(Act.beneficiary_id, Act.act_date, Act.id))


def _acts(lot_id):
    """The lot's acts of validated versions (the version is checked here: in SQL the planner
    would read the acts version by version rather than the lot's at once)."""
    validated = set(db.session.scalars(_validated_versions(lot_id)))
    return (row for row in _rows(_acts_stmt(lot_id, extra=(Act.version_id,))) if row[8] in validated)


def _rows(stmt):
    """Plain tuples of ``stmt``: on PostgreSQL straight from the driver's cursor (no
    SQLAlchemy row per act), elsewhere through the Core connection."""
    conn = db.session.connection()
    if conn.dialect.name != "postgresql":
        yield from conn.execute(stmt)
        return
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    raw = conn.connection.driver_connection
    # a client-side cursor: the result waits in libpq's memory (~100 bytes an act), tuples
    # are made a chunk at a time; a server-side cursor is slower here (cursor plans)
    with raw.cursor() as cur:
        cur.execute(str(compiled), compiled.params)
        while True:
            chunk = cur.fetchmany(CHUNK_ROWS)
            if not chunk:
                break
            yield from chunk


def _role_table(roles):
    """{uo_id: (code, role number)}; an unknown UO is "?" with no role."""
    class Table(dict):
        def __missing__(self, key):
            return ("?", OTHER)
    return Table({uo_id: (code, _ROLE_NUMBER[role]) for uo_id, (code, role) in roles.items()})


class _Month:
    __slots__ = ("acts", "by_uo", "remote", "bens", "entries", "delay", "uo0", "uo0_alone",
                 "l1", "l1_alone", "l2_starts", "l2_impl", "project", "project_short",
                 "project_cohort", "project_followed", "profile")

    def __init__(self):
        self.acts = self.remote = self.entries = 0
        self.by_uo = Counter()
        self.bens = 0
        #: {days (int): count}; stored with string keys (JSON)
        self.delay = Counter()
        self.uo0 = self.uo0_alone = self.l1 = self.l1_alone = 0
        self.l2_starts = self.l2_impl = self.project = self.project_short = 0
        self.project_cohort = self.project_followed = 0
        self.profile = {k: Counter() for k in PROFILE_KEYS}


def horizons_of(lot, day=None):
    """The lot's steering horizons (:class:`fc_market.market.terms.SteeringTerms`) in force on
    ``day`` (today by default)."""
    return terms_of(lot, day).steering


class _Days(dict):
    """day -> (ordinal, period, year, uo0 mature?, level 1 mature?, project mature?), computed
    once per distinct day (a lot has ~1,500 of them for millions of acts)."""

    def __init__(self, data_end, h):
        super().__init__()
        self.data_end, self.h = data_end, h

    def __missing__(self, day):
        p = period_of(day)
        h, end = self.h, self.data_end
        value = self[day] = (day.toordinal(), p, day.year,
                             _mature(day, h.information_only_days, end),
                             _mature(day, h.level2_days, end),
                             _mature(day, h.implementation_days, end))
        return value


def compute_lot(lot_id, roles, data_end=None, horizons=None):
    """{period: _Month} for the lot's validated acts; ``data_end`` bounds cohort maturity;
    ``horizons``: the lot's :class:`~fc_market.market.terms.SteeringTerms` (read when None)."""
    h = horizons or horizons_of(db.session.get(Lot, lot_id))
    return _fold_all(_acts(lot_id), _role_table(roles), {}, _Days(data_end, h), h)


def _fold_all(rows, table, months, days, h):
    """Fold rows sorted by beneficiary (then date) into ``months``, one beneficiary at a time."""
    fold = _fold
    for _, acts in groupby(rows, itemgetter(0)):
        fold(list(acts), table, months, days, h)
    return months


def _fold(rows, table, months, days, h, since=None):
    """Fold one beneficiary's acts (sorted by date) into the monthly counters.

    Days are compared as ordinals; ``table``: :func:`_role_table`; ``days``: :class:`_Days`.
    ``since``: an ordinal; acts before it are history only (they count nowhere).
    """
    info_h, l2_h, gap = h.information_only_days, h.level2_days, h.pathway_gap_days
    short_h, impl_h = h.short_pathway_days, h.implementation_days
    all_days, uo0_days, l12_days, l2_days, project_days, impl_days = [], [], [], [], [], []
    acts = []
    for row in rows:
        d = days[row[1]]
        code, role = table[row[2]]
        o = d[0]
        all_days.append(o)
        if role == UO0:
            uo0_days.append(o)
        elif role == LEVEL1:
            l12_days.append(o)
        elif role:
            l12_days.append(o)
            l2_days.append(o)
            (project_days if role == PROJECT else impl_days).append(o)
        acts.append((d, code, role, row))
    seen_months = set()
    entered_years = set()
    for (o, p, year, mature_uo0, mature_l1, mature_project), code, role, row in acts:
        if since is not None and o < since:
            seen_months.add(p)
            if role != OTHER and role != UO0:
                entered_years.add(year)
            continue
        m = months.get(p)
        if m is None:
            m = months[p] = _Month()
        m.acts += 1
        m.by_uo[code] += 1
        if row[3] in REMOTE_MODES:
            m.remote += 1
        if p not in seen_months:
            seen_months.add(p)
            m.bens += 1
        if role == OTHER:
            continue
        if role != UO0 and year not in entered_years:
            entered_years.add(year)
            m.entries += 1
            profile = m.profile
            csp, sector, sex, age_band = row[4], row[5], row[6], row[7]
            if csp:
                profile["csp"][csp] += 1
            if sector:
                profile["sector"][sector] += 1
            if sex:
                profile["sex"][sex] += 1
            if age_band:
                profile["age_band"][age_band] += 1
        if role == UO0:
            if mature_uo0:
                m.uo0 += 1
                i = bisect_left(l12_days, o)
                if i >= len(l12_days) or l12_days[i] > o + info_h:
                    m.uo0_alone += 1
        elif role == LEVEL1:
            i = bisect_right(uo0_days, o)
            if i:
                diff = o - uo0_days[i - 1]
                if diff <= gap:
                    m.delay[diff] += 1
            if mature_l1:
                m.l1 += 1
                i = bisect_left(l2_days, o)
                if i >= len(l2_days) or l2_days[i] > o + l2_h:
                    m.l1_alone += 1
        else:
            # a level-2 start: no level-2 act in [day - gap, day)
            i = bisect_left(l2_days, o - gap)
            if i >= len(l2_days) or l2_days[i] >= o:
                m.l2_starts += 1
                if role == IMPLEMENTATION and not (project_days and project_days[0] <= o):
                    m.l2_impl += 1
            if role == PROJECT:
                m.project += 1
                if o - all_days[bisect_left(all_days, o - gap)] < short_h:
                    m.project_short += 1
                if mature_project:
                    m.project_cohort += 1
                    i = bisect_left(impl_days, o)
                    if i < len(impl_days) and impl_days[i] <= o + impl_h:
                        m.project_followed += 1


def _mature(day, horizon, data_end):
    return data_end is None or month_end(period_of(day)) + timedelta(days=horizon) <= data_end


def _figures(lot_id):
    stmt = (sa.select(Report.period, LotFigures)
            .join(ReportVersion, ReportVersion.id == LotFigures.version_id)
            .join(Report, Report.id == ReportVersion.report_id)
            .where(ReportVersion.lot_id == lot_id, ReportVersion.status == VALIDATED))
    return {period: figures for period, figures in db.session.execute(stmt)}


def _reporting(lot_id):
    """{period: (validated?, days late of the first submission)}."""
    stmt = (sa.select(Report.period, ReportVersion.status, ReportVersion.days_late,
                      ReportVersion.submitted_at)
            .join(ReportVersion, ReportVersion.report_id == Report.id)
            .where(Report.lot_id == lot_id, ReportVersion.submitted_at.is_not(None))
            .order_by(Report.period, ReportVersion.submitted_at))
    out = {}
    for period, status, days_late, _ in db.session.execute(stmt):
        validated, late = out.get(period, (False, None))
        out[period] = (validated or status == VALIDATED, late if late is not None else days_late)
    return out


def csf_by_period(lot_id):
    """{period: {"csf_judged": n, "csf_nonconforming": x}} from closed control campaigns, or
    {} while the controls module is absent."""
    try:
        from fc_market.controls.models import CampaignStatus, ControlCampaign, ControlItem, Verdict
    except ImportError:  # controls not installed: the indicator stays empty
        return {}
    bad = (Verdict.NONCONFORMING, Verdict.UNPROVEN)
    stmt = (sa.select(ControlItem.period, ControlItem.verdict, sa.func.count())
            .join(ControlCampaign, ControlCampaign.id == ControlItem.campaign_id)
            .where(ControlItem.lot_id == lot_id, ControlCampaign.status == CampaignStatus.CLOSED,
                   ControlItem.verdict != Verdict.PENDING)
            .group_by(ControlItem.period, ControlItem.verdict))
    out = defaultdict(lambda: {"csf_judged": 0, "csf_nonconforming": 0})
    for period, verdict, count in db.session.execute(stmt):
        out[period]["csf_judged"] += count
        if verdict in bad:
            out[period]["csf_nonconforming"] += count
    return dict(out)


PROVIDERS["csf"] = csf_by_period


def _extra(lot_id):
    extra = defaultdict(dict)
    for provider in PROVIDERS.values():
        for period, values in provider(lot_id).items():
            extra[period].update(values)
    return extra


def _row_mature(period, horizon, data_end):
    """Is the cohort of ``period`` mature (stored) for ``horizon`` days once ``data_end``…"""
    return data_end is not None and _mature(month_end(period), horizon, data_end)


def _stat_rows(lot_id, months, figures, reporting, extra, data_end, h, now):
    """{period: row} — the LotMonthStat columns of every period with acts, figures, a
    submitted report or a provider's value."""
    rows = {}
    for p in sorted(set(months) | set(figures) | set(reporting) | set(extra)):
        m = months.get(p) or _Month()
        f = figures.get(p)
        validated, days_late = reporting.get(p, (False, None))
        mature_uo0 = _row_mature(p, h.information_only_days, data_end)
        mature_l1 = _row_mature(p, h.level2_days, data_end)
        mature_project = _row_mature(p, h.implementation_days, data_end)
        row = {
            "lot_id": lot_id, "period": p, "year": int(p[:4]), "month": int(p[5:7]),
            "acts": m.acts, "acts_by_uo": dict(m.by_uo) or None, "remote_acts": m.remote,
            "beneficiaries": m.bens, "entries": m.entries,
            "delay_hist": {str(k): v for k, v in m.delay.items()} or None,
            "delay_count": sum(m.delay.values()),
            "uo0_cohort": m.uo0 if mature_uo0 else None,
            "uo0_no_followup": m.uo0_alone if mature_uo0 else None,
            "l1_cohort": m.l1 if mature_l1 else None,
            "l1_no_level2": m.l1_alone if mature_l1 else None,
            "l2_starts": m.l2_starts, "l2_starts_implementation": m.l2_impl,
            "project_acts": m.project, "project_short": m.project_short,
            "project_cohort": m.project_cohort if mature_project else None,
            "project_followed": m.project_followed if mature_project else None,
            "profile": {k: dict(v) for k, v in m.profile.items() if v} or None,
            "l1_respondents": f.l1_respondents if f else 0, "l1_satisfied": f.l1_satisfied if f else 0,
            "l2_respondents": f.l2_respondents if f else 0, "l2_satisfied": f.l2_satisfied if f else 0,
            "usefulness_respondents": f.usefulness_respondents if f else 0,
            "usefulness_useful": f.usefulness_useful if f else 0,
            "complaints": f.complaints if f else 0,
            "csf_judged": 0, "csf_nonconforming": 0,
            "validated": validated, "days_late": days_late, "computed_at": now,
        }
        row.update(extra.get(p, {}))
        rows[p] = row
    return rows


def _data_end(reporting):
    validated_periods = sorted(p for p, (ok, _) in reporting.items() if ok)
    return month_end(validated_periods[-1]) if validated_periods else None


def rebuild_lot(lot_id, roles=None):
    """Replace the lot's aggregates; returns the number of months written."""
    db.session.flush()
    roles = roles or uo_roles()
    reporting = _reporting(lot_id)
    data_end = _data_end(reporting)
    h = horizons_of(db.session.get(Lot, lot_id))
    months = compute_lot(lot_id, roles, data_end, h)
    rows = _stat_rows(lot_id, months, _figures(lot_id), reporting, _extra(lot_id), data_end, h,
                      utcnow())
    db.session.execute(sa.delete(LotMonthStat).where(LotMonthStat.lot_id == lot_id))
    if rows:
        db.session.execute(sa.insert(LotMonthStat), list(rows.values()))
    return len(rows)


# --------------------------------------------------------------------------- incremental

#: Additive counters of :class:`_Month` (cohort ones apart: they depend on maturity)
_PLAIN = ("acts", "remote", "bens", "entries", "l2_starts", "l2_impl", "project",
          "project_short")
#: Cohort counters by horizon: (attribute of SteeringTerms, _Month counters, columns)
_COHORTS = (("information_only_days", ("uo0", "uo0_alone"), ("uo0_cohort", "uo0_no_followup")),
            ("level2_days", ("l1", "l1_alone"), ("l1_cohort", "l1_no_level2")),
            ("implementation_days", ("project_cohort", "project_followed"),
             ("project_cohort", "project_followed")))
#: The role of the acts each cohort counts
_COHORT_ROLES = (UO0, LEVEL1, PROJECT)
#: Columns compared to decide whether a stored row changed
_COMPARED = tuple(c.name for c in LotMonthStat.__table__.columns if c.name not in ("id", "computed_at"))


class Stale(Exception):
    """The stored aggregates are not those of the state before the change: rebuild."""


def _month_of(row):
    """A stored LotMonthStat row back as counters (cohorts not stored count 0)."""
    m = _Month()
    m.acts, m.remote, m.bens, m.entries = row.acts, row.remote_acts, row.beneficiaries, row.entries
    m.by_uo = Counter(row.acts_by_uo or {})
    m.delay = Counter({int(k): v for k, v in (row.delay_hist or {}).items()})
    m.l2_starts, m.l2_impl = row.l2_starts, row.l2_starts_implementation
    m.project, m.project_short = row.project_acts, row.project_short
    for _, counters, columns in _COHORTS:
        for counter, column in zip(counters, columns):
            setattr(m, counter, getattr(row, column) or 0)
    profile = row.profile or {}
    m.profile = {k: Counter(profile.get(k) or {}) for k in PROFILE_KEYS}
    return m


def _add_counter(target, new, old):
    for key, value in new.items():
        target[key] += value
    for key, value in old.items():
        target[key] -= value
    for key in [k for k, v in target.items() if v <= 0]:
        if target[key] < 0:
            raise Stale(key)
        del target[key]


def _apply(m, new, old, cohorts):
    """m += new - old; ``cohorts``: the _Month cohort counters to move too."""
    for attr in _PLAIN + cohorts:
        value = getattr(m, attr) + getattr(new, attr) - getattr(old, attr)
        if value < 0:
            raise Stale(attr)
        setattr(m, attr, value)
    _add_counter(m.by_uo, new.by_uo, old.by_uo)
    _add_counter(m.delay, new.delay, old.delay)
    for key in PROFILE_KEYS:
        _add_counter(m.profile[key], new.profile[key], old.profile[key])


def apply_versions(lot_id, added=(), removed=(), roles=None):
    """Bring the lot's stored aggregates up to date after ``added`` versions were validated
    and ``removed`` ones superseded (either may be empty: a closed control campaign), without
    reading the lot's whole history.  The rows written are exactly those of
    :func:`rebuild_lot`; returns how many rows changed, or None when the stored rows are not
    those of the state before the change (never built, or stale): rebuild then.

    Every counter of a month is a sum of per-beneficiary contributions, each depending only
    on that beneficiary's acts: only the beneficiaries with an act in a changed version move,
    by (their contributions now) − (their contributions before), both folded from the part of
    their history the rules read (:func:`_acts_of`, by index).  A cohort counter is stored
    only once its month is mature (the month's end plus its horizon reaches the latest
    validated month): a month that just became mature gets its counter computed from its own
    acts and those of the horizon after it (cohort rules look forward only, and no further
    than the horizon).  Lot figures, reporting and providers are re-read (a few rows a month).
    """
    db.session.flush()
    added, removed = set(added), set(removed)
    try:
        return _apply_versions(lot_id, added, removed, roles)
    except Stale:
        return None


def _apply_versions(lot_id, added, removed, roles):
    table = _role_table(roles or uo_roles())
    lot = db.session.get(Lot, lot_id)
    h = horizons_of(lot)
    stored = {row.period: row for row in db.session.execute(
        sa.select(LotMonthStat.__table__).where(LotMonthStat.lot_id == lot_id))}
    # the stored rows were folded with the horizons in force on the day they were computed:
    # a dated change of the contract that came into force since then needs a whole rebuild
    if stored and horizons_of(lot, min(row.computed_at for row in stored.values()).date()) != h:
        raise Stale("steering terms")
    # the validated periods before the change, from the versions, must be the stored ones
    versions = db.session.execute(
        sa.select(ReportVersion.id, ReportVersion.status, ReportVersion.submitted_at, Report.period)
        .join(Report, Report.id == ReportVersion.report_id)
        .where(ReportVersion.lot_id == lot_id,
               sa.or_(ReportVersion.status == VALIDATED,
                      ReportVersion.id.in_(sorted(added | removed))))).all()
    now_ids = {v.id for v in versions if v.status == VALIDATED}
    before_ids = (now_ids - added) | removed
    before_validated = {v.period for v in versions if v.id in before_ids and v.submitted_at is not None}
    if before_validated != {p for p, row in stored.items() if row.validated}:
        raise Stale("validated months")
    old_end = month_end(max(before_validated)) if before_validated else None
    reporting = _reporting(lot_id)
    data_end = _data_end(reporting)

    months = {p: _month_of(row) for p, row in stored.items()}
    for horizon, counters, columns in _COHORTS:
        days = getattr(h, horizon)
        for p, row in stored.items():
            if _row_mature(p, days, old_end) and getattr(row, columns[0]) is None:
                raise Stale(columns[0])
    changed = added | removed
    if changed:
        everything = _Days(None, h)
        before, after = {}, {}
        # an act's contribution looks forward no further than the longest horizon: acts
        # earlier than that before a beneficiary's first changed act count the same before
        # and after the change, and only serve as history
        ahead = max(h.information_only_days, h.level2_days, h.implementation_days)
        first = db.session.scalar(sa.select(sa.func.min(Act.act_date))
                                  .where(Act.version_id.in_(sorted(changed))))
        for _, acts in groupby(_acts_of(lot_id, changed, now_ids | removed, first, ahead, table, h),
                               itemgetter(0)):
            acts = list(acts)
            first_changed = min((a[1] for a in acts if a[8] in changed), default=None)
            if first_changed is None:        # nothing of theirs changed
                continue
            since = first_changed.toordinal() - ahead
            _fold([a for a in acts if a[8] not in added], table, before, everything, h, since)
            _fold([a for a in acts if a[8] not in removed], table, after, everything, h, since)
        empty = _Month()
        for p in set(before) | set(after):
            cohorts = tuple(c for horizon, counters, _ in _COHORTS
                            if _row_mature(p, getattr(h, horizon), old_end)
                            and _row_mature(p, getattr(h, horizon), data_end) for c in counters)
            m = months.get(p)
            if m is None:
                m = months[p] = _Month()
            _apply(m, after.get(p, empty), before.get(p, empty), cohorts)
    for p in [p for p, m in months.items() if not m.acts]:
        m = months.pop(p)
        if any(getattr(m, a) for a in _PLAIN) or m.by_uo or m.delay or any(m.profile.values()):
            raise Stale(p)
    _mature_now(lot_id, months, old_end, data_end, table, h)

    rows = _stat_rows(lot_id, months, _figures(lot_id), reporting, _extra(lot_id), data_end, h,
                      utcnow())
    gone = [row.id for p, row in stored.items()
            if p not in rows or any(getattr(row, c) != rows[p][c] for c in _COMPARED)]
    replaced = set(gone)
    fresh = [row for p, row in rows.items() if p not in stored or stored[p].id in replaced]
    if gone:
        db.session.execute(sa.delete(LotMonthStat).where(LotMonthStat.id.in_(gone)))
    if fresh:
        db.session.execute(sa.insert(LotMonthStat), fresh)
    return len(gone) + sum(1 for p in rows if p not in stored)


#: Beneficiaries per query when reading some beneficiaries' acts (bound parameters)
BENEFICIARIES_PER_QUERY = 5_000


def _acts_of(lot_id, changed, versions, first, ahead, table, h):
    """The acts of ``versions`` of every beneficiary with an act in a ``changed`` version,
    ordered by beneficiary, date and id, with their version id last: the history the fold
    needs for acts from ``first`` (the earliest changed act) minus ``ahead`` days on — the
    pathway gap and the calendar year before them, and any project act (an implementation
    act looks back at them without limit).  Lot and versions are checked here rather than in
    SQL: the planner then reads just the beneficiaries' acts, by their index."""
    beneficiaries = sorted(db.session.scalars(
        sa.select(Act.beneficiary_id).where(Act.version_id.in_(sorted(changed))).distinct()))
    if first is None or not beneficiaries:
        return
    since = first - timedelta(days=ahead)
    bound = min(since - timedelta(days=h.pathway_gap_days), date(since.year, 1, 1))
    projects = sorted(uo_id for uo_id, (_, role) in table.items() if role == PROJECT)
    for i in range(0, len(beneficiaries), BENEFICIARIES_PER_QUERY):
        part = beneficiaries[i:i + BENEFICIARIES_PER_QUERY]
        stmt = (sa.select(*_ACT_COLUMNS, Act.version_id, Act.lot_id)
                .where(Act.beneficiary_id.in_(part),
                       sa.or_(Act.act_date >= bound, Act.uo_id.in_(projects)))
                .order_by(Act.beneficiary_id, Act.act_date, Act.id))
        for row in _rows(stmt):
            if row[9] == lot_id and row[8] in versions:
                yield row


def _mature_now(lot_id, months, old_end, data_end, table, h):
    """Cohort counters of the months that became mature since ``old_end``, from scratch:
    the acts from the month's start to its end plus the horizon, of the beneficiaries with
    an act of the cohort's role in the month (cohort rules look forward only)."""
    flipped = []
    for (horizon, counters, _), role in zip(_COHORTS, _COHORT_ROLES):
        days = getattr(h, horizon)
        for p in months:
            if _row_mature(p, days, data_end) and not _row_mature(p, days, old_end):
                flipped.append((p, days, counters, role))
    if not flipped:
        return
    start = {p: date(int(p[:4]), int(p[5:7]), 1) for p, *_ in flipped}
    low = min(start.values())
    high = max(month_end(p) + timedelta(days=days) for p, days, _, _ in flipped)
    uo_ids = {role: sorted(uo_id for uo_id, (_, r) in table.items() if r == role)
              for role in _COHORT_ROLES}
    cohort = sa.select(Act.beneficiary_id).where(Act.lot_id == lot_id, sa.or_(*(
        sa.and_(Act.act_date >= start[p], Act.act_date <= month_end(p), Act.uo_id.in_(uo_ids[role]))
        for p, _, _, role in flipped)))
    validated = set(db.session.scalars(_validated_versions(lot_id)))
    rows = _rows(_acts_stmt(lot_id, extra=(Act.version_id,), where=(
        Act.act_date >= low, Act.act_date <= high, Act.beneficiary_id.in_(cohort))))
    scratch = _fold_all((row for row in rows if row[8] in validated), table, {}, _Days(None, h), h)
    for p, _, counters, _ in flipped:
        fresh = scratch.get(p) or _Month()
        for counter in counters:
            setattr(months[p], counter, getattr(fresh, counter))


def rebuild_all(lot_ids=None):
    roles = uo_roles()
    if lot_ids is None:
        lot_ids = db.session.scalars(sa.select(Lot.id).order_by(Lot.number)).all()
    return {lot_id: rebuild_lot(lot_id, roles) for lot_id in lot_ids}
