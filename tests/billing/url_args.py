"""URL arguments of the billing routes for tests/test_access.py: objects of lot IDF (the test
mandataire's) and BRE (another lot)."""
from datetime import date

from tests.billing.helpers import PDF, lot, make_validated

IDS = {}


def prepare(users):
    from fc_market.billing import payment_import, service
    for code in ("IDF", "BRE"):
        the_lot = lot(code)
        make_validated(the_lot, "2024-03", [("UO1", 5, 2)])
        make_validated(the_lot, "2024-04", [("UO1", 5, 2)])
        st = service.refresh_statement(the_lot, "2024-03")
        service.certify(st.id, users["finance"])
        open_st = service.refresh_statement(the_lot, "2024-04")
        exp = service.expected_totals(st)
        inv = service.record_invoice(st, users["mandataire"], number=f"F-{code}-1",
                                     issued_on=date(2024, 4, 20), received_on=date(2024, 4, 22),
                                     amount_excl_tax=exp["amount_excl_tax"], vat=exp["vat"],
                                     amount_incl_tax=exp["amount_incl_tax"], file=("f.pdf", PDF))
        # the invoice's payment clock interrupted, with one document supplied by the operator
        service.interrupt(inv, users["finance"], notified_on=date(2024, 4, 25), reasons="RIB absent",
                          documents_expected="RIB signé", today=date(2024, 4, 25))
        doc = service.add_interruption_document(inv, users["mandataire"], ("rib.pdf", PDF))
        IDS[code] = {"statement_id": st.id, "open_statement_id": open_st.id, "invoice_id": inv.id,
                     "document_id": doc.id}
    csv = "Facture;Date;Montant;Référence\nF-IDF-1;10/05/2024;100,00;M1\nX-404;10/05/2024;5,00;M2\n"
    batch = payment_import.import_payments(csv.encode(), "paiements.csv", users["finance"])
    IDS["import_id"] = batch.id


ARGUMENTS = {
    "statement_id": lambda users, code: IDS[code]["statement_id"],
    "invoice_id": lambda users, code: IDS[code]["invoice_id"],
    "document_id": lambda users, code: IDS[code]["document_id"],
    "import_id": lambda users, code: IDS["import_id"],
}
LOT_SCOPED = {"statement_id", "invoice_id", "document_id"}
