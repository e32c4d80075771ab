"""Hostile uploads through the real HTTP routes people use — the reporting upload, the site
import, the payment import, the control proofs and the invoice PDF: zip bombs, XML external
entities, oversized sheets, wrong content types and path tricks in file names are refused
with a French message and nothing is written (no row, no stored file).  And one real export:
text that looks like a formula is written as text."""
import html
import io
import os
import zipfile
from datetime import date
from io import BytesIO

import openpyxl
import pytest
import sqlalchemy as sa

from fc_market.extensions import db
from tests.billing.helpers import PDF
from tests.reporting.helpers import add_sites, lot, make_file, row, table_counts

P = "2025-03"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def rewrite(data, add=None, replace=None):
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if replace and info.filename in replace:
                content = replace[info.filename](content)
            dst.writestr(info.filename, content)
        for name, content in (add or {}).items():
            dst.writestr(name, content)
    return out.getvalue()


def simple_xlsx(rows):
    wb = openpyxl.Workbook()
    for r in rows:
        wb.active.append(r)
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


def hostile(base):
    """name → (bytes, file name, words the French message must contain)."""
    tall = openpyxl.load_workbook(BytesIO(base))
    tall[tall.sheetnames[0]].cell(row=250_000, column=1, value="x")
    tall_out = BytesIO()
    tall.save(tall_out)
    far = openpyxl.load_workbook(BytesIO(base))
    far[far.sheetnames[0]]["GR199999"] = "x"   # one value: a 199,999 × 200 grid for the reader
    far_out = BytesIO()
    far.save(far_out)
    return {
        "far_cell": (far_out.getvalue(), "rapport.xlsx", "est trop étendue : sa dimension déclarée couvre la "
                     "plage A1:GR199999, soit 39 999 800 cellules (maximum 4 000 000)"),
        "zip_bomb": (rewrite(base, add={"xl/media/padding.bin": b"\x00" * (30 * 1024 * 1024)}),
                     "rapport.xlsx", "compression anormal"),
        "xxe": (rewrite(base, replace={"xl/workbook.xml": lambda c: (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + c)}),
            "rapport.xlsx", "DOCTYPE"),
        "oversized_sheet": (tall_out.getvalue(), "rapport.xlsx", "250"),
        "html_as_xlsx": (b"<html><body><script>alert(1)</script></body></html>", "rapport.xlsx",
                         "pas un classeur Excel .xlsx valide"),
        "pdf_as_xlsx": (b"%PDF-1.4\n%%EOF\n", "rapport.xlsx", "pas un classeur Excel .xlsx valide"),
        "legacy_xls": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "../../../etc/rapport.xls",
                       "Excel 97-2003"),
    }


def stored_files(app):
    folder = app.config["UPLOAD_FOLDER"]
    return sorted(os.path.join(d, f) for d, _, files in os.walk(folder) for f in files) \
        if os.path.isdir(folder) else []


def follow(browser, response):
    """The text of the page the person reads next (redirect followed, flashes included)."""
    assert response.status_code in (302, 303, 200, 422), response.status_code
    if response.status_code in (302, 303):
        response = browser.get(response.headers["Location"])
    return html.unescape(response.get_data(as_text=True))


# ------------------------------------------------------------------ reporting upload

@pytest.mark.parametrize("kind", ["far_cell", "zip_bomb", "xxe", "oversized_sheet", "html_as_xlsx",
                                  "pdf_as_xlsx", "legacy_xls"])
def test_reporting_upload_refuses_hostile_files(app, users, login, kind):
    add_sites()
    data, name, words = hostile(make_file("IDF", P, [row(1)]))[kind]
    browser = login("mandataire")
    before = table_counts()
    files_before = stored_files(app)
    response = browser.post(f"/lots/IDF/reporting/{P}/depot",
                            data={"file": (BytesIO(data), name, XLSX)},
                            content_type="multipart/form-data")
    text = follow(browser, response)
    assert "Fichier refusé" in text and "Rien n'a été enregistré" in text
    assert words in text, text[-3000:]
    db.session.expire_all()
    after = table_counts()  # only the import journal keeps a line for the refused attempt
    assert after.pop("report_imports") == before.pop("report_imports") + 1
    assert after == before
    assert stored_files(app) == files_before
    # the journal keeps the attempt under a harmless name (no path)
    from fc_market.reporting.models import ReportImport
    journal = db.session.scalar(sa.select(ReportImport).order_by(ReportImport.id.desc()))
    assert not journal.accepted and "/" not in (journal.file_name or "") and ".." not in (journal.file_name or "")


