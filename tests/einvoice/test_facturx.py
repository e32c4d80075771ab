"""The Factur-X fc_market expects for a certified statement, and structured invoices in:
generated → uploaded → extracted amounts equal the statement; UBL and CII with a wrong total
or a foreign SIRET refused with the field named; hostile files refused."""
import base64
import io
from html import unescape
from datetime import date
from decimal import Decimal

import pytest
from lxml import etree

from fc_market.billing import service as billing
from fc_market.billing.models import Invoice
from fc_market.einvoice import build, read, service
from fc_market.extensions import db
from tests.einvoice.conftest import COTRAITANT_SIRET, FOREIGN_SIRET, MANDATAIRE_SIRET, TODAY

CII = {"rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
       "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"}


def expected(st, **kw):
    return build.expected_invoice(st, issued_on=TODAY, **kw)


def test_expected_invoice_equals_the_statement_to_the_cent(cvl_certified):
    exp = expected(cvl_certified)
    d = exp.data
    assert d["BT-3"] == "380" and not exp.credit_note
    assert d["BT-10"] == cvl_certified.number          # buyer reference: the statement's number
    assert d["BT-13"] == "EJ-2024-CEP-02"               # the lot's engagement number
    assert d["BG-4"]["legal_identifier"] == MANDATAIRE_SIRET
    assert d["BG-7"]["legal_identifier"] == "13002526500013"
    assert d["BG-7"]["identifiers"] == {"": "MARCHE-CEP-AO"}
    # hand computation: UO1 2 × 150,00 = 300,00 ; UO4 14 750,00 ; VAT 20 % = 3 010,00
    lines = {l["BT-153"]: l for l in d["BG-25"]}
    assert (lines["UO1"]["BT-129"], lines["UO1"]["BT-146"], lines["UO1"]["BT-131"]) == ("2", "150.0000", "300.00")
    assert lines["UO4"]["BT-131"] == "14750.00"
    assert (d["BT-106"], d["BT-109"], d["BT-110"], d["BT-112"], d["BT-115"]) == \
        ("15050.00", "15050.00", "3010.00", "18060.00", "18060.00")
    # the SIREN key of the seller's VAT number: (12 + 3 × (812345676 mod 97)) mod 97
    assert d["BG-4"]["vat_identifier"] == f"FR{(12 + 3 * (812345676 % 97)) % 97:02d}812345676"


def test_cii_passes_its_xsd_and_carries_the_totals(cvl_certified):
    xml = build.cii_xml(expected(cvl_certified))
    root = etree.fromstring(xml)
    from facturx import xml_check_xsd
    assert xml_check_xsd(root, flavor="factur-x", level="en16931") is True
    total = root.find(".//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:GrandTotalAmount", CII)
    assert total.text == "18060.00"


@pytest.mark.parametrize("kind", ["facturx", "cii", "ubl"])
def test_round_trip_generate_upload_extract_equals_the_statement(cvl_certified, users, kind):
    st = cvl_certified
    exp = expected(st)
    data = {"facturx": lambda: build.facturx_pdf(exp, st), "cii": lambda: build.cii_xml(exp),
            "ubl": lambda: build.ubl_xml(exp)}[kind]()
    inv = read.read("facture", data)
    assert (inv.amount_excl_tax, inv.vat, inv.amount_incl_tax) == \
        (st.total_excl_tax, st.vat, st.total_incl_tax)
    assert inv.seller_siret == MANDATAIRE_SIRET and inv.buyer_reference == st.number
    preview = service.preview(st, inv)
    assert preview.matches and preview.remarks == []
    recorded = service.record(st, inv, users["mandataire"], received_on=TODAY, today=TODAY)
    db.session.commit()
    assert recorded.match_status == "matched"
    assert recorded.structured_format == {"facturx": "factur-x", "cii": "cii", "ubl": "ubl"}[kind]
    assert {l["uo_code"]: Decimal(l["amount"]) for l in recorded.invoiced_lines} == \
        {"UO1": Decimal("300.00"), "UO4": Decimal("14750.00")}
    assert recorded.received_on == TODAY


def _tamper(xml, path, value, ns):
    root = etree.fromstring(xml)
    root.find(path, ns).text = value
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


UBL = {"cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
       "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"}


@pytest.mark.parametrize("flavor,path,ns", [
    ("cii", ".//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:GrandTotalAmount", CII),
    ("ubl", ".//cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount", UBL),
])
def test_a_wrong_total_is_refused_with_the_field_named(cvl_certified, flavor, path, ns):
    exp = expected(cvl_certified)
    xml = build.cii_xml(exp) if flavor == "cii" else build.ubl_xml(exp)
    bad = _tamper(xml, path, "18160.00", ns)
    with pytest.raises(read.InvoiceFileRefused) as err:
        read.read("f.xml", bad)
    assert err.value.field == "BT-112"
    assert "Total TTC (BT-112)" in str(err.value) and "15050.00 + TVA 3010.00" in str(err.value)


