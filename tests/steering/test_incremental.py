"""The refresh after a validation updates only what the changed versions move: its rows must
be exactly those of a full rebuild, and the fast fold's exactly those of the original one.

Random histories (hypothesis): months validated in any order, corrections that supersede a
validated version (acts kept, moved, dropped, added), versions left submitted, acts outside
their month, several acts of a beneficiary on one day with different profiles, UO outside
the pathway.  After every step the stored rows are compared, column by column, with those
:func:`rebuild_lot` writes and with a reference copy of the original (slow) computation.
"""
from __future__ import annotations

import calendar
import random
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fc_market import events
from fc_market.extensions import db
from fc_market.market.models import Lot, UnitOfWork
from fc_market.reporting.models import Act, LotFigures, Report, ReportVersion, VersionStatus
from fc_market.steering import aggregates, service
from fc_market.steering.models import LotMonthStat, SteeringRefresh
from tests.billing.helpers import move
from tests.conftest import restore, wipe_database

#: Fourteen months (the contract's prices start in January 2024: acts dated up to 40 days
#: before their month stay billable)
PERIODS = [f"2024-{m:02d}" for m in range(3, 13)] + [f"2025-{m:02d}" for m in range(1, 5)]
BENEFICIARIES = [f"P{i}" for i in range(9)]
CODES = ("UO0", "UO0", "UO1", "UO1", "UO2.1", "UO2.2", "UO4")
MODES = ("presentiel", "telephone", "visio")
IGNORED = ("id", "computed_at")


# --------------------------------------------------------------------------- reference

def _period_of(day):
    return f"{day.year:04d}-{day.month:02d}"


def _month_end(period):
    year, month = int(period[:4]), int(period[5:7])
    return date(year, month, calendar.monthrange(year, month)[1])


def _mature(day, horizon, data_end):
    return data_end is None or _month_end(_period_of(day)) + timedelta(days=horizon) <= data_end


def _any_between(days, low, high, right_open=False):
    i = bisect_left(days, low)
    if i >= len(days):
        return False
    return days[i] < high if right_open else days[i] <= high


class _RefMonth:
    def __init__(self):
        self.acts = self.remote = self.entries = self.bens = 0
        self.by_uo, self.delay = Counter(), Counter()
        self.uo0 = self.uo0_alone = self.l1 = self.l1_alone = 0
        self.l2_starts = self.l2_impl = self.project = self.project_short = 0
        self.project_cohort = self.project_followed = 0
        self.profile = {k: Counter() for k in aggregates.PROFILE_KEYS}


def _ref_beneficiary(rows, roles, months, data_end, h):
    """The original fold (before the fast one), verbatim but for the names."""
    seen_months, entered_years = set(), set()
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
        p = _period_of(day)
        m = months[p]
        m.acts += 1
        m.by_uo[code] += 1
        if mode in aggregates.REMOTE_MODES:
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


