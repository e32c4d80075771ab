"""UO4 readings and flags on hand-made cases (figures computed by hand in the comments)."""
from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from fc_market.extensions import db
from fc_market.market.models import FlagRule
from fc_market.steering import service as steering
from fc_market.steering.models import Flag
from fc_market.uo4 import readings, service
from tests.uo4.conftest import PDF, SIRETS, certify_twelfths, lot

IDF_A, IDF_B = SIRETS["IDF"]


def _accepted_statement(users, code, year, amounts):
    """An accepted statement of ``year`` for lot ``code``: {category: amount}."""
    a, b = SIRETS[code]
    filing = service.get_or_create_filing(lot(code), year, "statement")
    rows = [(n, {"category": cat, "member": a, "amount": amount}, {})
            for n, (cat, amount) in enumerate(amounts.items(), start=2)]
    mandataire = users["mandataire"] if code == "IDF" else users["other_mandataire"]
    draft, issues = service.save_lines(filing, rows, mandataire)
    assert draft is not None, issues.errors
    for cat in amounts:
        service.add_document(draft, cat, PDF, f"{cat}.pdf", mandataire)
    assert not service.submit(draft, mandataire, today=date(year + 1, 3, 1)).error_count
    service.decide(draft, users["manager"], "accept", None)
    return draft


def test_paid_comes_from_certified_statements_only(groupements, users):
    idf = lot("IDF")
    certify_twelfths(idf, 2024, range(1, 12), "10000.00")
    # an open (provisional) statement does not count as paid
    certify_twelfths(idf, 2024, [12], "10000.00", certified=False)
    # 11 certified twelfths × 10 000 € = 110 000 €; the acts lines do not count
    assert service.paid_by_year([idf.id]) == {(idf.id, 2024): Decimal("110000.00")}


def test_documented_share_and_concentration_on_a_hand_made_year(groupements, users):
    idf = lot("IDF")
    certify_twelfths(idf, 2024, range(1, 13), "10000.00")              # paid 120 000 €
    _accepted_statement(users, "IDF", 2024, {"qualite": "70000", "communication": "20000",
                                             "partenariats": "10000"})   # documented 100 000 €
    today = date(2025, 4, 15)                                          # 2024 statement due 31/03/2025
    share = readings.documented_share([idf], today)[idf.id]
    assert round(share.value, 6) == round(100000 / 120000, 6)          # 0,833333 < 0,90
    top = readings.category_share([idf], today)[idf.id]
    assert top.value == 0.7 and "Démarche qualité" in top.detail       # 70 000 / 100 000 > 0,50
    summary = service.summaries([idf], [2024])[(idf.id, 2024)]
    assert summary.planned == Decimal("0") and summary.documented == Decimal("100000.00")
    assert [(c[0], c[3]) for c in summary.categories if c[3]] == [
        ("qualite", Decimal("70000.00")), ("communication", Decimal("20000.00")),
        ("partenariats", Decimal("10000.00"))]

    result = steering.evaluate(today, [idf.id])
    opened = {f.rule.code: f for f in result.opened}
    assert opened["uo4_documented_floor"].value == Decimal("0.8333")
    assert opened["uo4_category_ceiling"].value == Decimal("0.7000")
    # the 2025 plan was due 31/01/2025: 74 days late on 15/04/2025
    assert opened["uo4_plan_missing"].value == Decimal("74")
    assert "uo4_statement_missing" not in opened


def test_missing_statement_after_its_deadline_and_recovery(groupements, users):
    idf, bre = lot("IDF"), lot("BRE")
    before = readings.statement_lateness([idf], date(2025, 3, 31))[idf.id]
    assert before.value == 0 and "attendu le 31/03/2025" in before.detail
    late = readings.statement_lateness([idf, bre], date(2025, 4, 10))
    assert late[idf.id].value == 10 and late[bre.id].value == 10
    _accepted_statement(users, "BRE", 2024, {"qualite": "50000", "autre": "50000"})
    result = steering.evaluate(date(2025, 4, 10), [idf.id, bre.id])
    flagged = {(f.lot.code, f.rule.code) for f in result.opened}
    assert ("IDF", "uo4_statement_missing") in flagged
    assert ("BRE", "uo4_statement_missing") not in flagged
    # 50 % exactly is not above the 50 % ceiling
    assert ("BRE", "uo4_category_ceiling") not in flagged
    flag = db.session.scalar(sa.select(Flag).join(FlagRule).where(
        FlagRule.code == "uo4_statement_missing", Flag.lot_id == idf.id))
    _accepted_statement(users, "IDF", 2024, {"qualite": "1000"})
    steering.evaluate(date(2025, 4, 11), [idf.id])
    assert flag.cleared_on == date(2025, 4, 11)


def test_reminder_job_notifies_once(groupements, users):
    from fc_market.notifications.models import Notification
    assert service.notify_missing(date(2025, 2, 10)) >= 2        # IDF and BRE plans 2025
    count = db.session.scalar(sa.select(sa.func.count()).select_from(Notification))
    assert service.notify_missing(date(2025, 2, 11)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == count
