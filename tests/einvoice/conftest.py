"""A certified statement of CVL with a groupement (mandataire + cotraitant) to invoice."""
from datetime import date
from decimal import Decimal

import pytest

from fc_market.billing import service
from fc_market.extensions import db
from fc_market.market.models import Operator, OperatorMember
from tests.billing.helpers import lot, make_validated

MANDATAIRE_SIRET = "81234567600017"
COTRAITANT_SIRET = "91876543900016"
FOREIGN_SIRET = "44455566800011"


def groupement(lot_obj):
    operator = Operator(lot_id=lot_obj.id, name="Groupement test CVL", kind="groupement")
    db.session.add(operator)
    db.session.flush()
    db.session.add_all([
        OperatorMember(operator_id=operator.id, legal_name="Mandataire test", siret=MANDATAIRE_SIRET,
                       role="mandataire"),
        OperatorMember(operator_id=operator.id, legal_name="Cotraitant test", siret=COTRAITANT_SIRET,
                       role="cotraitant")])
    db.session.flush()
    db.session.expire(lot_obj)
    return operator


@pytest.fixture
def cvl_certified(market, users):
    """CVL, February 2025: 2 UO1 acts at 150,00 € → 300,00 €, plus the
    UO4 share 177 000,00 / 12 = 14 750,00 €: 15 050,00 HT, VAT 20 % 3 010,00, 18 060,00 TTC."""
    cvl = lot("CVL")
    groupement(cvl)
    make_validated(cvl, "2025-02", [("UO1", 3, 2)])
    st = service.refresh_statement(cvl, "2025-02")
    service.certify(st.id, users["finance"])
    db.session.commit()
    assert st.total_excl_tax == Decimal("15050.00")
    assert st.total_incl_tax == Decimal("18060.00")
    return st


TODAY = date(2025, 3, 5)
