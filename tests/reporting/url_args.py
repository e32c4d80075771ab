"""URL arguments of the reporting routes for tests/test_access.py (lots IDF and BRE)."""
from datetime import date

from tests.reporting.helpers import add_sites, ben, lot, make_file, row

IDS = {}
PERIOD = "2025-03"


def prepare(users):
    from fc_market.extensions import db
    from fc_market.reporting import service
    from fc_market.reporting.models import Act
    import sqlalchemy as sa
    add_sites()
    for code, user in (("IDF", users["mandataire"]), ("BRE", users["other_mandataire"])):
        the_lot = lot(code)
        submitted = service.import_file(the_lot, "2025-02", make_file(code, "2025-02", [row(
            500, day=date(2025, 2, 3))]), user=user, submit=True)
        draft = service.import_file(the_lot, PERIOD, make_file(code, PERIOD, [row(1), row(2)]),
                                    user=user)
        assert submitted.accepted and draft.accepted
        IDS[code] = {"version_id": submitted.version_id, "draft_id": draft.version_id,
                     "report_import_id": draft.import_id}
    # both lots reported beneficiary 500 in February: BRE's submission raised an alert
    from fc_market.reporting.models import DoubleFinancingAlert
    IDS["alert_id"] = db.session.scalar(sa.select(DoubleFinancingAlert.id))
    db.session.commit()
    IDS["acts"] = {code: db.session.scalars(sa.select(Act.id).where(
        Act.version_id == IDS[code]["draft_id"])).all() for code in ("IDF", "BRE")}


def _act(users, code):
    """A fresh act in the lot's draft for every call (the walk may delete one)."""
    from fc_market.extensions import db
    from fc_market.reporting.models import Act, ReportVersion
    import sqlalchemy as sa
    draft = db.session.get(ReportVersion, IDS[code]["draft_id"])
    act = db.session.scalar(sa.select(Act).where(Act.version_id == draft.id).limit(1))
    clone = Act(version_id=draft.id, lot_id=draft.lot_id, beneficiary_id=ben(9000 + draft.id),
                uo_id=act.uo_id, act_date=act.act_date, mode="telephone", proof_ref="DS")
    db.session.add(clone)
    db.session.commit()
    return clone.id


ARGUMENTS = {
    "period": lambda users, code: PERIOD,
    "version_id": lambda users, code: IDS[code]["version_id"],
    "report_import_id": lambda users, code: IDS[code]["report_import_id"],
    "act_id": _act,
    "alert_id": lambda users, code: IDS["alert_id"],
}
LOT_SCOPED = {"version_id", "report_import_id", "act_id"}
