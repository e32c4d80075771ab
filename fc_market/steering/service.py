"""Steering: indicators per lot and national, flags (open, follow, clear, notify), packs.

Dashboards read the pre-aggregated :class:`LotMonthStat` rows (updated inside the
``report.validated`` / ``report.superseded`` / ``control.closed`` events from the changed
versions only, rebuilt by the nightly job and ``flask steering rebuild``), the coverage of
the sites (cached by the territory service) and a few small queries; they never scan the
acts.
"""
from __future__ import annotations

import hashlib
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from types import SimpleNamespace

import sqlalchemy as sa
from flask import has_request_context, url_for
from sqlalchemy.orm import selectinload

from fc_market import events
from fc_market.extensions import db
from fc_market.market.models import FlagRule, Lot, LotTarget
from fc_market.models_base import utcnow
from fc_market.market.service import current_market
from fc_market.market.terms import terms_of
from fc_market.reporting.models import Report, ReportVersion, VersionStatus
from fc_market.steering import aggregates
from fc_market.steering.indicators import (INDICATORS, NONE, WINDOW_MONTHS, LotView, NationalView,
                                           Reading, breached,
                                           months_back, to_decimal)
from fc_market.territory.population import lot_population
from fc_market.steering.models import (Flag, FlagReading, LotMonthStat, SteeringPack,
                                       SteeringRefresh)

log = logging.getLogger(__name__)

#: Columns of the national dashboard, in order
DASHBOARD_GROUPS = (
    ("Volume", ("entries_ytd", "target_achievement", "forecast_achievement", "entries_per_1000")),
    ("Accès", ("coverage_share",)),
    ("Qualité", ("satisfaction_l1", "satisfaction_l2", "usefulness", "median_delay_days",
                 "remote_share", "complaints_per_1000")),
    ("Contrôle et reporting", ("csf_nonconformity", "reporting_days_late")),
)
DASHBOARD_COLUMNS = tuple(key for _, keys in DASHBOARD_GROUPS for key in keys)
#: Rows of the lot scorecard (monthly values)
MONTHLY_ROWS = ("entries", "satisfaction_l1", "satisfaction_l2", "usefulness", "median_delay_days",
                "remote_share", "complaints_per_1000", "abandonment_rate", "information_only_share",
                "implementation_start_share", "short_pathway_share", "csf_nonconformity")
SUM_FIELDS = ("acts", "remote_acts", "beneficiaries", "entries", "delay_count", "uo0_cohort",
              "uo0_no_followup", "l1_cohort", "l1_no_level2", "l2_starts",
              "l2_starts_implementation", "project_acts", "project_short", "project_cohort",
              "project_followed", "l1_respondents", "l1_satisfied", "l2_respondents",
              "l2_satisfied", "usefulness_respondents", "usefulness_useful", "complaints",
              "csf_judged", "csf_nonconforming")

#: Indicators fed by other modules: name -> function(lots, today) -> {lot_id: Reading}
READING_PROVIDERS = {}


# --------------------------------------------------------------------------- periods

def latest_validated_period():
    return db.session.scalar(sa.select(sa.func.max(LotMonthStat.period))
                             .where(LotMonthStat.validated.is_(True)))


def last_month_of(today):
    previous = today.replace(day=1) - timedelta(days=1)
    return f"{previous.year:04d}-{previous.month:02d}"


def reference_period(today=None):
    """The latest month with a validated report in the market; last month when none."""
    today = today or date.today()
    last_month = last_month_of(today)
    latest = db.session.scalar(sa.select(sa.func.max(LotMonthStat.period)).where(
        LotMonthStat.validated.is_(True), LotMonthStat.period <= last_month))
    return latest or last_month


def lot_references(lot_ids, today=None):
    """{lot_id: the lot's own last validated month (YYYY-MM, up to last month)}; a lot with
    no validated month is absent.  Each lot's figures read up to this month: validating one
    lot's month moves no other lot's figures."""
    last_month = last_month_of(today or date.today())
    return dict(db.session.execute(
        sa.select(LotMonthStat.lot_id, sa.func.max(LotMonthStat.period))
        .where(LotMonthStat.lot_id.in_(list(lot_ids)), LotMonthStat.validated.is_(True),
               LotMonthStat.period <= last_month)
        .group_by(LotMonthStat.lot_id)).all())


