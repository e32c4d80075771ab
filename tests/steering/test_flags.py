"""Flag rules from the contract file: each fires, clears, keeps its history; small samples
do not trigger; new flags notify the managers once."""
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from fc_market import events
from fc_market.extensions import db
from fc_market.notifications.models import Notification
from fc_market.steering import service
from fc_market.steering.models import Flag, LotMonthStat
from fc_market.territory.models import Site
from tests.steering.conftest import make_version

TODAY = date(2025, 4, 20)          # reports of January to March are validated
WINDOW = ("2025-01", "2025-02", "2025-03")
PREVIOUS = ("2024-01", "2024-02", "2024-03")   # same months a year before


def put_stats(lot, periods, **values):
    db.session.execute(sa.delete(LotMonthStat).where(LotMonthStat.lot_id == lot.id,
                                                     LotMonthStat.period.in_(periods)))
    for p in periods:
        row = dict(lot_id=lot.id, period=p, year=int(p[:4]), month=int(p[5:7]), validated=True,
                   days_late=0, entries=3000, acts=3000, beneficiaries=3000)
        row.update(values)
        db.session.add(LotMonthStat(**row))
    db.session.flush()


def flag_of(lot, code):
    return db.session.scalar(sa.select(Flag).join(Flag.rule).where(
        Flag.lot_id == lot.id, service.FlagRule.code == code).order_by(Flag.id.desc()))


def evaluate(lot, day=TODAY):
    return service.evaluate(day, [lot.id])


#: rule code -> (values that breach, values that recover) over the last three months
CASES = {
    "satisfaction_l1_floor": (dict(l1_respondents=100, l1_satisfied=80),
                              dict(l1_respondents=100, l1_satisfied=90)),
    "satisfaction_l2_floor": (dict(l2_respondents=100, l2_satisfied=70),
                              dict(l2_respondents=100, l2_satisfied=95)),
    "usefulness_floor": (dict(usefulness_respondents=50, usefulness_useful=20),
                         dict(usefulness_respondents=50, usefulness_useful=40)),
    "entries_per_1000_floor": (dict(entries=100), dict(entries=3000)),
    "volume_pacing": (dict(entries=1000), dict(entries=3000)),
    "abandonment_ceiling": (dict(l1_cohort=100, l1_no_level2=80), dict(l1_cohort=100, l1_no_level2=40)),
    "information_only_ceiling": (dict(uo0_cohort=100, uo0_no_followup=60),
                                 dict(uo0_cohort=100, uo0_no_followup=20)),
    "implementation_start_ceiling": (dict(l2_starts=100, l2_starts_implementation=30),
                                     dict(l2_starts=100, l2_starts_implementation=2)),
    "nonconformity_ceiling": (dict(csf_judged=30, csf_nonconforming=9),
                              dict(csf_judged=30, csf_nonconforming=1)),
    "short_pathway_ceiling": (dict(project_acts=100, project_short=30),
                              dict(project_acts=100, project_short=5)),
    "implementation_followup_floor": (dict(project_cohort=100, project_followed=5),
                                      dict(project_cohort=100, project_followed=40)),
    "complaints_ceiling": (dict(complaints=100), dict(complaints=3)),
    "delay_ceiling": (dict(delay_hist={"30": 20}, delay_count=20),
                      dict(delay_hist={"5": 20}, delay_count=20)),
    "diversity_floor": (dict(profile={"csp": {"5": 100}, "sector": {"Q": 100}, "age_band": {"26-44": 100}}),
                        dict(profile={"csp": {c: 20 for c in "123456"},
                                      "sector": {c: 20 for c in "CFGHQ"},
                                      "age_band": {"<26": 25, "26-44": 25, "45-54": 25, "55+": 25}})),
}


@pytest.mark.parametrize("code", sorted(CASES))
def test_each_rule_fires_then_clears(idf, code):
    bad, good = CASES[code]
    put_stats(idf, WINDOW, **bad)
    result = evaluate(idf)
    flag = flag_of(idf, code)
    assert flag is not None and flag.is_open, result.summary()
    rule = flag.rule
    assert flag.threshold == rule.threshold and flag.opened_on == TODAY
    assert service.breached(rule.comparison, float(flag.value), rule.threshold)
    put_stats(idf, WINDOW, **good)
    evaluate(idf, date(2025, 4, 21))
    db.session.refresh(flag)
    assert flag.cleared_on == date(2025, 4, 21)
    assert [r.breached for r in flag.readings] == [True, False]


def test_small_samples_show_but_do_not_trigger(idf):
    put_stats(idf, WINDOW, l1_respondents=5, l1_satisfied=2)      # 15 respondents < 30
    result = evaluate(idf)
    assert flag_of(idf, "satisfaction_l1_floor") is None
    assert ("IDF", "satisfaction_l1_floor", 15) in result.suppressed
    snap = service.snapshot([idf], TODAY)
    reading = snap.views[idf.id].read("satisfaction_l1")
    assert reading.sample == 15
    assert service.cell_class(snap, idf.id, "satisfaction_l1", reading) == "small"


def test_flag_follows_the_value_and_notifies_once(idf):
    put_stats(idf, WINDOW, l1_respondents=100, l1_satisfied=80)
    evaluate(idf)
    put_stats(idf, WINDOW, l1_respondents=100, l1_satisfied=75)
    evaluate(idf, date(2025, 4, 21))
    evaluate(idf, date(2025, 4, 22))               # same value: no new reading
    flag = flag_of(idf, "satisfaction_l1_floor")
    assert [float(r.value) for r in flag.readings] == [0.8, 0.75]
    assert service.trend(flag) == "worsening"
    assert flag.opening_value == Decimal("0.8") and flag.value == Decimal("0.75")
    notes = db.session.scalars(sa.select(Notification).where(
        Notification.kind == "steering.flag", Notification.lot_id == idf.id)).all()
    sat = [n for n in notes if "Satisfaction après le niveau 1" in n.subject]
    assert len(sat) == 1 and sat[0].audience == "fc" and sat[0].role == "manager"
    assert sat[0].dedup_key == f"steering.flag:{flag.id}"


