"""Monthly aggregates from validated acts: entries, delays, warning signs."""
from datetime import date

import sqlalchemy as sa

from fc_market.extensions import db
from fc_market.steering import aggregates
from fc_market.steering.models import LotMonthStat
from tests.steering.conftest import make_version


def _stats(lot):
    return {r.period: r for r in db.session.scalars(
        sa.select(LotMonthStat).where(LotMonthStat.lot_id == lot.id))}


def test_entries_delays_and_pathways(idf):
    tel = "telephone"
    make_version(idf, "2025-01", [
        ("A", "UO0", date(2025, 1, 2), tel), ("A", "UO1", date(2025, 1, 12), tel),   # 10 days
        ("B", "UO0", date(2025, 1, 5), tel),                                          # UO0 without follow-up
        ("C", "UO2.2", date(2025, 1, 20), "visio"),                                   # starts at implementation
        ("D", "UO0", date(2025, 1, 3), tel), ("D", "UO1", date(2025, 1, 7), tel),     # 4 days
        ("D", "UO2.1", date(2025, 1, 10), tel),                                       # short pathway
    ])
    make_version(idf, "2025-02", [("A", "UO2.1", date(2025, 2, 20), "visio")],
                 figures={"l1_respondents": 10, "l1_satisfied": 9, "complaints": 1})
    make_version(idf, "2025-09", [("A", "UO1", date(2025, 9, 1), tel)])   # same year: no new entry
    make_version(idf, "2026-01", [("A", "UO1", date(2026, 1, 8), tel)])   # new year: new entry
    aggregates.rebuild_lot(idf.id)
    s = _stats(idf)
    jan = s["2025-01"]
    assert jan.entries == 3                       # A, C, D (B never reached level 1)
    assert jan.acts == 7 and jan.remote_acts == 7
    assert jan.beneficiaries == 4
    assert jan.delay_hist == {"10": 1, "4": 1}
    assert jan.uo0_cohort == 3 and jan.uo0_no_followup == 1          # B
    assert jan.l1_cohort == 2 and jan.l1_no_level2 == 0               # A (Feb) and D (Jan) went on
    assert jan.l2_starts == 2 and jan.l2_starts_implementation == 1   # C started with UO2.2
    assert jan.project_acts == 1 and jan.project_short == 1           # D: 7 days after first act
    assert jan.acts_by_uo == {"UO0": 3, "UO1": 2, "UO2.2": 1, "UO2.1": 1}
    assert s["2025-02"].entries == 0 and s["2025-02"].project_short == 0
    assert s["2025-02"].l1_satisfied == 9 and s["2025-02"].complaints == 1
    assert s["2025-09"].entries == 0
    assert s["2026-01"].entries == 1
    assert all(r.validated for r in s.values())


def test_only_validated_versions_count_and_young_cohorts_stay_open(idf):
    old = make_version(idf, "2025-03", [("A", "UO1", date(2025, 3, 3), "telephone"),
                                        ("B", "UO1", date(2025, 3, 4), "telephone")],
                       status="superseded")
    make_version(idf, "2025-03", [("A", "UO1", date(2025, 3, 3), "telephone")])
    make_version(idf, "2025-04", [("Z", "UO1", date(2025, 4, 3), "telephone")], status="submitted")
    aggregates.rebuild_lot(idf.id)
    s = _stats(idf)
    assert old.status == "superseded"
    assert s["2025-03"].entries == 1
    assert s["2025-04"].acts == 0 and not s["2025-04"].validated
    # the latest validated month is March: its level-1 cohort cannot be judged yet
    assert s["2025-03"].l1_cohort is None and s["2025-03"].uo0_cohort is None


def test_rebuild_replaces_previous_rows(idf):
    make_version(idf, "2025-01", [("A", "UO1", date(2025, 1, 3), "telephone")])
    aggregates.rebuild_lot(idf.id)
    aggregates.rebuild_lot(idf.id)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LotMonthStat)) == 1


def test_the_horizons_are_the_contracts(idf):
    """A level-1 act on 10/01 followed by level 2 on 15/04 (95 days): not an abandonment
    under the default 120 days, an abandonment when the contract says 90; a project on
    day 10 of the pathway is short under 14 days, not under 7."""
    tel = "telephone"
    make_version(idf, "2025-01", [("A", "UO1", date(2025, 1, 10), tel),
                                  ("B", "UO1", date(2025, 1, 5), tel), ("B", "UO2.1", date(2025, 1, 15), tel)])
    make_version(idf, "2025-04", [("A", "UO2.1", date(2025, 4, 15), tel)])
    make_version(idf, "2025-09", [])
    aggregates.rebuild_lot(idf.id)
    jan = _stats(idf)["2025-01"]
    assert (jan.l1_cohort, jan.l1_no_level2, jan.project_short) == (2, 0, 1)
    idf.contract.extra_terms = {**idf.contract.extra_terms, "steering.level2_days": 90,
                                "steering.short_pathway_days": 7}
    db.session.flush()
    aggregates.rebuild_lot(idf.id)
    jan = _stats(idf)["2025-01"]
    assert (jan.l1_cohort, jan.l1_no_level2, jan.project_short) == (2, 1, 0)