def months_note(lots, references):
    """« mai 2025 (16 lots), avril 2025 (IDF, BRE) » : which month each lot is read up to."""
    from fc_market.formatting import month
    by_month = defaultdict(list)
    for lot in lots:
        by_month[references.get(lot.id)].append(lot.code)
    parts = []
    for period in sorted((p for p in by_month if p), reverse=True):
        codes = by_month[period]
        who = f"{len(codes)} lots" if len(codes) > 3 else ", ".join(codes)
        parts.append(f"{month(period)} ({who})")
    if by_month.get(None):
        parts.append("aucun mois validé (" + ", ".join(by_month[None]) + ")")
    return " ; ".join(parts)


def reporting_lateness(lots, today):
    """{lot_id: Reading} days late of the latest report due (today − due date when it is
    still not submitted) and of any report of the last twelve months still missing."""
    from fc_market.reporting.service import deadline  # the contract's reporting day
    submitted = defaultdict(dict)
    stmt = (sa.select(Report.lot_id, Report.period, sa.func.min(ReportVersion.days_late))
            .join(ReportVersion, ReportVersion.report_id == Report.id)
            .where(ReportVersion.submitted_at.is_not(None), Report.lot_id.in_([l.id for l in lots]))
            .group_by(Report.lot_id, Report.period))
    for lot_id, period, late in db.session.execute(stmt):
        submitted[lot_id][period] = late or 0
    out = {}
    current = f"{today.year:04d}-{today.month:02d}"
    for lot in lots:
        contract = lot.contract
        if contract is None:
            out[lot.id] = NONE
            continue
        start = f"{contract.start_date.year:04d}-{contract.start_date.month:02d}"
        due = [p for p in months_back(current, 13)
               if p >= start and deadline(lot, p) < today]
        if not due:
            out[lot.id] = Reading(None, None, "aucun reporting encore dû")
            continue
        worst, detail = 0, "à l'heure"
        for p in due:
            d = deadline(lot, p)
            if p in submitted[lot.id]:
                late = submitted[lot.id][p] if p == due[-1] else 0
                what = f"{p} déposé avec {late} jour(s) de retard"
            else:
                late = (today - d).days
                what = f"{p} non déposé, attendu le {d:%d/%m/%Y}"
            if late > worst:
                worst, detail = late, what
        out[lot.id] = Reading(float(worst), None, detail)
    return out


def _payment_delay(lots, today):
    """Longest payment time (days from receipt to payment, :func:`billing.payment_clock`) of
    the lot's invoices of the last twelve months: still unpaid ones count until today."""
    try:
        from fc_market.billing import service as billing
        from fc_market.billing.models import Invoice, InvoiceStatus, Reconciliation
    except ImportError:  # billing absent: indicator not available
        return {}
    stmt = (sa.select(Invoice).where(Invoice.kind == "invoice",
                                     Invoice.status != InvoiceStatus.REJECTED,
                                     Invoice.lot_id.in_([l.id for l in lots]),
                                     Invoice.received_on >= today - timedelta(days=365))
            .options(selectinload(Invoice.reconciliations).selectinload(Reconciliation.payment),
                     selectinload(Invoice.credit_notes), selectinload(Invoice.interruption),
                     selectinload(Invoice.statement)))
    worst = defaultdict(lambda: (0, 0))
    for inv in db.session.scalars(stmt):
        clock = billing.payment_clock(inv, today)
        if clock is None:
            continue
        days = clock.delay_days
        value, count = worst[inv.lot_id]
        worst[inv.lot_id] = (max(value, days), count + 1)
    return {lot_id: Reading(float(v), n, f"{n} facture(s) sur douze mois") for lot_id, (v, n) in worst.items()}


READING_PROVIDERS["payment_delay_days"] = _payment_delay


