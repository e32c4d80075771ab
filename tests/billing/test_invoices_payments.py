"""Invoices (three-way match, decisions, credit notes), payments (manual, idempotent import,
partial), the payment clock with an interruption, moratorium interest, dashboard, screens
and downloads."""
from datetime import date
from decimal import Decimal
from io import BytesIO

import pytest
import sqlalchemy as sa

from fc_market.billing import payment_import, service
from fc_market.billing.models import Invoice, Payment, PaymentImport, Reconciliation
from fc_market.extensions import db
from tests.billing.helpers import PDF, lot, make_validated


@pytest.fixture
def cvl_statement(market, users):
    """CVL, January 2025, no act: only the UO4 share 177 000,00 / 12 = 14 750,00 HT,
    VAT 2 950,00, 17 700,00 TTC (no revision index entered: coefficient 1)."""
    cvl = lot("CVL")
    make_validated(cvl, "2025-01", [])
    st = service.refresh_statement(cvl, "2025-01")
    service.certify(st.id, users["finance"])
    assert st.total_incl_tax == Decimal("17700.00")
    return st


def ecb():
    # ECB main refinancing rate: 3,15 % from 18/12/2024, 2,90 % from 05/02/2025
    service.add_ecb_rate(date(2024, 12, 18), Decimal("3.15"))
    service.add_ecb_rate(date(2025, 2, 5), Decimal("2.90"))


def invoice(st, user, number="F-2025-001", **kw):
    args = dict(number=number, issued_on=date(2025, 3, 1), received_on=date(2025, 3, 3),
                amount_excl_tax="14750.00", vat="2950.00", amount_incl_tax="17700.00",
                file=("facture.pdf", PDF), today=date(2025, 3, 3))
    args.update(kw)
    return service.record_invoice(st, user, **args)


def test_matching_invoice_and_line_by_line_difference(cvl_statement, users):
    inv = invoice(cvl_statement, users["mandataire"], lines=[{"uo_code": "UO4", "amount": "14750.00"}])
    assert inv.match_status == "matched"
    assert inv.file_key and inv.file_sha256
    with pytest.raises(service.BillingError, match="déjà enregistrée"):
        invoice(cvl_statement, users["mandataire"], number="F-2")


def test_mismatching_invoice_shows_the_difference(market, users):
    cvl = lot("CVL")
    make_validated(cvl, "2025-02", [("UO1", 3, 2)])
    st = service.refresh_statement(cvl, "2025-02")
    service.certify(st.id, users["finance"])
    # expected 14 750,00 + 300,00 = 15 050,00 HT ; the operator bills one more UO1 act
    inv = service.record_invoice(st, users["mandataire"], number="F-9", issued_on=date(2025, 3, 1),
                                 amount_excl_tax="15200,00", vat="3040,00", amount_incl_tax="18240,00",
                                 lines=[{"uo_code": "UO1", "amount": "450,00"},
                                        {"uo_code": "UO4", "amount": "14750,00"}],
                                 file=("f.pdf", PDF), today=date(2025, 3, 3))
    assert inv.match_status == "mismatch"
    rows, totals = service.match_invoice(inv)
    by = {r["uo_code"]: r for r in rows}
    assert by["UO1"]["certified"] == Decimal("300.00") and by["UO1"]["difference"] == Decimal("150.00")
    assert by["UO4"]["difference"] == Decimal("0.00")
    assert totals[0] == ("Total HT", Decimal("15050.00"), Decimal("15200.00"), Decimal("150.00"))


def test_invoice_input_is_checked(cvl_statement, users):
    with pytest.raises(service.BillingError, match="incohérent"):
        invoice(cvl_statement, users["mandataire"], amount_incl_tax="17700.01")
    with pytest.raises(service.BillingError, match="PDF"):
        invoice(cvl_statement, users["mandataire"], file=("f.pdf", b"GIF89a"))
    with pytest.raises(service.BillingError, match="deux décimales"):
        invoice(cvl_statement, users["mandataire"], vat="2950.001")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 0


def test_invoice_needs_a_certified_statement(market, users):
    cvl = lot("CVL")
    make_validated(cvl, "2025-03", [])
    st = service.refresh_statement(cvl, "2025-03")
    with pytest.raises(service.BillingError, match="pas encore certifié"):
        invoice(st, users["mandataire"])


