"""The import's acts writer (issue 16: the inserts in a thread of their own, multi-row INSERTs on
SQLite, COPY on PostgreSQL) writes exactly the acts SQLAlchemy's own executemany writes,
hand-checked; it owns the connection until closed; its failures reach the caller as
SQLAlchemy's errors and stop what follows."""
from datetime import date

import pytest
import sqlalchemy as sa

from fc_market.extensions import db
from fc_market.market.models import UnitOfWork
from fc_market.reporting import service
from fc_market.reporting.models import Act, LotFigures, ReportVersion
from fc_market.territory.models import Site
from tests.reporting.helpers import ben, by_column

COLUMNS = ("lot_id", "beneficiary_id", "uo_id", "act_date", "mode", "site_id", "proof_ref",
           "sex", "age_band", "csp", "employment_status", "sector", "source_row")


def _acts(version_id):
    t = Act.__table__
    return [tuple(r) for r in db.session.execute(
        sa.select(*[t.c[c] for c in COLUMNS]).where(t.c.version_id == version_id)
        .order_by(t.c.source_row))]


@pytest.fixture
def drafts(idf, users):
    report = service.get_or_create_report(idf, "2025-03")
    draft, _ = service.open_draft(report, users["mandataire"], source="excel")
    other = ReportVersion(report_id=report.id, lot_id=idf.id, number=draft.number + 1,
                          status="draft", source="excel")
    db.session.add(other)
    db.session.flush()
    return draft, other


def _ids(idf):
    uo1 = db.session.scalar(sa.select(UnitOfWork.id).where(UnitOfWork.code == "UO1"))
    uo0 = db.session.scalar(sa.select(UnitOfWork.id).where(UnitOfWork.code == "UO0"))
    site = db.session.scalar(sa.select(Site.id).where(Site.lot_id == idf.id, Site.code == "S001"))
    return uo1, uo0, site


def _batch(idf, first_row=2):
    """The dicts RowChecker.check returns, in its key order."""
    uo1, uo0, site = _ids(idf)
    return [
        {"beneficiary_id": ben(1), "uo_id": uo1, "act_date": date(2025, 3, 10),
         "mode": "presentiel", "site_id": site, "proof_ref": "DS-1", "source_row": first_row,
         "sex": "F", "age_band": "26-44", "csp": "5", "employment_status": "cdi",
         "sector": "Q"},
        {"beneficiary_id": ben(2), "uo_id": uo0, "act_date": date(2025, 3, 31),
         "mode": "telephone", "site_id": None, "proof_ref": None, "source_row": first_row + 1,
         "sex": None, "age_band": None, "csp": None, "employment_status": None,
         "sector": None},
        {"beneficiary_id": ben(3), "uo_id": uo0, "act_date": date(2025, 3, 1),
         "mode": "visio", "site_id": None, "proof_ref": "x'); DROP TABLE acts; --",
         "source_row": first_row + 2, "sex": "M", "age_band": "55+", "csp": None,
         "employment_status": "interim", "sector": None},
    ]


@pytest.mark.parametrize("per_insert", [1, 2, 500])
def test_writer_writes_the_same_acts_as_sqlalchemy(idf, drafts, monkeypatch, per_insert):
    draft, other = drafts
    # 3 acts by 1, by 2 (a statement of 2, then one of 1) or all in one statement
    monkeypatch.setattr(service, "SQLITE_ROWS_PER_INSERT", per_insert)
    first, second = _batch(idf), _batch(idf, first_row=5)[:1]
    writer = service.ActWriter(draft, idf.id)
    writer.write_columns(by_column(first))
    writer.write_columns(by_column(second))
    writer.write_columns(by_column([]))  # nothing to do
    writer.close()
    assert writer.count == 4
    reference = [dict(a, version_id=other.id, lot_id=idf.id)
                 for a in _batch(idf) + _batch(idf, first_row=5)[:1]]
    db.session.execute(Act.__table__.insert(), reference)
    got = _acts(draft.id)
    assert got == _acts(other.id)
    uo1, uo0, site = _ids(idf)
    assert got[:2] == [
        (idf.id, ben(1), uo1, date(2025, 3, 10), "presentiel", site, "DS-1", "F", "26-44", "5",
         "cdi", "Q", 2),
        (idf.id, ben(2), uo0, date(2025, 3, 31), "telephone", None, None, None, None, None,
         None, None, 3)]
    assert got[2][6] == "x'); DROP TABLE acts; --"  # a parameter, never SQL
    # ORM objects read the stored date back as a date
    act = db.session.scalar(sa.select(Act).where(Act.version_id == draft.id, Act.source_row == 3))
    assert act.act_date == date(2025, 3, 31) and act.uo_id == uo0


def test_writer_clears_the_drafts_previous_acts_and_figures_only(idf, drafts):
    draft, other = drafts
    db.session.execute(Act.__table__.insert(), [dict(a, version_id=v.id, lot_id=idf.id)
                                                for v in (draft, other) for a in _batch(idf)])
    db.session.add_all([LotFigures(version_id=draft.id), LotFigures(version_id=other.id)])
    db.session.flush()
    batch = _batch(idf, first_row=10)[:1]
    writer = service.ActWriter(draft, idf.id)
    writer.clear()
    writer.write_columns(by_column(batch))
    writer.close()
    assert [a[-1] for a in _acts(draft.id)] == [10]
    assert len(_acts(other.id)) == 3
    figures = db.session.scalars(sa.select(LotFigures.version_id)).all()
    assert figures == [other.id]


def test_the_session_is_refused_while_the_writer_owns_the_connection(idf, drafts):
    draft, _ = drafts
    batch = _batch(idf)
    writer = service.ActWriter(draft, idf.id)
    writer.write_columns(by_column(batch))
    with pytest.raises(RuntimeError, match="owns the connection"):
        db.session.execute(sa.select(sa.func.count()).select_from(Act))
    writer.close()
    # closed: the connection is the session's again, and the acts are there
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Act)
                             .where(Act.version_id == draft.id)) == 3


def test_a_failed_write_is_raised_as_sqlalchemys_error_and_stops_the_rest(idf, drafts):
    draft, _ = drafts
    draft_id = draft.id
    bad, good = _batch(idf), _batch(idf, first_row=20)
    bad[1]["mode"] = None  # NOT NULL
    writer = service.ActWriter(draft, idf.id)
    writer.write_columns(by_column(bad))
    with pytest.raises(sa.exc.IntegrityError):
        for _ in range(50):  # raised by a later write, or at the latest by close()
            writer.write_columns(by_column([dict(a) for a in good]))
        writer.close()
    writer.close()  # once raised, closing again says nothing more
    db.session.rollback()
    assert _acts(draft_id) == []


def test_abandon_waits_for_the_thread_and_keeps_the_callers_failure(idf, drafts):
    draft, _ = drafts
    bad = _batch(idf)
    bad[0]["mode"] = None
    writer = service.ActWriter(draft, idf.id)
    writer.write_columns(by_column(bad))
    writer.abandon()  # no exception: the caller raises its own
    assert writer._thread is None
    db.session.rollback()