# --------------------------------------------------------------------------- views

def _categories():
    try:
        from fc_market.reporting import dictionary
        return {"csp": len(dictionary.CSP), "sector": len(dictionary.SECTORS),
                "age_band": len(dictionary.AGE_BANDS)}
    except (ImportError, AttributeError):
        return {}


@dataclass
class Snapshot:
    """Everything the dashboards need, loaded in a handful of queries."""
    today: date
    reference: str
    lots: list
    views: dict                     # lot_id -> LotView
    national: LotView
    coverage: dict                  # lot_id -> LotCoverage
    rules: list
    #: Which month each lot is read up to, in French (national figures sum them)
    months_note: str = ""
    open_flags: dict = field(default_factory=dict)   # lot_id -> {indicator: Flag}

    @property
    def year(self):
        return int(self.reference[:4])


def load_stats(lot_ids, since=None):
    stmt = sa.select(LotMonthStat).where(LotMonthStat.lot_id.in_(lot_ids))
    if since:
        stmt = stmt.where(LotMonthStat.period >= since)
    by_lot = defaultdict(list)
    for row in db.session.scalars(stmt.order_by(LotMonthStat.period)):
        by_lot[row.lot_id].append(row)
    return by_lot


def combine(rows_by_lot):
    """Sum the monthly rows of several lots into national rows (plain objects)."""
    merged = {}
    for rows in rows_by_lot:
        for r in rows:
            m = merged.get(r.period)
            if m is None:
                m = merged[r.period] = SimpleNamespace(
                    period=r.period, year=r.year, month=r.month, delay_hist={}, profile={},
                    validated=True, days_late=None, acts_by_uo={},
                    **{f: (0 if f not in ("uo0_cohort", "uo0_no_followup", "l1_cohort",
                                          "l1_no_level2", "project_cohort", "project_followed")
                           else None) for f in SUM_FIELDS})
            for f in SUM_FIELDS:
                value = getattr(r, f)
                if value is not None:
                    setattr(m, f, (getattr(m, f) or 0) + value)
            for k, v in (r.delay_hist or {}).items():
                m.delay_hist[k] = m.delay_hist.get(k, 0) + v
            for k, v in (r.acts_by_uo or {}).items():
                m.acts_by_uo[k] = m.acts_by_uo.get(k, 0) + v
            for key, counts in (r.profile or {}).items():
                target = m.profile.setdefault(key, {})
                for k, v in counts.items():
                    target[k] = target.get(k, 0) + v
    return [merged[p] for p in sorted(merged)]


def national_target(targets):
    """Sum of the lots' targets, with the combined monthly profile."""
    if not targets:
        return None
    from fc_market.steering.indicators import profile_weights
    entries = sum(t.entries for t in targets)
    curve = [0.0] * 12
    for t in targets:
        for i, w in enumerate(profile_weights(t.monthly_profile)):
            curve[i] += t.entries * w
    given = any(t.monthly_profile for t in targets)
    profile = [round(c * 1000) for c in curve] if entries and given else None
    return SimpleNamespace(entries=entries, monthly_profile=profile, year=targets[0].year)