def reference_rows(lot_id):
    """{period: columns} as the original rebuild computed them (ORM rows, dates, strings)."""
    roles = aggregates.uo_roles()
    reporting = aggregates._reporting(lot_id)
    validated = sorted(p for p, (ok, _) in reporting.items() if ok)
    data_end = _month_end(validated[-1]) if validated else None
    h = aggregates.horizons_of(db.session.get(Lot, lot_id))
    stmt = (sa.select(Act.beneficiary_id, Act.act_date, Act.uo_id, Act.mode, Act.csp, Act.sector,
                      Act.sex, Act.age_band)
            .join(ReportVersion, ReportVersion.id == Act.version_id)
            .where(Act.lot_id == lot_id, ReportVersion.status == VersionStatus.VALIDATED)
            .order_by(Act.beneficiary_id, Act.act_date, Act.id))
    months = defaultdict(_RefMonth)
    by_ben = defaultdict(list)
    for row in db.session.execute(stmt):
        by_ben[row[0]].append(tuple(row))
    for rows in by_ben.values():
        _ref_beneficiary(rows, roles, months, data_end, h)
    figures = aggregates._figures(lot_id)
    extra = aggregates._extra(lot_id)
    out = {}
    for p in sorted(set(months) | set(figures) | set(reporting) | set(extra)):
        m = months.get(p) or _RefMonth()
        f = figures.get(p)
        ok, late = reporting.get(p, (False, None))
        mature = {k: data_end is not None and _mature(_month_end(p), getattr(h, k), data_end)
                  for k in ("information_only_days", "level2_days", "implementation_days")}
        row = {"lot_id": lot_id, "period": p, "year": int(p[:4]), "month": int(p[5:7]),
               "acts": m.acts, "acts_by_uo": dict(m.by_uo) or None, "remote_acts": m.remote,
               "beneficiaries": m.bens, "entries": m.entries,
               "delay_hist": dict(m.delay) or None, "delay_count": sum(m.delay.values()),
               "uo0_cohort": m.uo0 if mature["information_only_days"] else None,
               "uo0_no_followup": m.uo0_alone if mature["information_only_days"] else None,
               "l1_cohort": m.l1 if mature["level2_days"] else None,
               "l1_no_level2": m.l1_alone if mature["level2_days"] else None,
               "l2_starts": m.l2_starts, "l2_starts_implementation": m.l2_impl,
               "project_acts": m.project, "project_short": m.project_short,
               "project_cohort": m.project_cohort if mature["implementation_days"] else None,
               "project_followed": m.project_followed if mature["implementation_days"] else None,
               "profile": {k: dict(v) for k, v in m.profile.items() if v} or None}
        for column in ("l1_respondents", "l1_satisfied", "l2_respondents", "l2_satisfied",
                       "usefulness_respondents", "usefulness_useful", "complaints"):
            row[column] = getattr(f, column) if f else 0
        row.update({"csf_judged": 0, "csf_nonconforming": 0, "validated": ok, "days_late": late})
        row.update(extra.get(p, {}))
        out[p] = row
    return out


def stored_rows(lot_id):
    table = LotMonthStat.__table__
    return {row.period: {c: v for c, v in row._mapping.items() if c not in IGNORED}
            for row in db.session.execute(sa.select(table).where(table.c.lot_id == lot_id))}


def assert_same(actual, expected):
    assert sorted(actual) == sorted(expected)
    for period in expected:
        for column, value in expected[period].items():
            assert actual[period][column] == value, (period, column)


# --------------------------------------------------------------------------- histories

def _acts(rng, period, count):
    start = date(int(period[:4]), int(period[5:7]), 1)
    out = []
    for _ in range(count):
        day = start + timedelta(days=rng.randrange(28))
        if rng.random() < 0.1:           # an act dated outside its report's month
            day += timedelta(days=rng.choice((-40, -10, 35)))
        out.append((rng.choice(BENEFICIARIES), rng.choice(CODES), day, rng.choice(MODES),
                    rng.choice(("1", "2", None)), rng.choice(("Q", "C")), rng.choice("FM"),
                    rng.choice(("<26", "26-44", None))))
    return out


def _version(lot, period, acts, status, uos, site_id, figures=None):
    report = db.session.scalar(sa.select(Report).where(Report.lot_id == lot.id, Report.period == period))
    if report is None:
        year, month = int(period[:4]), int(period[5:7])
        ny, nm = (year + 1, 1) if month == 12 else (year, month + 1)
        report = Report(lot_id=lot.id, period=period, period_start=date(year, month, 1),
                        due_on=date(ny, nm, 10))
        db.session.add(report)
        db.session.flush()
    version = ReportVersion(report_id=report.id, lot_id=lot.id, number=len(report.versions) + 1,
                            status=VersionStatus.DRAFT, days_late=len(report.versions) % 3,
                            submitted_at=datetime(2025, 3, 1) + timedelta(days=len(report.versions)),
                            act_count=len(acts))
    db.session.add(version)
    db.session.flush()
    for ben, code, day, mode, csp, sector, sex, age in acts:
        db.session.add(Act(version_id=version.id, lot_id=lot.id, beneficiary_id=ben, uo_id=uos[code],
                           act_date=day, mode=mode, site_id=site_id if mode == "presentiel" else None,
                           csp=csp, sector=sector, sex=sex, age_band=age))
    if figures:
        db.session.add(LotFigures(version_id=version.id, **figures))
    db.session.flush()
    move(version, status)
    version.acts_kept = acts
    return version


def _site(lot):
    from fc_market.territory.models import Site
    site_id = db.session.scalar(sa.select(Site.id).where(Site.lot_id == lot.id).limit(1))
    if site_id is None:
        site = Site(lot_id=lot.id, code="S001", name="Site", commune="Commune",
                    latitude=Decimal("48.1"), longitude=Decimal("2.1"), kind="permanent",
                    opened_on=date(2024, 1, 1))
        db.session.add(site)
        db.session.flush()
        site_id = site.id
    return site_id


