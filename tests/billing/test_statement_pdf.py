"""The payable statement as a PDF, beside the Excel export: it parses and carries the
statement's totals; a mandataire reads only its own lot's."""
import io

from pypdf import PdfReader

from fc_market.billing import service
from fc_market.extensions import db
from tests.billing.helpers import lot, make_validated


def test_statement_pdf_carries_the_totals(app, market, users, login):
    """IDF, January 2025: 3 UO1 acts at 150,00 € = 450,00 € plus the monthly UO4 share."""
    idf = lot("IDF")
    make_validated(idf, "2025-01", [("UO1", 6, 3)])
    st = service.refresh_statement(idf, "2025-01")
    service.certify(st.id, users["finance"])
    db.session.commit()
    uo1 = next(l for l in st.lines if l.uo_code == "UO1")
    assert (uo1.quantity, uo1.amount) == (3, 450)
    for role in ("mandataire", "finance"):
        response = login(role).get(f"/etats/{st.id}.pdf")
        assert response.status_code == 200 and response.mimetype == "application/pdf"
        reader = PdfReader(io.BytesIO(response.data))
        text = " ".join(page.extract_text() for page in reader.pages)
        assert st.number in text and "janvier 2025" in text and "IDF" in text
        assert "450,00 EUR" in text

        def euros(amount):
            whole, cents = f"{amount:.2f}".split(".")
            groups = []
            while whole:
                groups.insert(0, whole[-3:])
                whole = whole[:-3]
            return f"{' '.join(groups)},{cents} EUR"
        for key in ("total_excl_tax", "vat", "total_incl_tax", "amount_payable"):
            assert euros(getattr(st, key)) in text, key
        assert "Service fait certifié" in text
    # the statement page links the PDF beside the Excel export
    page = login("finance").get(f"/etats/{st.id}").get_data(as_text=True)
    assert f"/etats/{st.id}.pdf" in page and f"/etats/{st.id}.xlsx" in page
    assert login("other_mandataire").get(f"/etats/{st.id}.pdf").status_code == 404