def snapshot(lots=None, today=None, *, history_years=1, with_providers=False):
    """Build the indicator views of ``lots`` (all visible lots by default)."""
    from fc_market.territory import service as territory
    today = today or date.today()
    market = current_market()
    if lots is None:
        lots = db.session.scalars(sa.select(Lot).order_by(Lot.number)
                                  .options(selectinload(Lot.contract))).all()
    lot_ids = [l.id for l in lots]
    references = lot_references(lot_ids, today)
    # the market's latest validated month (headings, national window); each lot reads its own
    reference = max(references.values(), default=None) or last_month_of(today)
    own = {lot.id: references.get(lot.id, reference) for lot in lots}
    first_year = min([int(p[:4]) for p in own.values()] or [int(reference[:4])])
    since = f"{first_year - history_years:04d}-01"
    stats = load_stats(lot_ids, since)
    years = {int(p[:4]) for p in own.values()}
    targets = {(t.lot_id, t.year): t for t in db.session.scalars(sa.select(LotTarget).where(
        LotTarget.lot_id.in_(lot_ids), LotTarget.year.in_(years or {int(reference[:4])})))}
    coverage = territory.all_coverage(lots, today)
    lateness = reporting_lateness(lots, today)
    extra = defaultdict(dict)
    for lot_id, reading in lateness.items():
        extra[lot_id]["reporting_days_late"] = reading
    if with_providers:
        for name, provider in READING_PROVIDERS.items():
            for lot_id, reading in provider(lots, today).items():
                extra[lot_id][name] = reading
    categories = _categories()
    windows = {lot.id: terms_of(lot, today).steering.indicator_window_months for lot in lots}
    views = {lot.id: LotView(lot, stats.get(lot.id, []), own[lot.id],
                             targets.get((lot.id, int(own[lot.id][:4]))),
                             coverage[lot.id].rule.share, extra[lot.id], categories,
                             window_months=windows[lot.id],
                             validated_until=references.get(lot.id))
             for lot in lots}
    covered = sum(c.rule.covered_population for c in coverage.values())
    total = sum(c.rule.total_population for c in coverage.values())
    pseudo = SimpleNamespace(code="FR", name="National",
                             population=sum(lot_population(l) for l in lots))
    late = [r.value for r in lateness.values() if r.value is not None]
    note = months_note(lots, references)
    national = NationalView(pseudo, combine(stats.get(i, []) for i in lot_ids), reference,
                            national_target([targets[(i, int(reference[:4]))] for i in lot_ids
                                             if (i, int(reference[:4])) in targets]),
                            covered / total if total else None,
                            {"reporting_days_late": Reading(max(late) if late else None, None,
                                                            "lot le plus en retard")}, categories,
                            lot_views=list(views.values()), months=note,
                            # the lots' common window (the longest if a contract differs)
                            window_months=max(windows.values(), default=WINDOW_MONTHS))
    rules = list(market.flag_rules) if market else []
    snap = Snapshot(today, reference, lots, views, national, coverage, rules, months_note=note)
    flags = db.session.scalars(sa.select(Flag).where(Flag.cleared_on.is_(None),
                                                     Flag.lot_id.in_(lot_ids))
                               .options(selectinload(Flag.rule))).all()
    for f in flags:
        snap.open_flags.setdefault(f.lot_id, {}).setdefault(f.rule.indicator, f)
    return snap


def lapsed_flag(snap, lot_id, indicator, reading):
    """The open flag of an indicator that has no value any more (its data left the window
    read, e.g. no closed control for twelve months): the flag stays open on its last
    reading, which screens show with its date rather than a dash."""
    if reading.value is not None:
        return None
    return (snap.open_flags.get(lot_id) or {}).get(indicator)


def cell_class(snap, lot_id, indicator, reading):
    if lot_id in snap.open_flags and indicator in snap.open_flags[lot_id]:
        return "bad"
    rule = next((r for r in snap.rules if r.indicator == indicator), None)
    if rule is not None and reading.known and reading.sample is not None and reading.sample < rule.min_sample:
        return "small"
    return ""


# --------------------------------------------------------------------------- flags

@dataclass
class EvaluationResult:
    opened: list = field(default_factory=list)
    cleared: list = field(default_factory=list)
    kept: int = 0
    suppressed: list = field(default_factory=list)   # (lot code, rule code, sample)
    unavailable: set = field(default_factory=set)    # rule codes without a value

    def summary(self):
        return (f"{len(self.opened)} signalement(s) ouvert(s), {len(self.cleared)} levé(s), "
                f"{self.kept} maintenu(s), {len(self.suppressed)} non déclenché(s) faute "
                f"d'échantillon suffisant")