def _no_rebuild(*args, **kwargs):
    raise AssertionError("the validation rebuilt the whole lot")


def run_history(rng, steps, via_events):
    lot = db.session.scalar(sa.select(Lot).where(Lot.code == "IDF"))
    uos = {u.code: u.id for u in db.session.scalars(sa.select(UnitOfWork).where(
        UnitOfWork.market_id == lot.market_id))}
    site_id = _site(lot)
    aggregates.rebuild_lot(lot.id)
    validated = {}                                   # period -> version in force
    for _ in range(steps):
        action = rng.random()
        figures = ({"l1_respondents": rng.randint(1, 9), "l1_satisfied": 1, "complaints": rng.randint(0, 2)}
                   if rng.random() < 0.5 else None)
        if validated and action < 0.35:              # a correction of a validated month
            period = rng.choice(sorted(validated))
            old = validated[period]
            kept = [a for a in old.acts_kept if rng.random() < 0.7]
            kept = [(a[0], a[1], a[2] + timedelta(days=rng.choice((0, 0, 1, -3))), *a[3:])
                    for a in kept]
            version = _version(lot, period, kept + _acts(rng, period, rng.randint(0, 4)),
                               VersionStatus.VALIDATED, uos, site_id, figures)
            move(old, VersionStatus.SUPERSEDED)
            added, removed = [version.id], [old.id]
        elif action < 0.45:                           # submitted only: no refresh event
            period = rng.choice(PERIODS)
            if period in validated:
                continue
            _version(lot, period, _acts(rng, period, 2), VersionStatus.SUBMITTED, uos, site_id)
            continue
        else:                                         # a month validated (any order)
            free = [p for p in PERIODS if p not in validated]
            if not free:
                continue
            period = free[0] if rng.random() < 0.6 else rng.choice(free)
            version = _version(lot, period, _acts(rng, period, rng.randint(0, 9)),
                               VersionStatus.VALIDATED, uos, site_id, figures)
            old = None
            added, removed = [version.id], []
        validated[period] = version
        if via_events:
            rebuild, aggregates.rebuild_lot = aggregates.rebuild_lot, _no_rebuild
            try:
                if old is not None:
                    events.emit("report.superseded", old)
                events.emit("report.validated", version)
            finally:
                aggregates.rebuild_lot = rebuild
        else:
            assert aggregates.apply_versions(lot.id, added, removed) is not None
        actual = stored_rows(lot.id)
        assert_same(actual, reference_rows(lot.id))
        aggregates.rebuild_lot(lot.id)
        assert_same(actual, stored_rows(lot.id))
    return lot


#: Horizons short beside the fourteen months (the contract's are months long): the refresh
#: then reads only part of the beneficiaries' history, and many months become mature
SHORT = dict(information_only_days=12, level2_days=25, implementation_days=40,
             short_pathway_days=6, pathway_gap_days=50)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**32), steps=st.integers(3, 18), short=st.booleans())
def test_incremental_refresh_equals_the_full_rebuild(contract_snapshot, seed, steps, short):
    wipe_database()
    restore(contract_snapshot)
    horizons = aggregates.horizons_of
    if short:
        aggregates.horizons_of = lambda lot, day=None: replace(horizons(lot, day), **SHORT)
    try:
        run_history(random.Random(seed), steps, via_events=False)
    finally:
        aggregates.horizons_of = horizons


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**32))
def test_validation_events_refresh_inline_and_exactly(contract_snapshot, seed):
    wipe_database()
    restore(contract_snapshot)
    run_history(random.Random(seed), 10, via_events=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SteeringRefresh)) == 0