@pytest.mark.parametrize("flavor", ["cii", "ubl"])
def test_a_foreign_seller_is_refused_with_the_field_named(cvl_certified, flavor):
    exp = expected(cvl_certified)
    exp.data["BG-4"]["legal_identifier"] = FOREIGN_SIRET
    xml = build.cii_xml(exp) if flavor == "cii" else build.ubl_xml(exp)
    inv = read.read("f.xml", xml)
    with pytest.raises(billing.BillingError, match=r"SIRET du vendeur \(BT-30\) : 44455566800011 n'est pas"):
        service.preview(cvl_certified, inv)


def test_a_cotraitant_may_invoice_with_a_remark(cvl_certified):
    exp = expected(cvl_certified)
    exp.data["BG-4"]["legal_identifier"] = COTRAITANT_SIRET
    preview = service.preview(cvl_certified, read.read("f.xml", build.cii_xml(exp)))
    assert any("membre du groupement" in r for r in preview.remarks)


def test_an_invoice_that_differs_from_the_statement_shows_the_difference(cvl_certified):
    exp = expected(cvl_certified)
    line = next(l for l in exp.data["BG-25"] if l["BT-153"] == "UO1")
    line.update({"BT-129": "3", "BT-131": "450.00"})
    exp.data.update({"BT-106": "15200.00", "BT-109": "15200.00", "BT-110": "3040.00",
                     "BT-112": "18240.00", "BT-115": "18240.00"})
    exp.data["BG-23"][0].update({"BT-116": "15200.00", "BT-117": "3040.00"})
    preview = service.preview(cvl_certified, read.read("f.xml", build.cii_xml(exp)))
    assert not preview.matches
    assert preview.difference == Decimal("180.00")
    uo1 = next(r for r in preview.rows if r["uo_code"] == "UO1")
    assert uo1["difference"] == Decimal("150.00")


