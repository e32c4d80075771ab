"""Finance figures that agree: invoiced − credited − penalties deducted − invoiced beyond the
certified amount − paid = outstanding, to the cent, on the dashboard, the lot page, the
Excel export and the command line; "Montant dû" is the certified payable amount; a rejected
invoice never reads "Conforme"."""
import json
from datetime import date
from decimal import Decimal
from io import BytesIO

import pytest

from fc_market.billing import service
from fc_market.extensions import db
from tests.billing.helpers import PDF, lot, make_validated

D = Decimal


@pytest.fixture
def idf_2024(market, users):
    """IDF, two certified months of 2024 (prices of 01/01/2024, no revision yet):

    * March: 10 UO1 × 150,00 + 3 UO2.1 × 600,00 + UO4 share 70 416,67 = 73 716,67 HT,
      VAT 14 743,33, 88 460,00 TTC; reporting 4 days late × 100,00 = 400,00 of penalty
      deducted from the TTC amount (outside the VAT scope): payable 88 060,00.
      Invoiced as certified, paid 88 060,00 in full.
    * April: 2 UO1 × 150,00 + UO4 share 70 416,67 = 70 716,67 HT, VAT 14 143,33
      (14 143,334), 84 860,00 TTC, no penalty: payable 84 860,00.  The operator invoices
      one UO1 too many: 70 866,67 HT + 14 173,33 = 85 040,00 TTC, i.e. 180,00 beyond the
      certified amount; a credit note of 120,00 TTC follows; 50 000,00 paid.
    """
    idf = lot("IDF")
    fin, mand = users["finance"], users["mandataire"]
    make_validated(idf, "2024-03", [("UO1", 5, 10), ("UO2.1", 12, 3)], days_late=4)
    make_validated(idf, "2024-04", [("UO1", 8, 2)])
    march = service.refresh_statement(idf, "2024-03")
    april = service.refresh_statement(idf, "2024-04")
    service.certify(march.id, fin)
    service.certify(april.id, fin)
    assert (march.total_incl_tax, march.amount_payable) == (D("88460.00"), D("88060.00"))
    assert (april.total_incl_tax, april.amount_payable) == (D("84860.00"), D("84860.00"))
    inv_march = service.record_invoice(
        march, mand, number="F-03", issued_on=date(2024, 4, 20), received_on=date(2024, 4, 22),
        amount_excl_tax="73716.67", vat="14743.33", amount_incl_tax="88460.00",
        file=("f.pdf", PDF), today=date(2024, 4, 22))
    service.decide(inv_march.id, fin, "accept", today=date(2024, 4, 23))
    service.record_payment(inv_march, fin, paid_on=date(2024, 5, 15), amount="88060.00",
                           reference="M-03", today=date(2024, 5, 15))
    inv_april = service.record_invoice(
        april, mand, number="F-04", issued_on=date(2024, 5, 20), received_on=date(2024, 5, 21),
        amount_excl_tax="70866.67", vat="14173.33", amount_incl_tax="85040.00",
        file=("f.pdf", PDF), today=date(2024, 5, 21))
    service.decide(inv_april.id, fin, "accept", today=date(2024, 5, 22))
    service.record_credit_note(inv_april, mand, number="AV-04", issued_on=date(2024, 5, 25),
                               amount_excl_tax="100.00", vat="20.00", amount_incl_tax="120.00",
                               reason="Un acte UO1 de trop", file=("a.pdf", PDF),
                               today=date(2024, 5, 25))
    service.record_payment(inv_april, fin, paid_on=date(2024, 6, 10), amount="50000.00",
                           reference="M-04", today=date(2024, 6, 10))
    db.session.commit()
    return inv_march, inv_april


def test_montant_du_is_the_certified_payable_amount(idf_2024):
    inv_march, inv_april = idf_2024
    # March: 88 460,00 invoiced − 400,00 penalty = 88 060,00, paid in full
    assert service.amount_due(inv_march) == D("88060.00") and service.outstanding(inv_march) == 0
    # April: invoiced 85 040,00 but certified 84 860,00: the 180,00 beyond are not owed;
    # the credit note of 120,00 lowers it to 84 740,00; 50 000,00 paid → 34 740,00 left
    assert service.not_certified(inv_april) == D("180.00")
    assert service.amount_due(inv_april) == D("84740.00")
    assert service.outstanding(inv_april) == D("34740.00")
    assert service.invoice_terms(inv_april) == {
        "invoiced": D("85040.00"), "credited": D("120.00"), "deducted": D("0.00"),
        "not_certified": D("180.00"), "paid": D("50000.00"), "outstanding": D("34740.00")}


