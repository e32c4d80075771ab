"""URL arguments of the UO4 and flag-case routes, for tests/test_access.py: in lots IDF and
BRE, a statement draft with a stored document and a case with a stored plan file."""
from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from fc_market.demo.pdf import minimal_pdf
from fc_market.extensions import db
from fc_market.market.models import FlagRule, Lot, Operator, OperatorMember
from fc_market.steering.models import Flag, FlagReading

_IDS = {}
PDF = minimal_pdf("Justificatif de test UO4")
SIRETS = {"IDF": "73282932000074", "BRE": "55208131766522"}


def prepare(users):
    from fc_market.cases import service as cases
    from fc_market.uo4 import service
    rule = db.session.scalar(sa.select(FlagRule).where(FlagRule.code == "uo4_plan_missing"))
    for code in ("IDF", "BRE"):
        lot = db.session.scalar(sa.select(Lot).where(Lot.code == code))
        mandataire = users["mandataire"] if code == "IDF" else users["other_mandataire"]
        operator = Operator(lot_id=lot.id, name=f"Groupement {code}")
        db.session.add(operator)
        db.session.flush()
        db.session.add(OperatorMember(operator_id=operator.id, legal_name=f"Membre {code}",
                                      siret=SIRETS[code], role="mandataire"))
        db.session.flush()
        db.session.expire(lot, ["operator"])
        filing = service.get_or_create_filing(lot, 2025, "statement")
        draft, issues = service.save_lines(
            filing, [(2, {"category": "qualite", "member": SIRETS[code], "amount": "10"}, {})],
            mandataire)
        assert draft is not None, issues.errors
        doc = service.add_document(draft, "qualite", PDF, "facture.pdf", mandataire)
        _IDS[("version", code)], _IDS[("document", code)] = draft.id, doc.id
        flag = Flag(rule_id=rule.id, lot_id=lot.id, opened_on=date(2025, 2, 1),
                    opening_value=Decimal("1"), value=Decimal("1"), threshold=rule.threshold,
                    evaluated_on=date(2025, 2, 1), detail="test")
        flag.readings.append(FlagReading(read_on=date(2025, 2, 1), value=Decimal("1"), breached=True))
        db.session.add(flag)
        db.session.flush()
        case = cases.open_case(flag, users["manager"], "note interne")
        cases.acknowledge(case, users["manager"], "lu")
        cases.request_plan(case, users["manager"], "Un plan", date(2099, 1, 1), date(2025, 2, 2))
        cases.submit_plan(case, mandataire, "Mon plan", [(PDF, "plan.pdf")])
        _IDS[("case", code)] = case.id
        _IDS[("file", code)] = case.events[-1].files[0].id


ARGUMENTS = {
    "year": lambda users, code: 2025,
    "slug": lambda users, code: "bilan",
    "uo4_version_id": lambda users, code: _IDS[("version", code)],
    "uo4_document_id": lambda users, code: _IDS[("document", code)],
    "case_id": lambda users, code: _IDS[("case", code)],
    "file_id": lambda users, code: _IDS[("file", code)],
}
LOT_SCOPED = {"uo4_version_id", "uo4_document_id", "case_id", "file_id"}
