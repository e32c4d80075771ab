"""UO4 plans and statements: good file, every kind of bad file, web form, documents,
submission, review thread, versions."""
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from fc_market.audit.models import AuditEntry
from fc_market.extensions import db
from fc_market.notifications.models import Notification
from fc_market.uo4 import service
from fc_market.uo4.models import Uo4Filing, Uo4Line, Uo4Status, Uo4Version
from tests.uo4.conftest import PDF, SIRETS, filled, lot

IDF_A, IDF_B = SIRETS["IDF"]


def _plan_rows():
    return [("qualite — Démarche qualité", f"{IDF_A} — Atlas Conseil IDF", 40000, "Certification"),
            ("Communication", IDF_B, "12 500,50", None),
            ("pilotage_si", IDF_A, 30000.25, "Outil de suivi")]


def test_terms_come_from_the_contract_file(market):
    from fc_market.uo4.terms import uo4_terms
    terms = uo4_terms(lot("IDF"))
    assert [code for code, _ in terms.categories] == [
        "qualite", "professionnalisation", "communication", "partenariats",
        "accessibilite_immobilier", "pilotage_si", "autre"]
    assert terms.due_on("plan", 2025) == date(2025, 1, 31)
    assert terms.due_on("statement", 2025) == date(2026, 3, 31)
    assert terms.documented_share_floor == Decimal("0.90")
    rules = {r.code: r for r in market.flag_rules}
    assert rules["uo4_documented_floor"].threshold == Decimal("0.9000")
    assert rules["uo4_category_ceiling"].threshold == Decimal("0.5000")
    assert rules["uo4_category_ceiling"].label == "Une catégorie dépasse 50\u00a0% des dépenses UO4"


def test_bad_uo4_terms_are_refused_with_every_error():
    from fc_market.market.contract_file import ContractFileError, validate
    import tomllib
    from tests.conftest import DEMO_CONTRACT
    data = tomllib.loads(DEMO_CONTRACT.read_text(encoding="utf-8"))
    data["defaults"]["uo4"]["plan_deadline"] = "02-30"
    data["defaults"]["uo4"]["documented_share_floor"] = "1.5"
    data["defaults"]["uo4"]["categories"]["Mauvais Code"] = "Doublon"
    data["lots"][0]["contract"]["uo4"] = {"category_share_ceiling": "0.4"}
    with pytest.raises(ContractFileError) as exc:
        validate(data)
    keys = [k for k, _ in exc.value.errors]
    assert "lots.IDF.contract.uo4.plan_deadline" in keys
    assert "lots.IDF.contract.uo4.categories" in keys
    assert "lots.IDF.contract.uo4.category_share_ceiling" in keys
    assert any("documented_share_floor" in k for k in keys)


def test_a_lot_may_have_its_own_categories_and_deadlines(market):
    from fc_market.market.contract_file import load_spec, parse_file
    from tests.conftest import DEMO_CONTRACT
    spec = parse_file(DEMO_CONTRACT)
    bre = next(l for l in spec["lots"] if l["code"] == "BRE")
    bre["contract"]["extra_terms"]["uo4.statement_deadline"] = "04-30"
    bre["contract"]["extra_terms"]["uo4.categories"] = {"qualite": "Qualité", "autre": "Autre"}
    load_spec(spec)
    from fc_market.uo4.terms import uo4_terms
    terms = uo4_terms(lot("BRE"))
    assert terms.due_on("statement", 2025) == date(2026, 4, 30)
    assert terms.labels == {"qualite": "Qualité", "autre": "Autre"}
    assert uo4_terms(lot("IDF")).due_on("statement", 2025) == date(2026, 3, 31)


def test_good_plan_file_fills_a_draft_then_is_submitted(groupements, users):
    idf = lot("IDF")
    data = filled(idf, 2025, "plan", _plan_rows())
    result = service.import_file(idf, 2025, "plan", data, user=users["mandataire"],
                                 file_name="plan.xlsx")
    assert result.accepted, result.errors
    draft = result.version
    assert draft.status == Uo4Status.DRAFT and draft.source == "excel" and draft.number == 1
    # 40 000 + 12 500,50 + 30 000,25
    assert draft.total == Decimal("82500.75")
    assert [(l.category, l.amount, l.source_row) for l in draft.lines] == [
        ("qualite", Decimal("40000.00"), 2), ("communication", Decimal("12500.50"), 3),
        ("pilotage_si", Decimal("30000.25"), 4)]
    assert draft.lines[1].member_id == groupements["IDF"][1].id
    issues = service.submit(draft, users["mandataire"], today=date(2025, 2, 3))
    assert not issues.error_count
    db.session.commit()
    assert draft.status == Uo4Status.SUBMITTED and draft.days_late == 3  # due 31/01/2025
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)
                             .where(AuditEntry.action == "uo4.submit")) == 1
    note = db.session.scalar(sa.select(Notification).where(Notification.kind == "uo4.submitted"))
    assert note.audience == "fc" and "82 500,75" in note.body.replace("\u202f", " ")