def test_finance_identity_per_lot_and_year(idf_2024):
    row = service.dashboard([lot("IDF")], 2024, as_of=date(2024, 12, 31))[0]
    # 88 460,00 + 85 040,00 = 173 500,00 invoiced ; 120,00 credited ; 400,00 deducted ;
    # 180,00 beyond the certified ; 88 060,00 + 50 000,00 = 138 060,00 paid
    # 173 500,00 − 120,00 − 400,00 − 180,00 − 138 060,00 = 34 740,00 outstanding
    assert (row["invoiced"], row["credited"], row["deducted"], row["not_certified"], row["paid"],
            row["outstanding"]) == (D("173500.00"), D("120.00"), D("400.00"), D("180.00"),
                                    D("138060.00"), D("34740.00"))
    assert row["outstanding"] == (row["invoiced"] - row["credited"] - row["deducted"]
                                  - row["not_certified"] - row["paid"])
    # the penalty (400,00 HT) and withholdings (none) of the certified statements
    assert (row["penalties"], row["withholdings"]) == (D("400.00"), D("0.00"))
    # 34 740,00 left on F-04, received 21/05/2024: due 20/06/2024, late on 31/12/2024
    assert (row["late"], row["late_count"]) == (D("34740.00"), 1)


def test_dashboard_export_and_cli_show_the_same_figures(idf_2024, login, app):
    from openpyxl import load_workbook
    finance = login("finance")
    page = finance.get("/finances?annee=2024").get_data(as_text=True)
    for text in ("173\u202f500,00", "120,00", "400,00", "180,00", "138\u202f060,00", "34\u202f740,00"):
        assert text in page, text
    sheet = load_workbook(BytesIO(finance.get("/finances.xlsx?annee=2024").data)).active
    headers = [c.value for c in sheet[1]]
    idf_row = next(r for r in sheet.iter_rows(min_row=2, values_only=True) if r[0] == "IDF")
    got = {h: idf_row[headers.index(h)] for h in (
        "Facturé TTC", "Avoirs", "Pénalités déduites", "Facturé au-delà du certifié", "Payé",
        "Reste à payer")}
    assert got == {"Facturé TTC": 173500.0, "Avoirs": 120.0, "Pénalités déduites": 400.0,
                   "Facturé au-delà du certifié": 180.0, "Payé": 138060.0, "Reste à payer": 34740.0}
    result = app.test_cli_runner().invoke(args=["billing", "figures", "--year", "2024", "--json"])
    assert result.exit_code == 0, result.output
    idf = next(r for r in json.loads(result.output) if r["lot"] == "IDF")
    assert (idf["invoiced"], idf["credited"], idf["deducted"], idf["not_certified"], idf["paid"],
            idf["outstanding"]) == ("173500.00", "120.00", "400.00", "180.00", "138060.00",
                                    "34740.00")
    lot_page = finance.get("/lots/IDF/finances?annee=2024").get_data(as_text=True)
    assert "34\u202f740,00" in lot_page and "173\u202f500,00" in lot_page
    invoice_page = finance.get(f"/factures/{idf_2024[1].id}").get_data(as_text=True)
    text = invoice_page.replace("\xa0", " ")
    assert ("85\u202f040,00 € facturé TTC − 120,00 € d'avoirs − 0,00 € de pénalités déduites "
            "(hors champ de la TVA) − 180,00 € facturé au-delà du certifié − 50\u202f000,00 € payé "
            "= <strong>34\u202f740,00 €</strong> restant à payer") in text
    assert "84\u202f740,00" in invoice_page


def test_rejected_invoice_never_reads_conforme(market, users, login):
    idf = lot("IDF")
    make_validated(idf, "2024-05", [])
    st = service.refresh_statement(idf, "2024-05")
    service.certify(st.id, users["finance"])
    inv = service.record_invoice(st, users["mandataire"], number="F-05", issued_on=date(2024, 6, 3),
                                 amount_excl_tax=str(st.total_excl_tax), vat=str(st.vat),
                                 amount_incl_tax=str(st.total_incl_tax), file=("f.pdf", PDF),
                                 today=date(2024, 6, 3))
    assert inv.match_status == "matched" and inv.match_label == "Conforme"
    service.decide(inv.id, users["finance"], "reject", reason="RIB absent")
    db.session.commit()
    assert inv.match_state == "rejected" and inv.match_label == "Sans objet (rejetée)"
    finance = login("finance")
    page = finance.get(f"/factures/{inv.id}").get_data(as_text=True)
    assert "Sans objet (rejetée)" in page and "Conforme" not in page
    listing = finance.get("/factures").get_data(as_text=True)
    # (the filter above the table still offers "Conforme" as a choice; no row reads it)
    assert "Sans objet (rejetée)" in listing and ">Conforme</p>" not in listing
    from openpyxl import load_workbook
    sheet = load_workbook(BytesIO(finance.get("/factures.xlsx").data)).active
    headers = [c.value for c in sheet[1]]
    assert sheet[2][headers.index("Rapprochement")].value == "Sans objet (rejetée)"


def test_templates_do_not_use_labels_as_logic():
    import pathlib
    root = pathlib.Path(__file__).resolve().parents[2] / "templates" / "billing"
    for path in root.glob("*.html"):
        assert "== 'Conforme'" not in path.read_text(encoding="utf-8"), path.name
