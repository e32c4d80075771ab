"""The import's bulk insert (issue 16: tuples straight to the driver on SQLite) writes exactly
the acts SQLAlchemy's own executemany writes, hand-checked."""
from datetime import date

import sqlalchemy as sa

from fc_market.extensions import db
from fc_market.market.models import UnitOfWork
from fc_market.reporting import service
from fc_market.reporting.models import Act, ReportVersion
from fc_market.territory.models import Site
from tests.reporting.helpers import ben

COLUMNS = ("lot_id", "beneficiary_id", "uo_id", "act_date", "mode", "site_id", "proof_ref",
           "sex", "age_band", "csp", "employment_status", "sector", "source_row")


def _acts(version_id):
    t = Act.__table__
    return [tuple(r) for r in db.session.execute(
        sa.select(*[t.c[c] for c in COLUMNS]).where(t.c.version_id == version_id)
        .order_by(t.c.source_row))]


def test_bulk_insert_writes_the_same_acts_as_sqlalchemy(idf, users, monkeypatch):
    report = service.get_or_create_report(idf, "2025-03")
    draft, _ = service.open_draft(report, users["mandataire"], source="excel")
    other = ReportVersion(report_id=report.id, lot_id=idf.id, number=draft.number + 1,
                          status="draft", source="excel")
    db.session.add(other)
    db.session.flush()
    uo1 = db.session.scalar(sa.select(UnitOfWork.id).where(UnitOfWork.code == "UO1"))
    uo0 = db.session.scalar(sa.select(UnitOfWork.id).where(UnitOfWork.code == "UO0"))
    site = db.session.scalar(sa.select(Site.id).where(Site.lot_id == idf.id, Site.code == "S001"))

    def batch():  # the dicts RowChecker.check returns, in its key order
        return [
            {"beneficiary_id": ben(1), "uo_id": uo1, "act_date": date(2025, 3, 10),
             "mode": "presentiel", "site_id": site, "proof_ref": "DS-1", "source_row": 2,
             "sex": "F", "age_band": "26-44", "csp": "5", "employment_status": "cdi",
             "sector": "Q"},
            {"beneficiary_id": ben(2), "uo_id": uo0, "act_date": date(2025, 3, 31),
             "mode": "telephone", "site_id": None, "proof_ref": None, "source_row": 3,
             "sex": None, "age_band": None, "csp": None, "employment_status": None,
             "sector": None},
        ]

    monkeypatch.setattr(service, "INSERT_CHUNK", 1)  # one executemany per act
    service._insert_acts(draft, idf.id, batch())
    reference = [dict(a, version_id=other.id, lot_id=idf.id) for a in batch()]
    db.session.execute(Act.__table__.insert(), reference)
    got = _acts(draft.id)
    assert got == _acts(other.id)
    assert got == [
        (idf.id, ben(1), uo1, date(2025, 3, 10), "presentiel", site, "DS-1", "F", "26-44", "5",
         "cdi", "Q", 2),
        (idf.id, ben(2), uo0, date(2025, 3, 31), "telephone", None, None, None, None, None,
         None, None, 3)]
    # ORM objects read the stored date back as a date
    act = db.session.scalar(sa.select(Act).where(Act.version_id == draft.id, Act.source_row == 3))
    assert act.act_date == date(2025, 3, 31) and act.uo_id == uo0
    service._insert_acts(draft, idf.id, [])  # nothing to do
    assert len(_acts(draft.id)) == 2
