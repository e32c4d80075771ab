"""« Recalculer maintenant » queues every lot and returns at once; the refresh job then
rebuilds them lot by lot within its time budget, so the flags page shows the progress."""
from datetime import date

import sqlalchemy as sa

from fc_market.extensions import db
from fc_market.market.models import Lot
from fc_market.steering import service
from fc_market.steering.models import LotMonthStat, SteeringRefresh
from tests.steering.conftest import make_version

TODAY = date(2025, 4, 20)


def _stats(lot_code):
    return db.session.scalar(sa.select(sa.func.count()).select_from(LotMonthStat)
                             .join(Lot, Lot.id == LotMonthStat.lot_id).where(Lot.code == lot_code))


def test_recompute_queues_every_lot_and_returns_at_once(login, idf):
    lots = db.session.scalars(sa.select(Lot.code).order_by(Lot.number)).all()
    assert len(lots) >= 2
    make_version(idf, "2025-03", [("A", "UO1", date(2025, 3, 3), "telephone")])
    db.session.execute(sa.delete(LotMonthStat))
    db.session.execute(sa.delete(SteeringRefresh))
    db.session.commit()
    browser = login("manager")
    response = browser.post("/pilotage/recalcul")
    assert response.status_code == 302
    assert _stats("IDF") == 0                      # nothing rebuilt inside the request
    assert sorted(service.queued_lots()) == sorted(lots)
    page = browser.get("/pilotage/signalements").get_data(as_text=True)
    assert f"Recalcul en cours : {len(lots)} lot(s) en attente" in page
    # asking again does not queue a lot twice
    assert browser.post("/pilotage/recalcul").status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SteeringRefresh)) == len(lots)
    assert login("finance").post("/pilotage/recalcul").status_code == 403


def test_refresh_job_works_lot_by_lot_within_its_budget(idf):
    lots = db.session.scalars(sa.select(Lot.code).order_by(Lot.number)).all()
    make_version(idf, "2025-03", [("A", "UO1", date(2025, 3, 3), "telephone"),
                                  ("B", "UO1", date(2025, 3, 4), "telephone")])
    db.session.execute(sa.delete(LotMonthStat))
    db.session.execute(sa.delete(SteeringRefresh))
    assert service.request_full_rebuild() == len(lots)
    # a spent budget still rebuilds one lot per run: the queue always drains
    assert service.process_queue(TODAY, budget_s=0) == 1
    assert len(service.queued_lots()) == len(lots) - 1
    assert service.process_queue(TODAY) == len(lots) - 1
    assert service.queued_lots() == []
    assert db.session.scalar(sa.select(LotMonthStat.entries).join(Lot, Lot.id == LotMonthStat.lot_id)
                             .where(Lot.code == "IDF", LotMonthStat.period == "2025-03")) == 2