def test_interruption_once_before_the_payment_is_ordered(cvl_statement, users):
    inv = invoice(cvl_statement, users["mandataire"])   # received 03/03/2025
    with pytest.raises(service.FieldError, match="motifs") as exc:
        service.interrupt(inv, users["finance"], notified_on=date(2025, 3, 10), reasons=" ",
                          documents_expected="RIB", today=date(2025, 3, 10))
    assert exc.value.field == "reasons"
    with pytest.raises(service.FieldError, match="futur"):
        service.interrupt(inv, users["finance"], notified_on=date(2025, 3, 11), reasons="RIB absent",
                          documents_expected="RIB", today=date(2025, 3, 10))
    with pytest.raises(service.FieldError, match="expiré le 02/04/2025"):
        service.interrupt(inv, users["finance"], notified_on=date(2025, 4, 3), reasons="RIB absent",
                          documents_expected="RIB", today=date(2025, 4, 3))
    assert inv.interruption is None
    row = service.interrupt(inv, users["finance"], notified_on=date(2025, 3, 10),
                            reasons="RIB du groupement absent", documents_expected="RIB signé",
                            today=date(2025, 3, 10))
    assert inv.status == "received" and row.is_open
    # while the documents are awaited, no term runs and the invoice cannot be accepted
    assert service.due_on(inv, date(2025, 6, 1)) is None
    with pytest.raises(service.BillingError, match="enregistrez d'abord"):
        service.decide(inv.id, users["finance"], "accept")
    with pytest.raises(service.BillingError, match="qu'une fois"):
        service.interrupt(inv, users["finance"], notified_on=date(2025, 3, 12), reasons="encore",
                          documents_expected="x", today=date(2025, 3, 12))
    with pytest.raises(service.FieldError, match="précède la notification"):
        service.record_documents_received(inv, users["finance"], date(2025, 3, 9), today=date(2025, 3, 20))
    service.record_documents_received(inv, users["finance"], date(2025, 3, 20), today=date(2025, 3, 20))
    # balance 30 − 7 = 23 days < 30 → new term of 30 days from 20/03 → 19/04/2025
    assert service.due_on(inv, date(2025, 3, 20)) == date(2025, 4, 19)
    service.decide(inv.id, users["finance"], "accept", today=date(2025, 3, 20))
    assert inv.status == "accepted"
    with pytest.raises(service.BillingError, match="impossible"):
        service.decide(inv.id, users["finance"], "reject", reason="encore")
    # stale page: another officer decided meanwhile
    with pytest.raises(service.BillingError, match="autre utilisateur"):
        service.decide(inv.id, users["finance"], "reject", reason="x", expected_version=1)


def test_no_interruption_once_the_payment_is_ordered(cvl_statement, users):
    inv = invoice(cvl_statement, users["mandataire"])
    service.decide(inv.id, users["finance"], "accept", today=date(2025, 3, 4))
    with pytest.raises(service.BillingError, match="mise en paiement"):
        service.interrupt(inv, users["finance"], notified_on=date(2025, 3, 5), reasons="RIB",
                          documents_expected="RIB", today=date(2025, 3, 5))


def test_receipt_date_entered_by_finance(cvl_statement, users):
    inv = invoice(cvl_statement, users["mandataire"], received_on=None, today=date(2025, 3, 5))
    assert inv.receipt_date == inv.received_on == date(2025, 3, 5)  # the upload day
    assert inv.chorus_received_on is None and inv.receipt_entered_at is None
    with pytest.raises(service.FieldError, match="dans le futur") as exc:
        service.set_receipt_date(inv, users["finance"], date(2025, 3, 6), today=date(2025, 3, 5))
    assert exc.value.field == "received_on"
    with pytest.raises(service.FieldError, match="précède la date de la facture"):
        service.set_receipt_date(inv, users["finance"], date(2025, 2, 28), today=date(2025, 3, 5))
    assert inv.receipt_date == date(2025, 3, 5)
    # deposited on Chorus Pro on 03/03: the term runs from there → due 02/04/2025; the
    # invoice as recorded (received_on) stays frozen
    service.set_receipt_date(inv, users["finance"], date(2025, 3, 3), today=date(2025, 3, 5))
    assert (inv.receipt_date, inv.chorus_received_on, inv.received_on) == (
        date(2025, 3, 3), date(2025, 3, 3), date(2025, 3, 5))
    assert inv.receipt_entered_by_id == users["finance"].id
    assert service.due_on(inv, date(2025, 3, 5)) == date(2025, 4, 2)
    service.decide(inv.id, users["finance"], "accept")
    with pytest.raises(service.BillingError, match="ne se modifie plus"):
        service.set_receipt_date(inv, users["finance"], date(2025, 3, 4), today=date(2025, 3, 5))