def test_volume_up_while_quality_falls(idf):
    put_stats(idf, PREVIOUS, entries=2000, l1_respondents=100, l1_satisfied=95)
    put_stats(idf, WINDOW, entries=2600, l1_respondents=100, l1_satisfied=85)
    evaluate(idf)
    flag = flag_of(idf, "volume_quality_tension")
    assert flag is not None and float(flag.value) == pytest.approx(0.10)
    put_stats(idf, WINDOW, entries=2600, l1_respondents=100, l1_satisfied=96)
    evaluate(idf, date(2025, 4, 21))
    assert flag_of(idf, "volume_quality_tension").cleared_on == date(2025, 4, 21)


def test_late_reporting_fires_and_clears(idf):
    put_stats(idf, WINDOW)
    # nothing submitted since the start of the contract: March was due on 10 April
    evaluate(idf)
    flag = flag_of(idf, "reporting_late")
    assert flag is not None and flag.value > 0
    for month in range(1, 4):
        make_version(idf, f"2025-{month:02d}", status="submitted")
    for month in range(1, 13):
        make_version(idf, f"2024-{month:02d}", status="validated")
    evaluate(idf, date(2025, 4, 21))
    assert flag_of(idf, "reporting_late").cleared_on == date(2025, 4, 21)


def test_coverage_floor_uses_open_permanent_sites(idf):
    put_stats(idf, WINDOW)
    evaluate(idf)
    assert flag_of(idf, "coverage_floor").is_open          # no site at all
    points = {"PARIS": ("48.8534", "2.3488", "permanent"), "MELUN": ("48.5393", "2.6608", "permanence"),
              "MEAUX": ("48.9607", "2.8785", "permanence"), "MANTES": ("48.9906", "1.7167", "permanence"),
              "ETAMPES": ("48.4335", "2.1613", "permanence")}
    for code, (lat, lon, kind) in points.items():
        db.session.add(Site(lot_id=idf.id, code=code, name=code, commune=code, kind=kind,
                            latitude=Decimal(lat), longitude=Decimal(lon), opened_on=date(2024, 1, 1)))
    db.session.flush()
    evaluate(idf, date(2025, 4, 21))
    flag = flag_of(idf, "coverage_floor")
    assert flag.cleared_on is None                        # permanences do not count: Paris 83.9 %
    assert float(flag.value) == pytest.approx(0.8394, abs=1e-4)  # of the communes
    for site in db.session.scalars(sa.select(Site).where(Site.kind == "permanence")):
        site.kind = "permanent"                           # the permanences become permanent sites
    db.session.flush()
    evaluate(idf, date(2025, 4, 22))
    flag = flag_of(idf, "coverage_floor")
    assert flag.cleared_on == date(2025, 4, 22)           # 98.0 %


def test_validated_report_event_refreshes_aggregates_and_flags(idf):
    version = make_version(idf, "2025-03", [("A", "UO1", date(2025, 3, 3), "telephone")],
                           figures={"l1_respondents": 40, "l1_satisfied": 20})
    events.emit("report.validated", version)
    row = db.session.scalar(sa.select(LotMonthStat).where(LotMonthStat.lot_id == idf.id))
    assert row.entries == 1 and row.l1_respondents == 40
    assert flag_of(idf, "satisfaction_l1_floor") is not None


def test_unknown_indicator_is_reported_unavailable(idf, market):
    put_stats(idf, WINDOW)
    result = evaluate(idf)
    # no invoices: the payment delay has no value and raises nothing
    assert "payment_delay_ceiling" in result.unavailable
    assert flag_of(idf, "payment_delay_ceiling") is None


def test_large_lots_are_refreshed_inline_from_the_changed_version(app, idf):
    from fc_market.steering.models import SteeringRefresh
    version = make_version(idf, "2025-03", [("A", "UO1", date(2025, 3, 3), "telephone"),
                                            ("B", "UO1", date(2025, 3, 4), "telephone")])
    app.config["STEERING_SYNC_MAX_ACTS"] = 1
    try:
        events.emit("report.validated", version)
    finally:
        app.config.pop("STEERING_SYNC_MAX_ACTS")
    # the aggregates were up to date (none yet): only the new version's acts were read
    assert db.session.scalar(sa.select(LotMonthStat.entries)) == 2
    assert service.queued_lots() == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SteeringRefresh)) == 0


def test_large_lots_with_stale_aggregates_are_queued_for_the_refresh_job(app, idf):
    from fc_market.steering.models import SteeringRefresh
    # validated without its event: the stored aggregates miss February
    make_version(idf, "2025-02", [("C", "UO1", date(2025, 2, 3), "telephone")])
    version = make_version(idf, "2025-03", [("A", "UO1", date(2025, 3, 3), "telephone"),
                                            ("B", "UO1", date(2025, 3, 4), "telephone")])
    app.config["STEERING_SYNC_MAX_ACTS"] = 1
    try:
        events.emit("report.validated", version)
    finally:
        app.config.pop("STEERING_SYNC_MAX_ACTS")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LotMonthStat)) == 0
    assert service.queued_lots() == ["IDF"]
    assert service.process_queue(TODAY) == 1
    assert db.session.scalar(sa.select(LotMonthStat.entries)
                             .where(LotMonthStat.period == "2025-03")) == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SteeringRefresh)) == 0