def evaluate(today=None, lot_ids=None, *, notify_new=True):
    """Recompute every rule for every lot (or ``lot_ids``): open, update or clear flags."""
    today = today or date.today()
    lots = db.session.scalars(sa.select(Lot).order_by(Lot.number)
                              .options(selectinload(Lot.contract))).all()
    if lot_ids is not None:
        lots = [l for l in lots if l.id in set(lot_ids)]
    result = EvaluationResult()
    if not lots:
        return result
    snap = snapshot(lots, today, with_providers=True)
    open_flags = {(f.rule_id, f.lot_id): f for f in db.session.scalars(
        sa.select(Flag).where(Flag.cleared_on.is_(None), Flag.lot_id.in_([l.id for l in lots]))
        .options(selectinload(Flag.readings)))}
    for lot in lots:
        view = snap.views[lot.id]
        for rule in snap.rules:
            reading = view.read(rule.indicator)
            flag = open_flags.get((rule.id, lot.id))
            if not reading.known:
                result.unavailable.add(rule.code)
                if flag is not None:
                    result.kept += 1
                continue
            hit = breached(rule.comparison, reading.value, rule.threshold)
            enough = reading.sample is None or reading.sample >= rule.min_sample
            value = to_decimal(reading.value)
            if flag is None:
                if hit and enough:
                    result.opened.append(_open(lot, rule, reading, value, today, notify_new))
                elif hit:
                    result.suppressed.append((lot.code, rule.code, reading.sample))
                continue
            if not hit and enough:
                flag.cleared_on = today
                result.cleared.append(flag)
            else:
                result.kept += 1
            _read(flag, value, reading, hit, today)
            flag.threshold = rule.threshold
    db.session.flush()
    return result


def _open(lot, rule, reading, value, today, notify_new):
    flag = Flag(rule_id=rule.id, lot_id=lot.id, opened_on=today, opening_value=value, value=value,
                threshold=rule.threshold, sample=reading.sample, detail=reading.detail[:1000],
                evaluated_on=today)
    flag.readings.append(FlagReading(read_on=today, value=value, sample=reading.sample, breached=True))
    db.session.add(flag)
    db.session.flush()
    if notify_new:
        from fc_market.notifications.service import notify_lot_manager
        indicator = INDICATORS.get(rule.indicator)
        shown = format_value(rule.indicator, reading.value)
        link = None
        if has_request_context():
            link = url_for("steering.flag", flag_id=flag.id)
        else:
            link = f"/pilotage/signalements/{flag.id}"
        notify_lot_manager(lot, kind="steering.flag", subject=f"Lot {lot.code} : {rule.label}",
               body=(f"Nouveau signalement sur le lot {lot.code} ({lot.name}) le {today:%d/%m/%Y}.\n"
                     f"Règle : {rule.label} ({rule.code}).\n"
                     f"{indicator.label if indicator else rule.indicator} : {shown} "
                     f"(seuil {'plancher' if rule.comparison == 'below' else 'plafond'} "
                     f"{format_value(rule.indicator, float(rule.threshold))}).\n{reading.detail}"),
               link=link, dedup_key=f"steering.flag:{flag.id}")
    return flag


def _read(flag, value, reading, hit, today):
    last = flag.readings[-1] if flag.readings else None
    flag.value = value
    flag.sample = reading.sample
    flag.detail = reading.detail[:1000]
    flag.evaluated_on = today
    if last is None or last.value != value or last.sample != reading.sample or last.breached != hit:
        flag.readings.append(FlagReading(read_on=today, value=value, sample=reading.sample,
                                         breached=hit))


def trend(flag):
    """improving, worsening or stable from the last two distinct readings."""
    values = [r.value for r in flag.readings]
    if len(values) < 2 or values[-1] == values[-2]:
        return "stable"
    up = values[-1] > values[-2]
    good_up = flag.rule.comparison == "below"
    return "improving" if up == good_up else "worsening"


TREND_LABELS = {"improving": "s'améliore", "worsening": "se dégrade", "stable": "stable"}


def format_value(indicator, value):
    from fc_market.formatting import number, percent
    if value is None:
        return "—"
    kind = INDICATORS[indicator].kind if indicator in INDICATORS else "number"
    if kind == "percent":
        return percent(value)
    if kind == "days":
        return f"{number(value, 0)} j"
    if kind == "count":
        return number(value, 0)
    return number(value, 2)