def test_rejected_invoice_allows_a_new_one_and_is_not_payable(cvl_statement, users):
    inv = invoice(cvl_statement, users["mandataire"])
    service.decide(inv.id, users["finance"], "reject", reason="Mauvais montant")
    assert service.amount_due(inv) == 0
    with pytest.raises(service.BillingError, match="rejetée"):
        service.record_payment(inv, users["finance"], paid_on=date(2025, 3, 20), amount="10.00",
                               today=date(2025, 4, 1))
    again = invoice(cvl_statement, users["mandataire"], number="F-2025-001-bis")
    assert again.status == "received"


def test_partial_payments_credit_note_and_outstanding(cvl_statement, users):
    inv = invoice(cvl_statement, users["mandataire"])
    service.decide(inv.id, users["finance"], "accept")
    service.record_payment(inv, users["finance"], paid_on=date(2025, 3, 20), amount="10000.00",
                           reference="M-1", today=date(2025, 4, 1))
    assert service.outstanding(inv) == Decimal("7700.00")
    service.record_credit_note(inv, users["mandataire"], number="AV-1", issued_on=date(2025, 3, 25),
                               amount_excl_tax="100.00", vat="20.00", amount_incl_tax="120.00",
                               reason="Erreur de quantité", file=("av.pdf", PDF), today=date(2025, 3, 26))
    assert service.amount_due(inv) == Decimal("17580.00") and service.outstanding(inv) == Decimal("7580.00")
    # overpayment: only what is outstanding is reconciled, the rest stays visible
    pay = service.record_payment(inv, users["finance"], paid_on=date(2025, 3, 28), amount="8000.00",
                                 reference="M-2", today=date(2025, 4, 1))
    assert pay.reconciled == Decimal("7580.00") and service.outstanding(inv) == 0
    with pytest.raises(service.BillingError, match="déjà enregistré"):
        service.record_payment(inv, users["finance"], paid_on=date(2025, 3, 28), amount="8000.00",
                               reference="M-2", today=date(2025, 4, 1))


def test_moratorium_interest_after_an_interruption(cvl_statement, users):
    ecb()
    inv = invoice(cvl_statement, users["mandataire"])  # received 03/03/2025
    service.interrupt(inv, users["finance"], notified_on=date(2025, 3, 10), reasons="RIB manquant",
                      documents_expected="RIB", today=date(2025, 3, 10))
    service.record_documents_received(inv, users["finance"], date(2025, 3, 20), today=date(2025, 3, 20))
    service.decide(inv.id, users["finance"], "accept", today=date(2025, 3, 20))
    # new term: 30 days from 20/03 (the balance, 23 days, is shorter) → 19/04/2025
    assert service.due_on(inv) == date(2025, 4, 19)
    service.record_payment(inv, users["finance"], paid_on=date(2025, 5, 2), amount="17700.00",
                           today=date(2025, 5, 2))
    result = service.late_interest(inv, date(2025, 6, 1))
    # 13 days late (19/04 → 02/05); interest runs from 20/04/2025: ECB rate in force on
    # 01/01/2025 = 3,15 % + 8 points = 11,15 % ; 17 700,00 × 11,15 % × 13 / 365
    # = 25 656,15 / 365 = 70,2908… → 70,29 ; + 40,00
    assert result.rate == Decimal("11.15") and result.portions[0].days_late == 13
    assert result.interest == Decimal("70.29") and result.flat_indemnity == Decimal("40.00")
    assert result.total == Decimal("110.29")
    owed = service.interest_owed(date(2025, 6, 1))
    assert [(i.number, r.total) for i, r in owed] == [("F-2025-001", Decimal("110.29"))]
    # R. 2192-36: to be paid within 45 days of the principal (02/05) → 16/06/2025
    assert service.interest_deadline(result) == date(2025, 6, 16)
    # computed as of a day before the payment: the whole invoice is still unpaid on 25/04,
    # 6 days late: 17 700,00 × 11,15 % × 6 / 365 = 11 841,3 / 365 = 32,4419… → 32,44
    before = service.late_interest(inv, date(2025, 4, 25))
    assert (before.unpaid, before.interest) == (Decimal("17700.00"), Decimal("32.44"))
    assert service.interest_deadline(before) is None