def _errors(result):
    return {(i.code, i.sheet, i.row, i.column) for i in result.errors}


def test_a_bad_file_lists_every_error_and_writes_nothing(groupements, users):
    idf = lot("IDF")
    rows = [("Inconnue", IDF_A, 100, None),              # 2: unknown category
            ("qualite", "12345678901234", 100, None),     # 3: not a member
            ("communication", IDF_A, None, None),         # 4: amount missing
            ("partenariats", IDF_A, -5, None),            # 5: negative
            ("autre", IDF_A, "12,345", None),             # 6: three decimals
            ("autre", IDF_B, "beaucoup", None),           # 7: not a number
            ("qualite", IDF_B, 10, None),                 # 8
            ("qualite", IDF_B, 20, "x" * 501),            # 9: duplicate of 8, description too long
            (None, None, 50, None)]                       # 10: category and member missing
    result = service.import_file(idf, 2025, "plan", filled(idf, 2025, "plan", rows),
                                 user=users["mandataire"])
    assert not result.accepted
    assert _errors(result) == {
        ("category_unknown", "Plan", 2, "A"), ("member_unknown", "Plan", 3, "B"),
        ("amount_missing", "Plan", 4, "C"), ("amount_negative", "Plan", 5, "C"),
        ("amount_cents", "Plan", 6, "C"), ("amount_invalid", "Plan", 7, "C"),
        ("duplicate", "Plan", 9, "A"), ("description_long", "Plan", 9, "D"),
        ("category_missing", "Plan", 10, "A"), ("member_missing", "Plan", 10, "B")}
    assert all(i.message[0].isupper() or i.message[0] == "«" for i in result.errors)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Uo4Version)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Uo4Line)) == 0


@pytest.mark.parametrize("case, code", [
    ("wrong_lot", "wrong_lot"), ("wrong_year", "wrong_year"), ("statement_file", "sheet_missing"),
    ("formula", "formula"), ("not_xlsx", "workbook_not_xlsx"), ("columns", "columns_missing"),
    ("empty", "empty")])
def test_every_kind_of_bad_workbook_is_refused(groupements, users, case, code):
    idf = lot("IDF")
    rows = _plan_rows()
    if case == "wrong_lot":
        data = filled(lot("BRE"), 2025, "plan", [])
    elif case == "wrong_year":
        data = filled(idf, 2026, "plan", rows)
    elif case == "statement_file":
        data = filled(idf, 2025, "statement", rows)
    elif case == "formula":
        data = filled(idf, 2025, "plan", rows, edit=lambda wb: wb["Plan"].cell(row=2, column=3,
                                                                              value="=1+1"))
    elif case == "not_xlsx":
        data = PDF
    elif case == "columns":
        data = filled(idf, 2025, "plan", rows, edit=lambda wb: wb["Plan"].cell(row=1, column=3,
                                                                              value="Somme"))
    else:
        data = filled(idf, 2025, "plan", [])
    result = service.import_file(idf, 2025, "plan", data, user=users["mandataire"])
    assert not result.accepted
    assert code in {i.code for i in result.errors}, result.errors
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Uo4Version)) == 0


def test_year_outside_the_contract_is_refused(groupements, users):
    idf = lot("IDF")
    result = service.import_file(idf, 2031, "plan", b"", user=users["mandataire"])
    assert not result.accepted and "hors du contrat" in result.errors[0].message


def _statement(users, rows=None):
    idf = lot("IDF")
    filing = service.get_or_create_filing(idf, 2024, "statement")
    rows = rows or [(2, {"category": "qualite", "member": IDF_A, "amount": "60000"}, {}),
                    (3, {"category": "communication", "member": IDF_B, "amount": "20000"}, {}),
                    (4, {"category": "autre", "member": IDF_B, "amount": "0"}, {})]
    draft, issues = service.save_lines(filing, rows, users["mandataire"])
    assert draft is not None, issues.errors
    return draft


def test_statement_needs_a_document_per_category_with_spending(groupements, users):
    draft = _statement(users)
    issues = service.submit(draft, users["mandataire"], today=date(2025, 3, 1))
    assert sorted(i.field for i in issues.errors) == ["Communication", "Démarche qualité"]
    assert draft.status == Uo4Status.DRAFT
    service.add_document(draft, "qualite", PDF, "facture-qualite.pdf", users["mandataire"])
    with pytest.raises(service.Uo4Error, match="Type de fichier refusé"):
        service.add_document(draft, "communication", b"MZ\x90\x00 not a pdf", "virus.pdf",
                             users["mandataire"])
    issues = service.submit(draft, users["mandataire"], today=date(2025, 3, 1))
    assert [i.field for i in issues.errors] == ["Communication"]
    service.add_document(draft, "communication", PDF, "contrat.pdf", users["mandataire"])
    assert not service.submit(draft, users["mandataire"], today=date(2025, 3, 1)).error_count
    assert draft.status == Uo4Status.SUBMITTED and draft.days_late == 0
    assert draft.total == Decimal("80000.00")