def flags_query(lot_ids=None, open_only=True):
    stmt = (sa.select(Flag).options(selectinload(Flag.rule), selectinload(Flag.lot),
                                    selectinload(Flag.readings))
            .order_by(Flag.cleared_on.is_not(None), Flag.opened_on.desc(), Flag.id.desc()))
    if open_only:
        stmt = stmt.where(Flag.cleared_on.is_(None))
    if lot_ids is not None:
        stmt = stmt.where(Flag.lot_id.in_(lot_ids))
    return stmt


def flags_json(flags):
    return [{"lot": f.lot.code, "rule": f.rule.code, "category": f.rule.category,
             "label": f.rule.label, "indicator": f.rule.indicator,
             "comparison": f.rule.comparison, "value": float(f.value),
             "threshold": float(f.threshold), "sample": f.sample,
             "opened_on": f.opened_on.isoformat(),
             "cleared_on": f.cleared_on.isoformat() if f.cleared_on else None,
             "trend": trend(f), "detail": f.detail,
             "history": [{"date": r.read_on.isoformat(), "value": float(r.value), "sample": r.sample}
                         for r in f.readings]} for f in flags]


# --------------------------------------------------------------------------- refresh

#: When a lot's aggregates cannot be updated from the changed versions only (stale, or the
#: lot waits for the job), lots with at most this many acts are rebuilt inside the
#: validating transaction; larger ones are queued for the ``steering.refresh`` job (every
#: minute).
SYNC_MAX_ACTS = 20_000


def refresh_lot(lot_id, today=None):
    """Rebuild a lot's aggregates and re-evaluate its flags (inside the caller's transaction)."""
    aggregates.rebuild_lot(lot_id)
    db.session.execute(sa.delete(SteeringRefresh).where(SteeringRefresh.lot_id == lot_id))
    return evaluate(today, [lot_id])


def request_refresh(lot_id, reason, queue=False):
    """Refresh now when the lot is small enough (unless ``queue``), else queue it; returns
    "sync" or "queued"."""
    from flask import current_app
    from fc_market.reporting.models import Act
    limit = current_app.config.get("STEERING_SYNC_MAX_ACTS", SYNC_MAX_ACTS)
    db.session.flush()
    count = 0 if queue else db.session.scalar(
        sa.select(sa.func.count()).select_from(Act).where(Act.lot_id == lot_id))
    if not queue and count <= limit:
        refresh_lot(lot_id)
        return "sync"
    if db.session.scalar(sa.select(SteeringRefresh.id).where(SteeringRefresh.lot_id == lot_id)) is None:
        db.session.add(SteeringRefresh(lot_id=lot_id, reason=reason[:64]))
        db.session.flush()
    return "queued"


def rebuild_everything(today=None):
    """Rebuild every lot's aggregates, empty the refresh queue, evaluate every rule."""
    counts = aggregates.rebuild_all()
    db.session.execute(sa.delete(SteeringRefresh))
    return counts, evaluate(today)


#: Seconds of work one run of the ``steering.refresh`` job allows itself before leaving the
#: remaining lots to the next run (every minute): a full recompute then shows its progress
REFRESH_JOB_BUDGET_S = 20
MANUAL_REASON = "recalcul demandé"


def process_queue(today=None, budget_s=None):
    """Rebuild the queued lots, oldest request first (the ``steering.refresh`` job), until
    ``budget_s`` seconds have been spent; returns how many were rebuilt.  At least one lot is
    rebuilt per run, so the queue always drains."""
    budget = REFRESH_JOB_BUDGET_S if budget_s is None else budget_s
    started = time.monotonic()
    queued = db.session.scalars(sa.select(SteeringRefresh)
                                .order_by(SteeringRefresh.requested_at, SteeringRefresh.id)).all()
    done = 0
    for request in queued:
        if done and time.monotonic() - started >= budget:
            break
        refresh_lot(request.lot_id, today)
        done += 1
    return done