def test_stale_aggregates_are_refused_then_rebuilt(contract_snapshot):
    wipe_database()
    restore(contract_snapshot)
    lot = db.session.scalar(sa.select(Lot).where(Lot.code == "IDF"))
    uos = {u.code: u.id for u in db.session.scalars(sa.select(UnitOfWork))}
    site_id = _site(lot)
    rng = random.Random(7)
    first = _version(lot, "2024-03", _acts(rng, "2024-03", 5), VersionStatus.VALIDATED, uos, site_id)
    # nothing stored yet is the state before a lot's first validated version
    assert aggregates.apply_versions(lot.id, [first.id]) is not None
    assert_same(stored_rows(lot.id), reference_rows(lot.id))
    # validated without a refresh: the stored rows are not those before the next change
    _version(lot, "2024-04", _acts(rng, "2024-04", 5), VersionStatus.VALIDATED, uos, site_id)
    third = _version(lot, "2024-05", _acts(rng, "2024-05", 5), VersionStatus.VALIDATED, uos, site_id)
    assert aggregates.apply_versions(lot.id, [third.id]) is None
    assert service.refresh_changes(lot.id, [third.id]) == "sync"
    assert_same(stored_rows(lot.id), reference_rows(lot.id))
    fourth = _version(lot, "2024-06", _acts(rng, "2024-06", 5), VersionStatus.VALIDATED, uos, site_id)
    assert service.refresh_changes(lot.id, [fourth.id]) == "incremental"
    assert_same(stored_rows(lot.id), reference_rows(lot.id))
    # a lot waiting for the refresh job is left to it (or rebuilt when small)
    db.session.add(SteeringRefresh(lot_id=lot.id, reason="test"))
    db.session.flush()
    fifth = _version(lot, "2024-07", _acts(rng, "2024-07", 5), VersionStatus.VALIDATED, uos, site_id)
    assert service.refresh_changes(lot.id, [fifth.id]) == "sync"
    assert_same(stored_rows(lot.id), reference_rows(lot.id))


def test_horizons_changed_since_the_rows_were_computed_force_a_rebuild(contract_snapshot):
    """A dated change of the contract's steering horizons that came into force after the
    stored rows were computed: folding a change with the new horizons into rows built with
    the old ones would mix them, so the lot is rebuilt whole instead."""
    wipe_database()
    restore(contract_snapshot)
    lot = db.session.scalar(sa.select(Lot).where(Lot.code == "IDF"))
    uos = {u.code: u.id for u in db.session.scalars(sa.select(UnitOfWork))}
    site_id = _site(lot)
    rng = random.Random(11)
    first = _version(lot, "2024-03", _acts(rng, "2024-03", 6), VersionStatus.VALIDATED, uos, site_id)
    assert aggregates.apply_versions(lot.id, [first.id]) is not None
    today = date.today()
    level2 = aggregates.horizons_of(lot).level2_days
    # the rows were computed ten days ago; a change in force since five days ago
    db.session.execute(sa.update(LotMonthStat).where(LotMonthStat.lot_id == lot.id)
                       .values(computed_at=datetime.combine(today - timedelta(days=10), datetime.min.time())))
    extra = dict(lot.contract.extra_terms or {})
    extra["changes"] = [{"valid_from": (today - timedelta(days=5)).isoformat(),
                         "values": {"steering.level2_days": level2 + 30}}]
    lot.contract.extra_terms = extra
    db.session.flush()
    assert aggregates.horizons_of(lot).level2_days == level2 + 30
    second = _version(lot, "2024-04", _acts(rng, "2024-04", 6), VersionStatus.VALIDATED, uos, site_id)
    assert aggregates.apply_versions(lot.id, [second.id]) is None
    assert service.refresh_changes(lot.id, [second.id]) == "sync"
    assert_same(stored_rows(lot.id), reference_rows(lot.id))
    # rebuilt today with today's horizons: the next change is incremental again
    third = _version(lot, "2024-05", _acts(rng, "2024-05", 6), VersionStatus.VALIDATED, uos, site_id)
    assert service.refresh_changes(lot.id, [third.id]) == "incremental"
    assert_same(stored_rows(lot.id), reference_rows(lot.id))


def test_a_contract_file_changing_the_horizons_queues_the_lots_it_changes(contract_snapshot, tmp_path):
    from pathlib import Path
    from fc_market.market.contract_file import load_file
    from tests.conftest import DEMO_CONTRACT
    wipe_database()
    restore(contract_snapshot)
    lot = db.session.scalar(sa.select(Lot).where(Lot.code == "IDF"))
    uos = {u.code: u.id for u in db.session.scalars(sa.select(UnitOfWork))}
    site_id = _site(lot)
    rng = random.Random(5)
    first = _version(lot, "2024-03", _acts(rng, "2024-03", 6), VersionStatus.VALIDATED, uos, site_id)
    assert aggregates.apply_versions(lot.id, [first.id]) is not None
    text = Path(DEMO_CONTRACT).read_text(encoding="utf-8")
    # the same file again changes nothing: nothing queued
    load_file(DEMO_CONTRACT)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SteeringRefresh)) == 0
    level2 = aggregates.horizons_of(lot).level2_days
    marker = "[defaults.steering]\n"
    assert marker in text
    changed = tmp_path / "contract.toml"
    if f"level2_days = {level2}" in text:
        changed.write_text(text.replace(f"level2_days = {level2}", f"level2_days = {level2 + 30}", 1),
                           encoding="utf-8")
    else:
        changed.write_text(text.replace(marker, marker + f"level2_days = {level2 + 30}\n", 1),
                           encoding="utf-8")
    load_file(str(changed))
    assert aggregates.horizons_of(lot).level2_days == level2 + 30
    queued = db.session.scalars(sa.select(SteeringRefresh)).all()
    # only the lot with stored aggregates is queued (the others have nothing to rebuild)
    assert [(r.lot_id, r.reason) for r in queued] == [(lot.id, service.TERMS_REASON)]