def test_reporting_upload_without_a_file_or_too_big(app, users, login):
    browser = login("mandataire")
    before = table_counts()
    text = follow(browser, browser.post(f"/lots/IDF/reporting/{P}/depot", data={},
                                        content_type="multipart/form-data"))
    assert "Choisissez un fichier .xlsx." in text
    big = b"PK\x03\x04" + b"\x00" * (app.config["MAX_CONTENT_LENGTH"] + 10)
    response = browser.post(f"/lots/IDF/reporting/{P}/depot",
                            data={"file": (BytesIO(big), "enorme.xlsx", XLSX)},
                            content_type="multipart/form-data")
    assert response.status_code == 413
    assert "Fichier trop volumineux" in response.get_data(as_text=True)
    db.session.expire_all()
    assert table_counts() == before


# ------------------------------------------------------------------ site import

@pytest.mark.parametrize("kind", ["zip_bomb", "xxe", "oversized_sheet", "html_as_xlsx", "legacy_xls"])
def test_site_import_refuses_hostile_files(app, users, login, kind):
    from fc_market.territory.importer import HEADERS
    base = simple_xlsx([[label for _, label in HEADERS]])
    data, name, words = hostile(base)[kind]
    browser = login("mandataire")
    before = table_counts()
    response = browser.post("/lots/IDF/sites/import", data={"file": (BytesIO(data), name, XLSX)},
                            content_type="multipart/form-data")
    text = follow(browser, response)
    assert "Fichier refusé : aucune demande n'a été enregistrée" in text
    assert words in text, text[-3000:]
    db.session.expire_all()
    assert table_counts() == before


# ------------------------------------------------------------------ payment import

@pytest.mark.parametrize("kind", ["zip_bomb", "xxe", "oversized_sheet", "legacy_xls"])
def test_payment_import_refuses_hostile_files(app, users, login, kind):
    base = simple_xlsx([["Facture", "Date", "Montant", "Référence"], ["F-1", "01/03/2025", "10,00", "R"]])
    data, name, words = hostile(base)[kind]
    if kind == "legacy_xls":  # named .xls: read as CSV, and refused as binary
        words = "pas un fichier CSV texte lisible"
    browser = login("finance")
    before = table_counts()
    text = follow(browser, browser.post("/paiements/import", data={"file": (BytesIO(data), name, XLSX)},
                                        content_type="multipart/form-data"))
    assert "Fichier refusé, rien n'a été importé" in text
    assert words in text, text[-3000:]
    db.session.expire_all()
    assert table_counts() == before


def test_payment_import_refuses_a_binary_file_sent_as_csv(app, users, login):
    browser = login("finance")
    before = table_counts()
    text = follow(browser, browser.post("/paiements/import", data={
        "file": (BytesIO(b"MZ\x90\x00\x03\x00\x00\x00" * 20), "..\\..\\export.csv", "text/csv")},
        content_type="multipart/form-data"))
    assert "Fichier refusé, rien n'a été importé" in text
    assert "pas un fichier CSV texte lisible" in text
    db.session.expire_all()
    assert table_counts() == before


# ------------------------------------------------------------------ proofs and invoice PDFs

@pytest.fixture
def open_item(users):
    from fc_market.controls import service as controls
    from tests.billing.helpers import make_validated
    make_validated(lot("IDF"), "2025-02", [("UO1", 3, 4)])
    campaign = controls.open_campaign(lot("IDF"), ["2025-02"], users["manager"], seed="hostile",
                                      today=date.today())
    db.session.commit()
    return campaign, campaign.items[0]


