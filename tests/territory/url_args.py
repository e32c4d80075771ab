"""URL arguments of the territory routes, for tests/test_access.py."""
from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from fc_market.extensions import db
from fc_market.market.models import Lot
from fc_market.territory.models import Site, SiteChange

_IDS = {}


def _lot(code):
    return db.session.scalar(sa.select(Lot).where(Lot.code == code))


def prepare(users):
    """A site, a pending change request and an import batch in lots IDF and BRE."""
    points = {"IDF": ("Paris", "75", Decimal("48.853410"), Decimal("2.348800")),
              "BRE": ("Rennes", "35", Decimal("48.111980"), Decimal("-1.674290"))}
    for code, (commune, dep, lat, lon) in points.items():
        lot = _lot(code)
        site = Site(lot_id=lot.id, code=f"T{code}", name=f"Site test {commune}", commune=commune,
                    departement=dep, latitude=lat, longitude=lon, kind="permanent",
                    opened_on=date(2024, 1, 1), disabled_access=True,
                    opening_hours={"lundi": "09:00-19:00"})
        db.session.add(site)
        db.session.flush()
        proposed = {"code": f"N{code}", "name": f"Nouveau site {commune}", "kind": "permanence",
                    "address": None, "postcode": None, "commune": commune, "departement": dep,
                    "latitude": str(lat + Decimal("0.1")), "longitude": str(lon),
                    "member_id": None, "opening_hours": None, "disabled_access": False,
                    "opened_on": "2025-01-01", "closed_on": None}
        change = SiteChange(lot_id=lot.id, action="open", proposed=proposed, source="excel",
                            batch=f"batch-{code}", created_by_id=users["manager"].id)
        db.session.add(change)
        db.session.flush()
        _IDS[code] = {"site_id": site.id, "change_id": change.id, "batch": f"batch-{code}"}


ARGUMENTS = {
    "site_id": lambda users, code: _IDS[code]["site_id"],
    "change_id": lambda users, code: _IDS[code]["change_id"],
    "batch": lambda users, code: _IDS[code]["batch"],
}
LOT_SCOPED = {"site_id", "change_id", "batch"}