def test_interest_list_as_of_a_chosen_day_marks_the_45_day_deadline(cvl_statement, users, login):
    inv = _late_paid_invoice(cvl_statement, users)   # paid 22/04/2025 → interest due by 06/06
    db.session.commit()
    finance = login("finance")
    page = finance.get("/interets?au=2025-06-06").get_data(as_text=True)
    assert "F-2025-001" in page and "06/06/2025" in page and "délai de 45 jours dépassé" not in page
    page = finance.get("/interets?au=2025-06-07").get_data(as_text=True)
    assert "À payer — délai de 45 jours dépassé" in page
    page = finance.get("/interets?au=2999-01-01").get_data(as_text=True)
    assert "ne peut pas être dans le futur" in page
    from openpyxl import load_workbook
    sheet = load_workbook(BytesIO(finance.get("/interets.xlsx?au=2025-06-07").data)).worksheets[0]
    headers = [c.value for c in sheet[1]]
    values = [c.value for c in sheet[2]]
    assert values[headers.index("À payer au plus tard le (R. 2192-36)")].date() == date(2025, 6, 6)
    assert values[headers.index("Délai de 45 jours dépassé")] == "oui"
    assert values[headers.index("Total dû")] == 148.14


def _accepted_invoice(cvl_statement, users, *payments):
    """The invoice, accepted, due 02/04/2025, with ``payments`` ((day, amount) pairs)."""
    ecb()
    inv = invoice(cvl_statement, users["mandataire"])
    service.decide(inv.id, users["finance"], "accept", today=date(2025, 3, 4))
    for day, amount in payments:
        service.record_payment(inv, users["finance"], paid_on=day, amount=amount, today=day)
    return inv


def _late_paid_invoice(cvl_statement, users):
    """Paid in full 20 days late on 22/04/2025: 17 700,00 × 11,15 % × 20 / 365 = 108,139…
    → 108,14 of interest, + 40,00 of indemnity."""
    return _accepted_invoice(cvl_statement, users, (date(2025, 4, 22), "17700.00"))


def test_interest_settlement_freezes_the_amounts_and_closes_what_is_owed(cvl_statement, users):
    from fc_market.audit.models import AuditEntry
    inv = _late_paid_invoice(cvl_statement, users)
    assert [i.number for i, _ in service.interest_owed(date(2025, 5, 1))] == ["F-2025-001"]
    settlement = service.settle_interest(inv, users["finance"], paid_on=date(2025, 5, 20),
                                         reference=" MDT-INT-1 ", today=date(2025, 5, 20))
    db.session.commit()
    assert (settlement.interest, settlement.indemnity, settlement.total) == (
        Decimal("108.14"), Decimal("40.00"), Decimal("148.14"))
    assert settlement.reference == "MDT-INT-1"
    # rates entered by finance (4 decimals in the database) read as people write them
    assert "3,15 % + 8 points = 11,15 %" in settlement.explanation
    assert "17\u202f700,00 × 11,15 % × 20 / 365 = 108,14 €" in settlement.explanation
    assert service.interest_owed(date(2025, 6, 1)) == []
    assert service.interest_settled() == [settlement]
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "billing.interest_settlement"))
    assert entry.changes["interest"] == "108.14" and entry.changes["indemnity"] == "40.00"
    with pytest.raises(service.BillingError, match="déjà réglés"):
        service.settle_interest(inv, users["finance"], paid_on=date(2025, 5, 21), today=date(2025, 5, 21))


def test_interest_settlement_is_refused_while_it_cannot_be_final(cvl_statement, users):
    from fc_market.billing.models import InterestSettlement
    inv = _accepted_invoice(cvl_statement, users, (date(2025, 4, 1), "10000.00"))
    # 7 700,00 still unpaid on 01/05: the interest still runs
    with pytest.raises(service.BillingError, match="n.est pas soldée .reste 7.700,00"):
        service.settle_interest(inv, users["finance"], paid_on=date(2025, 5, 1), today=date(2025, 5, 1))
    service.record_payment(inv, None, paid_on=date(2025, 5, 2), amount="7700.00", today=date(2025, 5, 2))
    with pytest.raises(service.BillingError, match="avant le solde de la facture .le 02/05/2025"):
        service.settle_interest(inv, users["finance"], paid_on=date(2025, 4, 30), today=date(2025, 5, 3))
    with pytest.raises(service.BillingError, match="dans le futur"):
        service.settle_interest(inv, users["finance"], paid_on=date(2025, 5, 4), today=date(2025, 5, 3))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(InterestSettlement)) == 0


