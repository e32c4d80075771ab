from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from fc_market.extensions import db
from fc_market.market.models import Lot, Operator, OperatorMember
from fc_market.territory.models import Site


def lot(code):
    return db.session.scalar(sa.select(Lot).where(Lot.code == code))


def add_site(lot_obj, code, lat, lon, kind="permanent", opened=date(2024, 1, 1), closed=None,
             commune=None):
    site = Site(lot_id=lot_obj.id, code=code, name=f"Site {code}", commune=commune or code,
                latitude=Decimal(str(lat)), longitude=Decimal(str(lon)), kind=kind,
                opened_on=opened, closed_on=closed)
    db.session.add(site)
    db.session.flush()
    return site


@pytest.fixture
def cor(market):
    """Corse with a groupement of two members."""
    lot_obj = lot("COR")
    operator = Operator(lot_id=lot_obj.id, name="Groupement test")
    db.session.add(operator)
    db.session.flush()
    db.session.add_all([OperatorMember(operator_id=operator.id, legal_name="Association Alpha",
                                       siret="73282932000074", role="mandataire"),
                        OperatorMember(operator_id=operator.id, legal_name="SCOP Beta",
                                       siret="35600000000048", role="cotraitant")])
    db.session.commit()
    return lot_obj
