"""Rebuild the per-lot, per-month aggregates (:class:`LotMonthStat`) from validated reporting.

Only acts and lot figures of versions whose status is ``validated`` count (a superseded
version's acts drop out when its correction is validated).  A lot is rebuilt as a whole —
entries and pathways depend on each beneficiary's whole history — in one pass over its
acts ordered by beneficiary and date (about a second for 170,000 acts).

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

import sqlalchemy as sa

from fc_market.extensions import db
from fc_market.market.models import Lot, UnitOfWork
from fc_market.market.terms import default_terms, lot_terms
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


def _acts(lot_id):
    stmt = (sa.select(Act.beneficiary_id, Act.act_date, Act.uo_id, Act.mode, Act.csp, Act.sector,
                      Act.sex, Act.age_band)
            .join(ReportVersion, ReportVersion.id == Act.version_id)
            .where(Act.lot_id == lot_id, ReportVersion.status == VALIDATED)
            .order_by(Act.beneficiary_id, Act.act_date))
    return db.session.execute(stmt.execution_options(yield_per=20000))


class _Month:
    __slots__ = ("acts", "by_uo", "remote", "bens", "entries", "delay", "uo0", "uo0_alone",
                 "l1", "l1_alone", "l2_starts", "l2_impl", "project", "project_short",
                 "project_cohort", "project_followed", "profile")

    def __init__(self):
        self.acts = self.remote = self.entries = 0
        self.by_uo = Counter()
        self.bens = 0
        self.delay = Counter()
        self.uo0 = self.uo0_alone = self.l1 = self.l1_alone = 0
        self.l2_starts = self.l2_impl = self.project = self.project_short = 0
        self.project_cohort = self.project_followed = 0
        self.profile = {k: Counter() for k in PROFILE_KEYS}


def horizons_of(lot):
    """The lot's steering horizons (:class:`fc_market.market.terms.SteeringTerms`)."""
    return (lot_terms(lot) if lot is not None and lot.contract is not None
            else default_terms()).steering


def compute_lot(lot_id, roles, data_end=None, horizons=None):
    """{period: _Month} for the lot's validated acts; ``data_end`` bounds cohort maturity;
    ``horizons``: the lot's :class:`~fc_market.market.terms.SteeringTerms` (read when None)."""
    h = horizons or horizons_of(db.session.get(Lot, lot_id))
    months = defaultdict(_Month)
    current, rows = None, []
    for row in _acts(lot_id):
        if row[0] != current:
            if rows:
                _beneficiary(rows, roles, months, data_end, h)
            current, rows = row[0], []
        rows.append(row)
    if rows:
        _beneficiary(rows, roles, months, data_end, h)
    return months