def test_no_settlement_without_a_late_payment(cvl_statement, users):
    inv = _accepted_invoice(cvl_statement, users, (date(2025, 3, 31), "17700.00"))
    with pytest.raises(service.BillingError, match="pas été payée en retard"):
        service.settle_interest(inv, users["finance"], paid_on=date(2025, 4, 10), today=date(2025, 4, 10))


def test_interest_settlement_screen_is_for_finance(cvl_statement, users, login):
    from fc_market.billing.models import InterestSettlement
    inv = _late_paid_invoice(cvl_statement, users)
    db.session.commit()
    page = login("finance").get(f"/factures/{inv.id}").get_data(as_text=True)
    assert "Enregistrer le paiement des intérêts (148,14" in page
    # the manager reads, the IDF mandataire does not even see the CVL invoice
    assert login("manager").post(f"/factures/{inv.id}/interets",
                                 data={"paid_on": "2025-05-20"}).status_code == 403
    assert login("mandataire").post(f"/factures/{inv.id}/interets",
                                    data={"paid_on": "2025-05-20"}).status_code in (403, 404)
    finance = login("finance")
    bad = finance.post(f"/factures/{inv.id}/interets", data={"paid_on": "pas une date"},
                       follow_redirects=True)
    assert "date" in bad.get_data(as_text=True).lower()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(InterestSettlement)) == 0
    done = finance.post(f"/factures/{inv.id}/interets", data={"paid_on": "2025-05-20",
                                                               "reference": "MDT-INT-1"},
                        follow_redirects=True).get_data(as_text=True)
    assert "Paiement des intérêts moratoires enregistré (148,14" in done
    assert "Payé le 20/05/2025" in done
    listing = finance.get("/interets").get_data(as_text=True)
    assert "Intérêts réglés (1," in listing and "MDT-INT-1" in listing
    assert finance.get("/interets.xlsx").status_code == 200


def test_interest_per_portion_on_partial_payments(cvl_statement, users):
    ecb()
    inv = invoice(cvl_statement, users["mandataire"])
    service.decide(inv.id, users["finance"], "accept")
    # due 02/04/2025 (no interruption); 10 000,00 on time, 7 700,00 on 02/05 (30 days late)
    service.record_payment(inv, None, paid_on=date(2025, 4, 1), amount="10000.00", today=date(2025, 6, 1))
    service.record_payment(inv, None, paid_on=date(2025, 5, 2), amount="7700.00", today=date(2025, 6, 1))
    result = service.late_interest(inv, date(2025, 6, 1))
    # 7 700,00 × 11,15 % × 30 / 365 = 70,5657… → 70,57 ; + 40,00 indemnity
    assert [p.interest for p in result.portions] == [Decimal("0.00"), Decimal("70.57")]
    assert result.total == Decimal("110.57")


def test_unpaid_invoice_accrues_until_today(cvl_statement, users):
    ecb()
    inv = invoice(cvl_statement, users["mandataire"])
    result = service.late_interest(inv, date(2025, 4, 12))
    # due 02/04/2025, unpaid on 12/04: 10 days × 17 700,00 × 11,15 % / 365 = 54,07
    assert result.unpaid == Decimal("17700.00") and result.interest == Decimal("54.07")


CSV = ("Facture;Date;Montant;Référence\n"
       "F-2025-001;20/03/2025;10 000,00;MAND-1\n"
       "F-2025-001;28/03/2025;7 700,00;MAND-2\n"
       "INCONNUE-1;28/03/2025;12,00;MAND-3\n")


def test_payment_import_is_idempotent_and_reports_unmatched(cvl_statement, users):
    inv = invoice(cvl_statement, users["mandataire"])
    batch = payment_import.import_payments(CSV.encode("utf-8"), "export.csv", users["finance"],
                                           today=date(2025, 4, 1))
    assert (batch.lines_read, batch.added, batch.duplicates, batch.unmatched) == (3, 2, 0, 1)
    assert batch.report[0]["invoice_number"] == "INCONNUE-1" and batch.report[0]["row"] == 4
    assert service.outstanding(inv) == 0
    db.session.commit()
    again = payment_import.import_payments(CSV.encode("utf-8"), "export.csv", users["finance"],
                                           today=date(2025, 4, 1))
    assert (again.added, again.duplicates, again.unmatched) == (0, 2, 1)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Reconciliation)) == 2