def test_history_read_for_a_change_keeps_old_project_acts(contract_snapshot):
    """An implementation act with no level-2 act in the pathway gap before it starts level 2
    "at implementation" only if no project act ever came before: the refresh reads that far
    back for project acts, though not for the others."""
    wipe_database()
    restore(contract_snapshot)
    horizons = aggregates.horizons_of
    aggregates.horizons_of = lambda lot, day=None: replace(horizons(lot, day), **SHORT)
    try:
        lot = db.session.scalar(sa.select(Lot).where(Lot.code == "IDF"))
        uos = {u.code: u.id for u in db.session.scalars(sa.select(UnitOfWork).where(
            UnitOfWork.market_id == lot.market_id))}
        aggregates.rebuild_lot(lot.id)
        profile = ("1", "Q", "F", "<26")
        for period, acts in (("2024-03", [("A", "UO2.1", date(2024, 3, 5), "telephone", *profile),
                                          ("B", "UO1", date(2024, 3, 6), "telephone", *profile)]),
                             ("2024-04", [("A", "UO0", date(2024, 4, 2), "telephone", *profile)]),
                             ("2025-03", [("A", "UO2.2", date(2025, 3, 10), "visio", *profile),
                                          ("B", "UO2.2", date(2025, 3, 11), "visio", *profile)])):
            version = _version(lot, period, acts, VersionStatus.VALIDATED, uos, None)
            assert aggregates.apply_versions(lot.id, [version.id]) is not None
            assert_same(stored_rows(lot.id), reference_rows(lot.id))
        march = stored_rows(lot.id)["2025-03"]
        assert (march["l2_starts"], march["l2_starts_implementation"]) == (2, 1)   # B only
    finally:
        aggregates.horizons_of = horizons


def test_reviewer_decisions_refresh_the_lot_from_the_versions_they_change(idf, users, monkeypatch):
    """Through the reviewer's decision (reporting.decide): a month, then its correction, which
    supersedes it; each refresh reads only the changed versions and leaves a rebuild's rows."""
    from fc_market.reporting import service as reporting
    from tests.steering.conftest import make_version
    manager = users["manager"]
    aggregates.rebuild_lot(idf.id)
    monkeypatch.setattr(aggregates, "rebuild_lot", _no_rebuild)
    first = make_version(idf, "2025-03", [("A", "UO0", date(2025, 3, 3), "telephone"),
                                          ("A", "UO1", date(2025, 3, 12), "telephone"),
                                          ("B", "UO1", date(2025, 3, 4), "visio")],
                         figures={"l1_respondents": 10, "l1_satisfied": 8}, status="submitted")
    reporting.decide(first, manager, "validate", None, None)
    assert_same(stored_rows(idf.id), reference_rows(idf.id))
    assert stored_rows(idf.id)["2025-03"]["entries"] == 2
    correction = make_version(idf, "2025-03", [("A", "UO0", date(2025, 3, 3), "telephone"),
                                               ("C", "UO2.1", date(2025, 3, 20), "visio")],
                              figures={"l1_respondents": 12, "l1_satisfied": 9}, status="submitted")
    reporting.decide(correction, manager, "validate", None, None)
    assert first.status == VersionStatus.SUPERSEDED
    rows = stored_rows(idf.id)
    assert_same(rows, reference_rows(idf.id))
    assert (rows["2025-03"]["acts"], rows["2025-03"]["entries"], rows["2025-03"]["l1_respondents"]) == (2, 1, 12)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SteeringRefresh)) == 0
