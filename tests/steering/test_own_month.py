"""Dashboards that agree: each lot is read up to its own last validated month, so
validating one lot's month changes no other lot's figure."""
from datetime import date

import pytest

from fc_market.extensions import db
from fc_market.steering import aggregates, service
from tests.steering.conftest import lot, make_version

TODAY = date(2025, 6, 15)


def _month(code, period, count):
    """``count`` entries (first level-1 act of the year of distinct beneficiaries)."""
    year, month = int(period[:4]), int(period[5:])
    acts = [(f"{code}-{period}-{n:04d}".ljust(64, "0"), "UO1", date(year, month, 10), "telephone")
            for n in range(count)]
    make_version(lot(code), period, acts)


@pytest.fixture
def three_months(market):
    for period in ("2025-01", "2025-02", "2025-03"):
        _month("IDF", period, 10)
        _month("BRE", period, 5)
    for code in ("IDF", "BRE"):
        aggregates.rebuild_lot(lot(code).id)
    db.session.commit()


def _figures(snap, lot_id):
    view = snap.views[lot_id]
    return view.validated_until, {k: view.read(k) for k in service.DASHBOARD_COLUMNS}


def test_validating_one_lot_changes_no_other_lots_figure(three_months):
    idf, bre = lot("IDF"), lot("BRE")
    before = service.snapshot(today=TODAY)
    bre_before = _figures(before, bre.id)
    # BRE: 15 entries for 8 000 × 3 / 12 = 2 000 → 0,75 %
    assert bre_before[0] == "2025-03"
    assert bre_before[1]["target_achievement"].value == pytest.approx(15 / 2000)
    # national: (30 + 15) / (29 030 × 3 / 12 + 2 000) = 45 / 9 257,5, plus the 16 lots without data
    assert before.national.read("target_achievement").value == pytest.approx(45 / 9257.5)

    _month("IDF", "2025-04", 10)
    aggregates.rebuild_lot(idf.id)
    db.session.commit()
    after = service.snapshot(today=TODAY)
    assert _figures(after, bre.id) == bre_before
    assert after.views[idf.id].validated_until == "2025-04"
    # IDF: 40 entries for 29 030 × 4 / 12 = 9 676,67; BRE still prorated to March (2 000)
    assert after.views[idf.id].read("target_achievement").value == pytest.approx(40 / (29030 * 4 / 12))
    national = after.national.read("target_achievement")
    assert national.value == pytest.approx(55 / (29030 * 4 / 12 + 2000))
    assert "avril 2025 (IDF)" in national.detail and "mars 2025 (BRE)" in national.detail
    assert "aucun mois validé" in national.detail
    assert after.national.read("entries_ytd").value == 55.0
    # a lot without any validated month has no pacing, rather than 0 %
    assert after.views[lot("NOR").id].read("target_achievement").value is None


def test_the_dashboard_says_which_month_each_lot_is_read_to(three_months, login):
    _month("IDF", "2025-04", 10)
    aggregates.rebuild_lot(lot("IDF").id)
    db.session.commit()
    page = login("manager").get("/pilotage").get_data(as_text=True)
    assert "Chaque lot est lu jusqu&#39;à son propre dernier mois validé : avril 2025 (IDF) ; mars 2025 (BRE)" in page \
        or "Chaque lot est lu jusqu'à son propre dernier mois validé : avril 2025 (IDF) ; mars 2025 (BRE)" in page