def test_payment_import_from_excel(cvl_statement, users):
    from openpyxl import Workbook
    inv = invoice(cvl_statement, users["mandataire"])
    wb = Workbook()
    ws = wb.active
    ws.append(["N° facture", "Date de paiement", "Montant", "Mandat"])
    ws.append(["F-2025-001", date(2025, 3, 20), 17700.00, "MAND-9"])
    buf = BytesIO()
    wb.save(buf)
    batch = payment_import.import_payments(buf.getvalue(), "export.xlsx", users["finance"],
                                           today=date(2025, 4, 1))
    assert batch.added == 1 and service.outstanding(inv) == 0
    ws["C3"] = "=C2"
    ws["A3"] = "F-2025-001"
    buf = BytesIO()
    wb.save(buf)
    with pytest.raises(payment_import.ImportRefused, match="formule"):
        payment_import.import_payments(buf.getvalue(), "export.xlsx", users["finance"])


def test_malformed_import_writes_nothing(cvl_statement, users):
    invoice(cvl_statement, users["mandataire"])
    bad = "Facture;Date;Montant\nF-2025-001;20/03/2025;100,00\nF-2025-001;31/02/2025;abc\n"
    with pytest.raises(payment_import.ImportRefused) as exc:
        payment_import.import_payments(bad.encode(), "x.csv", users["finance"])
    assert any("Ligne 3" in e for e in exc.value.errors)
    with pytest.raises(payment_import.ImportRefused, match="colonne"):
        payment_import.import_payments(b"a;b\n1;2\n", "x.csv", users["finance"])
    with pytest.raises(payment_import.ImportRefused):
        payment_import.import_payments(b"PK\x03\x04garbage", "x.xlsx", users["finance"])
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PaymentImport)) == 0


def test_concurrent_import_of_the_same_file_one_wins(app, cvl_statement, users):
    invoice(cvl_statement, users["mandataire"])
    db.session.commit()
    import threading
    outcomes = []

    def run():
        with app.app_context():
            try:
                b = payment_import.import_payments(CSV.encode(), "export.csv", None, today=date(2025, 4, 1))
                db.session.commit()
                outcomes.append(b.added)
            except service.BillingError as exc:
                db.session.rollback()
                outcomes.append(str(exc))
            except sa.exc.OperationalError as exc:  # SQLite: the writer lock was held too long
                db.session.rollback()
                outcomes.append(f"locked: {exc}")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(o for o in outcomes if isinstance(o, int)) == 2, outcomes
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 2


def test_dashboard_figures(cvl_statement, users):
    inv = invoice(cvl_statement, users["mandataire"])
    service.decide(inv.id, users["finance"], "accept")
    service.record_payment(inv, None, paid_on=date(2025, 3, 20), amount="7700.00", today=date(2025, 4, 1))
    row = service.dashboard([lot("CVL")], 2025, as_of=date(2025, 6, 1))[0]
    assert row["committed"] == Decimal("14750.00") and row["certified_year"] == Decimal("14750.00")
    assert row["invoiced"] == Decimal("17700.00") and row["paid"] == Decimal("7700.00")
    assert row["outstanding"] == Decimal("10000.00") and row["late"] == Decimal("10000.00")
    # one known month of 14 750,00 → 11 more at the same pace: 177 000,00
    assert row["forecast"] == Decimal("177000.00")
    assert row["committed_share"] == Decimal("14750.00") / lot("CVL").contract.max_amount