def test_review_thread_answer_accept_and_new_versions(groupements, users):
    draft = _statement(users)
    for cat in ("qualite", "communication"):
        service.add_document(draft, cat, PDF, f"{cat}.pdf", users["mandataire"])
    service.submit(draft, users["mandataire"], today=date(2025, 3, 1))
    db.session.commit()
    manager, mandataire = users["manager"], users["mandataire"]
    with pytest.raises(service.Uo4Error, match="questions"):
        service.decide(draft, manager, "question", "  ")
    service.decide(draft, manager, "question", "Détaillez la facture de certification.")
    assert draft.status == Uo4Status.QUESTIONED
    # a version under review is immutable and blocks a new one
    filing = draft.filing
    with pytest.raises(service.Uo4Error, match="en cours d'examen"):
        service.save_lines(filing, [(2, {"category": "qualite", "member": IDF_A, "amount": "1"}, {})],
                           mandataire)
    with pytest.raises(service.Uo4Error, match="plus modifiable"):
        service.add_document(draft, "qualite", PDF, "x.pdf", mandataire)
    service.answer(draft, mandataire, "Audit initial et surveillance : deux factures jointes.")
    assert draft.status == Uo4Status.SUBMITTED
    assert [m.kind for m in draft.messages] == ["question", "answer"]
    with pytest.raises(service.Uo4Error, match="motivé"):
        service.decide(draft, manager, "reject", "")
    service.decide(draft, manager, "accept", None, draft.version_counter)
    db.session.commit()
    assert draft.status == Uo4Status.ACCEPTED
    with pytest.raises(service.Conflict):
        service.decide(draft, manager, "reject", "trop tard")
    # a correction starts from the accepted version; accepting it supersedes the first
    second = service.open_draft(filing, mandataire)
    assert second.number == 2 and len(second.lines) == 3 and len(second.documents) == 2
    assert second.total == Decimal("80000.00")
    service.submit(second, mandataire, today=date(2025, 5, 1))
    assert service.in_force(filing).id == draft.id  # accepted wins while the new one is examined
    service.decide(second, manager, "accept", "Bilan corrigé accepté.")
    db.session.commit()
    assert draft.status == Uo4Status.SUPERSEDED and service.in_force(filing).id == second.id
    actions = db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.action.like("uo4.%"))
                                 .order_by(AuditEntry.id)).all()
    assert actions.count("uo4.accept") == 2 and "uo4.question" in actions and "uo4.answer" in actions
    kinds = set(db.session.scalars(sa.select(Notification.kind)))
    assert {"uo4.question", "uo4.answered", "uo4.accept"} <= kinds


def test_web_form_errors_name_the_row_and_write_nothing(groupements, users):
    idf = lot("IDF")
    filing = service.get_or_create_filing(idf, 2025, "plan")
    letters = {name: header for name, header in service.LINE_FIELDS}
    rows = [(1, {"category": "qualite", "member": IDF_A, "amount": "10"}, letters),
            (2, {"category": "qualite", "member": IDF_A, "amount": "abc"}, letters)]
    draft, issues = service.save_lines(filing, rows, users["mandataire"])
    assert draft is None
    assert {(i.code, i.row) for i in issues.errors} == {("duplicate", 2), ("amount_invalid", 2)}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Uo4Version)) == 0
    assert db.session.scalar(sa.select(Uo4Filing.due_on)) == date(2025, 1, 31)


def test_a_submitted_version_is_frozen_below_the_service_too(groupements, users):
    from fc_market.integrity import FrozenRecord
    draft = _statement(users)
    for cat in ("qualite", "communication"):
        service.add_document(draft, cat, PDF, f"{cat}.pdf", users["mandataire"])
    service.submit(draft, users["mandataire"], today=date(2025, 3, 1))
    db.session.commit()
    draft.lines[0].amount = Decimal("1.00")
    with pytest.raises(FrozenRecord, match="ses lignes"):
        db.session.flush()
    db.session.rollback()
    draft.total = Decimal("1.00")
    with pytest.raises(FrozenRecord):
        db.session.flush()
    db.session.rollback()
    draft.status = "draft"
    with pytest.raises(FrozenRecord, match="impossible"):
        db.session.flush()
    db.session.rollback()