def request_full_rebuild(reason=MANUAL_REASON):
    """Queue every lot for the ``steering.refresh`` job ("Recalculer maintenant" returns at
    once); returns the number of lots waiting."""
    waiting = set(db.session.scalars(sa.select(SteeringRefresh.lot_id)))
    lot_ids = db.session.scalars(sa.select(Lot.id).order_by(Lot.number)).all()
    for lot_id in lot_ids:
        if lot_id not in waiting:
            db.session.add(SteeringRefresh(lot_id=lot_id, reason=reason[:64]))
    db.session.flush()
    return len(set(lot_ids) | waiting)


def queued_lots():
    return db.session.scalars(sa.select(Lot.code).join(SteeringRefresh, SteeringRefresh.lot_id == Lot.id)
                              .order_by(Lot.number)).all()


def refresh_changes(lot_id, added=(), removed=(), reason="report.validated", today=None):
    """After ``added`` versions were validated and ``removed`` ones superseded (or a control
    campaign closed: neither), bring the lot's aggregates up to date from the changed versions
    only (:func:`aggregates.apply_versions`, inside the caller's transaction) and re-evaluate
    its flags; a lot waiting for the refresh job, or whose stored aggregates are not those of
    the state before, is refreshed by :func:`request_refresh` instead.  Returns
    "incremental", "sync" or "queued"."""
    db.session.flush()
    if db.session.scalar(sa.select(SteeringRefresh.id).where(SteeringRefresh.lot_id == lot_id)) is None:
        if aggregates.apply_versions(lot_id, added, removed) is not None:
            evaluate(today, [lot_id])
            return "incremental"
    return request_refresh(lot_id, reason)


#: session.info key: versions superseded by a correction whose own ``report.validated`` is
#: still to come ({report_id: {version ids}}): both are applied together then
_SUPERSEDED = "steering.superseded"


@events.on("report.validated")
def _on_report_validated(version):
    pending = db.session.info.get(_SUPERSEDED, {}).pop(version.report_id, set())
    removed = set(db.session.scalars(sa.select(ReportVersion.id).where(
        ReportVersion.id.in_(sorted(pending)),
        ReportVersion.status == VersionStatus.SUPERSEDED))) if pending else set()
    return refresh_changes(version.lot_id, [version.id], removed, "report.validated")


@events.on("report.superseded")
def _on_report_superseded(version):
    db.session.flush()
    replaced = db.session.scalar(sa.select(ReportVersion.id).where(
        ReportVersion.report_id == version.report_id, ReportVersion.id != version.id,
        ReportVersion.status == VersionStatus.VALIDATED))
    if replaced is not None:
        # its correction is validated in the same unit of work: report.validated follows
        db.session.info.setdefault(_SUPERSEDED, {}).setdefault(version.report_id, set()).add(version.id)
        return
    refresh_changes(version.lot_id, (), [version.id], "report.superseded")


@events.on("control.closed")
def _on_control_closed(campaign):
    refresh_changes(campaign.lot_id, (), (), "control.closed")


#: Reason queued when a contract file changes the steering terms of a lot
TERMS_REASON = "conditions du contrat modifiées"


@events.on("contract.terms_changed")
def _on_terms_changed(lot_ids):
    """The horizons the stored aggregates were computed with are no longer those in force:
    the lots are rebuilt whole (queued for the ``steering.refresh`` job)."""
    for lot_id in lot_ids:
        if db.session.scalar(sa.select(LotMonthStat.id).where(LotMonthStat.lot_id == lot_id)
                             .limit(1)) is not None:
            request_refresh(lot_id, TERMS_REASON, queue=True)


# --------------------------------------------------------------------------- packs

def store_pack(content, period, trigger, user=None):
    pack = SteeringPack(period=period, trigger=trigger, generated_by_id=getattr(user, "id", None),
                        filename=f"dossier-pilotage-{period}.xlsx", size=len(content),
                        sha256=hashlib.sha256(content).hexdigest(), content=content,
                        generated_at=utcnow())
    db.session.add(pack)
    db.session.flush()
    return pack
