"""URL arguments of the steering routes, for tests/test_access.py."""
from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from fc_market.extensions import db
from fc_market.market.models import FlagRule, Lot
from fc_market.steering.models import Flag, FlagReading, SteeringPack

_IDS = {}


def prepare(users):
    """An open flag in lots IDF and BRE, and a stored pack."""
    rule = db.session.scalar(sa.select(FlagRule).where(FlagRule.code == "coverage_floor"))
    for code in ("IDF", "BRE"):
        lot = db.session.scalar(sa.select(Lot).where(Lot.code == code))
        flag = Flag(rule_id=rule.id, lot_id=lot.id, opened_on=date(2025, 1, 1),
                    opening_value=Decimal("0.5"), value=Decimal("0.5"), threshold=rule.threshold,
                    evaluated_on=date(2025, 1, 1), detail="test")
        flag.readings.append(FlagReading(read_on=date(2025, 1, 1), value=Decimal("0.5"), breached=True))
        db.session.add(flag)
        db.session.flush()
        _IDS[code] = flag.id
    pack = SteeringPack(period="2025-01", trigger="job", filename="p.xlsx", size=2, sha256="0" * 64,
                        content=b"PK")
    db.session.add(pack)
    db.session.flush()
    _IDS["pack"] = pack.id


ARGUMENTS = {
    "flag_id": lambda users, code: _IDS[code],
    "pack_id": lambda users, code: _IDS["pack"],
}
LOT_SCOPED = {"flag_id"}
