"""URL arguments of the home's routes for tests/test_access.py: a message to each lot."""
IDS = {}


def prepare(users):
    import sqlalchemy as sa

    from fc_market.extensions import db
    from fc_market.market.models import Lot
    from fc_market.notifications.service import notify
    for code in ("IDF", "BRE"):
        lot = db.session.scalar(sa.select(Lot).where(Lot.code == code))
        IDS[code] = notify(kind="test", subject=f"Message au lot {code}", body="…", lot_id=lot.id,
                           link=f"/lots/{code}").id


ARGUMENTS = {"note_id": lambda users, code: IDS[code]}
#: not lot-scoped by a 404: another lot's message leads to the messages and changes nothing
LOT_SCOPED = set()