def test_invoice_screens_and_file_isolation(cvl_statement, users, login, app):
    cvl = lot("CVL")
    from fc_market.auth.service import create_user
    from tests.conftest import PASSWORD, Browser
    owner = create_user("m.cvl@test.fr", "Mandataire CVL", "mandataire", PASSWORD, cvl)
    db.session.commit()
    browser = Browser(app, owner)
    page = browser.get(f"/etats/{cvl_statement.id}/facture")
    assert page.status_code == 200 and "700,00" in page.get_data(as_text=True)
    response = browser.post(f"/etats/{cvl_statement.id}/facture", data={
        "number": "F-WEB-1", "issued_on": date.today().isoformat(), "amount_excl_tax": "14 750,00",
        "vat": "2 950,00", "amount_incl_tax": "17 700,00", "line_UO4": "14750",
        "file": (BytesIO(PDF), "facture.pdf")}, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    inv = db.session.scalar(sa.select(Invoice).where(Invoice.number == "F-WEB-1"))
    assert inv.match_status == "matched"
    pdf = browser.get(f"/factures/{inv.id}/pdf")
    assert pdf.status_code == 200 and pdf.data == PDF
    # another lot's mandataire: 404 on the invoice, its file and the statement
    other = login("mandataire")  # IDF
    assert other.get(f"/factures/{inv.id}/pdf").status_code == 404
    assert other.get(f"/factures/{inv.id}").status_code == 404
    assert other.get(f"/etats/{cvl_statement.id}").status_code == 404
    finance = login("finance")
    assert finance.get(f"/factures/{inv.id}/pdf").status_code == 200
    # a date in the future is refused on its field, in French, and nothing changes
    r = finance.post(f"/factures/{inv.id}/reception", data={"received_on": "2999-01-01"})
    assert r.status_code == 400 and "est dans le futur" in r.get_data(as_text=True)
    r = finance.post(f"/factures/{inv.id}/interruption", data={
        "notified_on": date.today().isoformat(), "reasons": "RIB absent",
        "documents_expected": "RIB du groupement"})
    assert r.status_code == 302
    db.session.refresh(inv)
    assert inv.status == "received" and inv.interruption.is_open
    # the mandataire sees it and supplies the document; another lot's mandataire cannot
    page = browser.get(f"/factures/{inv.id}").get_data(as_text=True)
    assert "RIB du groupement" in page and "Déposer la pièce" in page
    r = browser.post(f"/factures/{inv.id}/interruption/pieces", data={
        "file": (BytesIO(b"GIF89a"), "rib.gif")}, content_type="multipart/form-data")
    assert r.status_code == 400 and "Type de fichier refusé" in r.get_data(as_text=True)
    r = browser.post(f"/factures/{inv.id}/interruption/pieces", data={
        "file": (BytesIO(PDF), "rib.pdf"), "comment": "RIB"}, content_type="multipart/form-data")
    assert r.status_code == 302
    doc = inv.interruption.documents[0]
    assert other.post(f"/factures/{inv.id}/interruption/pieces", data={
        "file": (BytesIO(PDF), "x.pdf")}, content_type="multipart/form-data").status_code == 404
    assert other.get(f"/factures/{inv.id}/interruption/pieces/{doc.id}").status_code == 404
    assert finance.get(f"/factures/{inv.id}/interruption/pieces/{doc.id}").data == PDF
    r = finance.post(f"/factures/{inv.id}/interruption/reception",
                     data={"documents_received_on": date.today().isoformat()})
    assert r.status_code == 302
    db.session.refresh(inv)
    assert not inv.interruption.is_open
    assert "nouveau délai de 30 j" in finance.get(f"/factures/{inv.id}").get_data(as_text=True)
    for url in ("/finances", "/finances.xlsx", "/factures.xlsx", "/paiements", "/interets",
                "/interets.xlsx", "/finances/taux", "/lots/CVL/finances", f"/etats/{cvl_statement.id}.xlsx"):
        assert finance.get(url).status_code == 200, url


def test_payment_delay_per_invoice_and_on_the_lot_page(cvl_statement, users, login):
    inv = invoice(cvl_statement, users["mandataire"])  # received 03/03/2025
    service.interrupt(inv, users["finance"], notified_on=date(2025, 3, 10), reasons="RIB manquant",
                      documents_expected="RIB", today=date(2025, 3, 10))
    service.record_documents_received(inv, users["finance"], date(2025, 3, 20), today=date(2025, 3, 20))
    service.decide(inv.id, users["finance"], "accept", today=date(2025, 3, 20))
    # unpaid: the delay runs until the day read (receipt → 02/04 = 30 days), not late yet:
    # the new term ends on 19/04
    clock = service.payment_clock(inv, date(2025, 4, 2))
    assert (clock.delay_days, clock.running, clock.late) == (30, True, False)
    service.record_payment(inv, None, paid_on=date(2025, 4, 1), amount="10000.00", today=date(2025, 4, 1))
    service.record_payment(inv, None, paid_on=date(2025, 5, 2), amount="7700.00", today=date(2025, 5, 2))
    # paid in full on 02/05/2025: 60 days from receipt, fixed whatever the day read;
    # 13 days past the due date of 19/04
    clock = service.payment_clock(inv, date(2025, 12, 31))
    assert (clock.delay_days, clock.running, clock.days_late) == (60, False, 13)
    rows = service.lot_months(lot("CVL"), 2025, date(2025, 12, 31))
    row = next(r for r in rows if r["invoice"] is not None and r["invoice"].id == inv.id)
    assert (row["paid_on"], row["delay_days"], row["late"], row["due_on"]) == (
        date(2025, 5, 2), 60, True, date(2025, 4, 19))
    summary = service.delay_summary(rows, 30)
    assert (summary["count"], summary["mean"], summary["max"], summary["late"]) == (1, 60, 60, 1)
    db.session.commit()
    page = login("finance").get("/lots/CVL/finances?annee=2025").get_data(as_text=True)
    assert "Délai moyen de paiement 2025 (délai contractuel 30 j)" in page and "60 j" in page
    assert "60 j" in login("finance").get("/factures").get_data(as_text=True)
    from openpyxl import load_workbook
    sheet = load_workbook(BytesIO(login("finance").get("/factures.xlsx").data)).active
    headers = [c.value for c in sheet[1]]
    values = [c.value for c in sheet[2]]
    assert values[headers.index("Délai de paiement (jours)")] == 60
    assert values[headers.index("Payée le")].date() == date(2025, 5, 2)
    assert values[headers.index("Échéance")].date() == date(2025, 4, 19)


def test_invoice_and_payment_import_pages_export_to_excel(cvl_statement, users, login):
    from openpyxl import load_workbook
    inv = _late_paid_invoice(cvl_statement, users)
    batch = payment_import.import_payments(CSV.replace("F-2025-001", "F-INCONNUE").encode("utf-8"),
                                           "export.csv", users["finance"], today=date(2025, 4, 1))
    db.session.commit()
    finance = login("finance")
    book = load_workbook(BytesIO(finance.get(f"/factures/{inv.id}.xlsx").data))
    assert book.sheetnames == ["Rapprochement", "Totaux", "Paiements", "Retard de paiement"]
    totals = [[c.value for c in row] for row in book["Totaux"].iter_rows(min_row=2)]
    assert totals[-1][:4] == ["Total TTC", 17700, 17700, 0]  # numeric cells
    payment = [c.value for c in book["Paiements"][2]]
    assert payment[0].date() == date(2025, 4, 22) and payment[1] == 17700
    late = [c.value for c in book["Retard de paiement"][2]]
    assert late[0] == "dus" and late[1] == 108.14 and late[2] == 40
    # the mandataire of another lot cannot export it
    assert login("mandataire").get(f"/factures/{inv.id}.xlsx").status_code == 404
    report = load_workbook(BytesIO(finance.get(f"/paiements/imports/{batch.id}.xlsx").data)).active
    lines = [[c.value for c in row] for row in report.iter_rows(min_row=2)]
    assert [line[1] for line in lines] == ["F-INCONNUE", "F-INCONNUE", "INCONNUE-1"]
    assert lines[0][2].date() == date(2025, 3, 20) and lines[0][3] == 10000
    assert login("mandataire").get(f"/paiements/imports/{batch.id}.xlsx").status_code == 403


def test_invoice_and_credit_note_files_are_parsed_not_sniffed(app, cvl_statement, users):
    import os

    from fc_market import storage
    hostile = PDF.replace(b"/Pages 2 0 R", b"/Pages 2 0 R /OpenAction << /S /JavaScript /JS (app.alert\\(1\\)) >>")
    folder = app.config["UPLOAD_FOLDER"]
    stored = lambda: sorted(os.path.join(d, f) for d, _, fs in os.walk(folder) for f in fs)  # noqa: E731
    before = stored()
    with pytest.raises(storage.FileRefused, match="le PDF contient du JavaScript"):
        invoice(cvl_statement, users["mandataire"], file=("facture.pdf", hostile))
    with pytest.raises(storage.FileRefused, match="ne se lit pas comme un PDF"):
        invoice(cvl_statement, users["mandataire"], file=("facture.pdf", b"%PDF-1.4\n<html></html>\n%%EOF\n"))
    inv = invoice(cvl_statement, users["mandataire"])
    service.decide(inv.id, users["finance"], "accept")
    with pytest.raises(storage.FileRefused, match="le PDF contient du JavaScript"):
        service.record_credit_note(inv, users["mandataire"], number="AV-1", issued_on=date(2025, 3, 25),
                                   amount_excl_tax="100.00", vat="20.00", amount_incl_tax="120.00",
                                   reason="Erreur", file=("av.pdf", hostile), today=date(2025, 3, 26))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 1
    assert len(stored()) == len(before) + 1      # the sound invoice only
