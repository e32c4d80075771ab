"""URL arguments of the control routes for tests/test_access.py (lots IDF and BRE)."""
from fc_market.controls import service
from fc_market.controls.models import ControlProof
from fc_market.extensions import db
from tests.billing.helpers import PNG, lot, make_validated

IDS = {}


def prepare(users):
    for code in ("IDF", "BRE"):
        the_lot = lot(code)
        make_validated(the_lot, "2024-05", [("UO1", 3, 6), ("UO2.1", 9, 4)])
        campaign = service.open_campaign(the_lot, ["2024-05"], users["manager"], seed=f"seed-{code}")
        item = campaign.items[0]
        service.answer_item(item, None, reference="DS-1", files=[("preuve.png", PNG)])
        db.session.flush()
        proof = db.session.query(ControlProof).filter_by(item_id=item.id).one()
        IDS[code] = {"campaign_id": campaign.id, "item_id": item.id, "proof_id": proof.id}


ARGUMENTS = {
    "campaign_id": lambda users, code: IDS[code]["campaign_id"],
    "item_id": lambda users, code: IDS[code]["item_id"],
    "proof_id": lambda users, code: IDS[code]["proof_id"],
}
LOT_SCOPED = {"campaign_id", "item_id", "proof_id"}