@pytest.mark.parametrize("name,data,words", [
    ("preuve.pdf", b"<html><script>alert(1)</script></html>",
     "« preuve.pdf » est refusé : formats acceptés PDF, PNG ou JPEG (contrôle sur le contenu)"),
    ("../../../../etc/cron.d/preuve.pdf", b"MZ\x90\x00 not a pdf",
     "« preuve.pdf » est refusé : formats acceptés PDF, PNG ou JPEG"),
    ("preuve.pdf", b"", "vide"),
    ("preuve.pdf", b"%PDF-1.4\n<html><script>alert(1)</script></html>\n%%EOF\n",
     "« preuve.pdf » est refusé : le fichier ne se lit pas comme un PDF"),
    ("preuve.pdf", b"%PDF-1.4\n\x7fELF\x02\x01\x01" + bytes(300), "« preuve.pdf » est refusé : le PDF est incomplet"),
    ("preuve.pdf", PDF.replace(b"/Pages 2 0 R", b"/Pages 2 0 R /OpenAction << /S /JavaScript /JS (app.alert\\(1\\)) >>"),
     "« preuve.pdf » est refusé : le PDF contient du JavaScript"),
    ("scan.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "« scan.png » est refusé : l'image PNG ne se décode pas"),
    ("preuve.pdf", b"%PDF-1.4\n" + b"0" * (10 * 1024 * 1024 + 10), "taille maximale"),
])
def test_proof_upload_refuses_bad_files(app, users, login, open_item, name, data, words):
    campaign, item = open_item
    browser = login("mandataire")
    before = table_counts()
    files_before = stored_files(app)
    text = follow(browser, browser.post(
        f"/controles/{campaign.id}/dossiers/{item.id}/reponse",
        data={"reference": "DS-1", "files": (BytesIO(data), name, "application/pdf")},
        content_type="multipart/form-data"))
    assert f"Dossier {item.beneficiary_id} :" in text and words in text, text[-3000:]
    db.session.expire_all()
    assert table_counts() == before
    assert stored_files(app) == files_before


def test_proof_with_a_path_trick_in_its_name_is_stored_under_a_random_name(app, users, login, open_item):
    from fc_market.controls.models import ControlProof
    campaign, item = open_item
    browser = login("mandataire")
    files_before = set(stored_files(app))
    text = follow(browser, browser.post(
        f"/controles/{campaign.id}/dossiers/{item.id}/reponse",
        data={"reference": "DS-1", "files": (BytesIO(PDF),
                                             "../../../../tmp/<script>evil.pdf", "text/html")},
        content_type="multipart/form-data"))
    assert "Réponse enregistrée" in text
    proof = db.session.scalar(sa.select(ControlProof))
    assert proof.filename == "scriptevil.pdf" and proof.mimetype == "application/pdf"
    root = os.path.realpath(app.config["UPLOAD_FOLDER"])
    (stored,) = set(stored_files(app)) - files_before
    assert os.path.realpath(stored).startswith(root + os.sep) and "evil" not in stored
    download = browser.get(f"/controles/preuves/{proof.id}")
    assert download.status_code == 200 and download.data.startswith(b"%PDF")
    assert 'filename=scriptevil.pdf' in download.headers["Content-Disposition"]
    assert download.headers["X-Content-Type-Options"] == "nosniff"


def test_invoice_upload_refuses_a_file_that_is_not_a_pdf(app, users, login):
    from fc_market.billing import service as billing
    from tests.billing.helpers import make_validated
    cvl = lot("CVL")
    make_validated(cvl, "2025-01", [])
    st = billing.refresh_statement(cvl, "2025-01")
    billing.certify(st.id, users["finance"])
    from fc_market.auth.service import create_user
    from tests.conftest import PASSWORD, Browser
    owner = create_user("m.cvl@test.fr", "Mandataire CVL", "mandataire", PASSWORD, cvl)
    db.session.commit()
    browser = Browser(app, owner)
    before = table_counts()
    files_before = stored_files(app)
    response = browser.post(f"/etats/{st.id}/facture", data={
        "number": "F-1", "issued_on": date.today().isoformat(), "amount_excl_tax": "14 750,00",
        "vat": "2 950,00", "amount_incl_tax": "17 700,00",
        "file": (BytesIO(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64), "../facture.pdf", "application/pdf")},
        content_type="multipart/form-data")
    text = follow(browser, response)
    assert "La facture doit être un fichier PDF (contrôle sur le contenu)." in text, text[-3000:]
    db.session.expire_all()
    assert table_counts() == before
    assert stored_files(app) == files_before


# ------------------------------------------------------------------ exports

@pytest.mark.parametrize("payload", ["=HYPERLINK(\"http://evil.test\",\"x\")", "+1+1", "-2+3",
                                     "@SUM(A1:A2)", "=cmd|' /C calc'!A0"])
def test_payment_export_writes_formula_like_text_as_text(app, users, login, payload):
    from fc_market.billing import service as billing
    from tests.billing.helpers import make_validated
    cvl = lot("CVL")
    make_validated(cvl, "2025-01", [])
    st = billing.refresh_statement(cvl, "2025-01")
    billing.certify(st.id, users["finance"])
    billing.record_invoice(st, users["mandataire"], number="F-2025-001", issued_on=date(2025, 3, 1),
                           received_on=date(2025, 3, 3), amount_excl_tax="14750.00", vat="2950.00",
                           amount_incl_tax="17700.00", file=("facture.pdf", PDF), today=date(2025, 3, 3))
    db.session.commit()
    browser = login("finance")
    text = follow(browser, browser.post("/paiements", data={
        "invoice_number": "F-2025-001", "lot": "CVL", "paid_on": "2025-03-20",
        "amount": "100,00", "reference": payload}))
    assert "Paiement enregistré" in text, text[-2000:]
    response = browser.get("/paiements.xlsx")
    assert response.status_code == 200
    wb = openpyxl.load_workbook(BytesIO(response.data))
    cells = [c for ws in wb.worksheets for r in ws.iter_rows() for c in r if c.value == payload]
    assert cells, "the reference is in the export"
    for c in cells:
        assert c.data_type == "s", (c.coordinate, c.data_type)  # text, never a formula
    # and no cell at all is a formula
    assert not [c for ws in wb.worksheets for r in ws.iter_rows() for c in r if c.data_type == "f"]