def _beneficiary(rows, roles, months, data_end, h):
    """Fold one beneficiary's acts (sorted by date) into the monthly counters."""
    seen_months = set()
    entered_years = set()
    l2_days, l12_days, project_days, impl_days, uo0_days, all_days = [], [], [], [], [], []
    for _, day, uo_id, *_rest in rows:
        role = roles.get(uo_id, ("?", "other"))[1]
        all_days.append(day)
        if role == "uo0":
            uo0_days.append(day)
        elif role == "level1":
            l12_days.append(day)
        elif role in ("project", "implementation"):
            l12_days.append(day)
            l2_days.append(day)
            (project_days if role == "project" else impl_days).append(day)
    for _, day, uo_id, mode, csp, sector, sex, age_band in rows:
        code, role = roles.get(uo_id, ("?", "other"))
        p = period_of(day)
        m = months[p]
        m.acts += 1
        m.by_uo[code] += 1
        if mode in REMOTE_MODES:
            m.remote += 1
        if p not in seen_months:
            seen_months.add(p)
            m.bens += 1
        if role in ("level1", "project", "implementation") and day.year not in entered_years:
            entered_years.add(day.year)
            m.entries += 1
            for key, value in (("csp", csp), ("sector", sector), ("sex", sex), ("age_band", age_band)):
                if value:
                    m.profile[key][value] += 1
        if role == "uo0":
            if _mature(day, h.information_only_days, data_end):
                m.uo0 += 1
                if not _any_between(l12_days, day, day + timedelta(days=h.information_only_days)):
                    m.uo0_alone += 1
        elif role == "level1":
            i = bisect_right(uo0_days, day)
            if i:
                prior = uo0_days[i - 1]
                if (day - prior).days <= h.pathway_gap_days:
                    m.delay[str((day - prior).days)] += 1
            if _mature(day, h.level2_days, data_end):
                m.l1 += 1
                if not _any_between(l2_days, day, day + timedelta(days=h.level2_days)):
                    m.l1_alone += 1
        elif role in ("project", "implementation"):
            if not _any_between(l2_days, day - timedelta(days=h.pathway_gap_days), day, right_open=True):
                m.l2_starts += 1
                if role == "implementation" and not _any_between(project_days, date.min, day):
                    m.l2_impl += 1
            if role == "project":
                m.project += 1
                start = all_days[bisect_left(all_days, day - timedelta(days=h.pathway_gap_days))]
                if (day - start).days < h.short_pathway_days:
                    m.project_short += 1
                if _mature(day, h.implementation_days, data_end):
                    m.project_cohort += 1
                    if _any_between(impl_days, day, day + timedelta(days=h.implementation_days)):
                        m.project_followed += 1


def _mature(day, horizon, data_end):
    return data_end is None or month_end(period_of(day)) + timedelta(days=horizon) <= data_end


def _any_between(days, low, high, right_open=False):
    """Is there a day in sorted ``days`` with low <= d <= high (d < high if right_open)?"""
    i = bisect_left(days, low)
    if i >= len(days):
        return False
    return days[i] < high if right_open else days[i] <= high


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


def rebuild_lot(lot_id, roles=None):
    """Replace the lot's aggregates; returns the number of months written."""
    db.session.flush()
    roles = roles or uo_roles()
    reporting = _reporting(lot_id)
    validated_periods = sorted(p for p, (ok, _) in reporting.items() if ok)
    data_end = month_end(validated_periods[-1]) if validated_periods else None
    h = horizons_of(db.session.get(Lot, lot_id))
    months = compute_lot(lot_id, roles, data_end, h)
    figures = _figures(lot_id)
    extra = defaultdict(dict)
    for provider in PROVIDERS.values():
        for period, values in provider(lot_id).items():
            extra[period].update(values)
    periods = set(months) | set(figures) | set(reporting) | set(extra)
    now = utcnow()
    rows = []
    for p in sorted(periods):
        m = months.get(p) or _Month()
        f = figures.get(p)
        validated, days_late = reporting.get(p, (False, None))
        mature_uo0 = data_end is not None and _mature(month_end(p), h.information_only_days, data_end)
        mature_l1 = data_end is not None and _mature(month_end(p), h.level2_days, data_end)
        mature_project = data_end is not None and _mature(month_end(p), h.implementation_days, data_end)
        row = {
            "lot_id": lot_id, "period": p, "year": int(p[:4]), "month": int(p[5:7]),
            "acts": m.acts, "acts_by_uo": dict(m.by_uo) or None, "remote_acts": m.remote,
            "beneficiaries": m.bens, "entries": m.entries,
            "delay_hist": dict(m.delay) or None, "delay_count": sum(m.delay.values()),
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
        rows.append(row)
    db.session.execute(sa.delete(LotMonthStat).where(LotMonthStat.lot_id == lot_id))
    if rows:
        db.session.execute(sa.insert(LotMonthStat), rows)
    return len(rows)


def rebuild_all(lot_ids=None):
    roles = uo_roles()
    if lot_ids is None:
        lot_ids = db.session.scalars(sa.select(Lot.id).order_by(Lot.number)).all()
    return {lot_id: rebuild_lot(lot_id, roles) for lot_id in lot_ids}