def test_hostile_files_are_refused(cvl_certified):
    with pytest.raises(read.InvoiceFileRefused, match="DOCTYPE"):
        read.read("x.xml", b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><r>&a;</r>')
    with pytest.raises(read.InvoiceFileRefused, match="bien formé"):
        read.read("x.xml", b"<?xml version='1.0'?><rsm:CrossIndustryInvoice")
    with pytest.raises(read.InvoiceFileRefused, match="non reconnu"):
        read.read("x.xml", b"<?xml version='1.0'?><html/>")
    with pytest.raises(read.InvoiceFileRefused, match="taille maximale"):
        read.read("x.xml", b"<" + b"a" * 20, max_bytes=10)
    # a Factur-X carrying another attachment, and one with JavaScript
    from pypdf import PdfReader, PdfWriter
    st = cvl_certified
    pdf = build.facturx_pdf(expected(st), st)
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.add_attachment("payload.exe", b"MZ\x90\x00")
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(read.InvoiceFileRefused, match=r"fichiers incorporés autres que la facture \(payload.exe\)"):
        read.read("f.pdf", out.getvalue())
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    from pypdf.generic import DictionaryObject, NameObject, TextStringObject
    writer._root_object[NameObject("/OpenAction")] = DictionaryObject({
        NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject("app.alert(1)")})
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(read.InvoiceFileRefused, match="le PDF contient du JavaScript"):
        read.read("f.pdf", out.getvalue())
    with pytest.raises(read.InvoiceFileRefused, match="ne contient pas de XML"):
        read.read("f.pdf", _plain_pdf(st))


def _plain_pdf(st):
    from fc_market.einvoice.pdf import invoice_pdf
    return invoice_pdf(expected(st), st)


def test_web_upload_previews_then_records_and_a_refusal_changes_nothing(cvl_certified, login):
    st = cvl_certified
    mandataire = login("mandataire")
    assert mandataire.get(f"/etats/{st.id}/facture-electronique").status_code == 404  # CVL ≠ IDF
    finance = login("finance")
    pdf = build.facturx_pdf(expected(st), st)
    page = finance.get(f"/etats/{st.id}/facture-electronique")
    assert page.status_code == 200 and "Factur-X" in page.get_data(as_text=True)
    # a foreign seller: refused, nothing written
    exp = expected(st)
    exp.data["BG-4"]["legal_identifier"] = FOREIGN_SIRET
    bad = finance.post(f"/etats/{st.id}/facture-electronique",
                       data={"file": (io.BytesIO(build.cii_xml(exp)), "f.xml"), "received_on": "2025-03-06"},
                       content_type="multipart/form-data")
    assert bad.status_code == 422 and "SIRET du vendeur (BT-30)" in unescape(bad.get_data(as_text=True))
    assert db.session.query(Invoice).count() == 0
    early = finance.post(f"/etats/{st.id}/facture-electronique",
                         data={"file": (io.BytesIO(pdf), "f.pdf"), "received_on": "2025-03-04"},
                         content_type="multipart/form-data")
    assert early.status_code == 422 and "précède la date d'émission" in unescape(early.get_data(as_text=True))
    future = finance.post(f"/etats/{st.id}/facture-electronique",
                          data={"file": (io.BytesIO(pdf), "f.pdf"), "received_on": "2999-01-01"},
                          content_type="multipart/form-data")
    assert future.status_code == 422 and "dans le futur" in future.get_data(as_text=True)
    # the preview saves nothing
    preview = finance.post(f"/etats/{st.id}/facture-electronique",
                           data={"file": (io.BytesIO(pdf), "f.pdf"), "received_on": "2025-03-06"},
                           content_type="multipart/form-data")
    html = unescape(preview.get_data(as_text=True))
    assert preview.status_code == 200 and "Rien n'est encore enregistré" in html
    assert "conformes à l'état certifié" in html
    assert db.session.query(Invoice).count() == 0
    done = finance.post(f"/etats/{st.id}/facture-electronique/confirmation",
                        data={"payload": base64.b64encode(pdf).decode(), "file_name": "f.pdf",
                              "received_on": "2025-03-06"})
    assert done.status_code == 302
    inv = db.session.query(Invoice).one()
    assert inv.structured_format == "factur-x" and inv.amount_incl_tax == Decimal("18060.00")
    assert inv.received_on.isoformat() == "2025-03-06"


def test_expected_pdf_download_and_cli(cvl_certified, login, app, tmp_path):
    st = cvl_certified
    response = login("finance").get(f"/etats/{st.id}/facture-attendue.pdf")
    assert response.status_code == 200 and response.data.startswith(b"%PDF-")
    inv = read.read("f.pdf", response.data)
    assert inv.flavor == "factur-x" and inv.amount_incl_tax == Decimal("18060.00")
    out = tmp_path / "f.pdf"
    result = app.test_cli_runner().invoke(args=["billing", "facturx", "CVL", "2025-02", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert read.read("f.pdf", out.read_bytes()).amount_incl_tax == Decimal("18060.00")
    missing = app.test_cli_runner().invoke(args=["billing", "facturx", "CVL", "2025-07", "-o", str(out)])
    assert missing.exit_code == 1 and "Aucun état liquidatif certifié" in missing.output



def test_a_negative_adjusting_statement_calls_for_a_credit_note(market, users):
    """CVL March 2025: 4 UO1 acts certified (600,00 + UO4 14 750,00), then a correction to 1
    act: the adjusting statement is −450,00 HT, −90,00 VAT, −540,00 TTC → a credit note 381
    of 540,00 referring to the month's invoice."""
    from tests.billing.helpers import PDF, lot, make_validated
    from tests.einvoice.conftest import groupement
    cvl = lot("CVL")
    groupement(cvl)
    v1 = make_validated(cvl, "2025-03", [("UO1", 4, 4)], emit=True)
    st = billing.statements_of(cvl.id, "2025-03")[0]
    billing.certify(st.id, users["finance"])
    invoice = billing.record_invoice(st, users["mandataire"], number="F-CVL-03", issued_on=date(2025, 4, 2),
                                     received_on=date(2025, 4, 3), amount_excl_tax="15350.00",
                                     vat="3070.00", amount_incl_tax="18420.00", file=("f.pdf", PDF),
                                     today=date(2025, 4, 3))
    make_validated(cvl, "2025-03", [("UO1", 4, 1)], emit=True, supersede=v1)
    adj = billing.statements_of(cvl.id, "2025-03")[1]
    billing.certify(adj.id, users["finance"])
    db.session.commit()
    assert adj.amount_payable == Decimal("-540.00")
    exp = build.expected_invoice(adj, issued_on=date(2025, 5, 2))
    assert exp.credit_note and exp.data["BT-3"] == "381"
    assert exp.data["BG-3"] == [{"BT-25": "F-CVL-03", "BT-26": date(2025, 4, 2)}]
    assert (exp.data["BT-109"], exp.data["BT-110"], exp.data["BT-112"]) == ("450.00", "90.00", "540.00")
    inv = read.read("a.pdf", build.facturx_pdf(exp, adj))
    assert inv.credit_note and inv.amount_incl_tax == Decimal("540.00")
    preview = service.preview(adj, inv)
    assert preview.matches
    note = service.record(adj, inv, users["mandataire"], received_on=date(2025, 5, 3), today=date(2025, 5, 3))
    assert note.kind == "credit_note" and note.corrects_id == invoice.id
