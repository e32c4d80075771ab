"""DECP v2 and OCDS 1.1 exports: valid against the shipped schemas (and the reference copies),
published data never edited (a new amendment appends), a page and two commands."""
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from fc_market.billing import service as billing
from fc_market.extensions import db
from fc_market.market.models import Amendment, Lot
from fc_market.opendata import decp, ocds, service, validation
from fc_market.opendata.models import OpenDataExport, PublishedItem
from tests.billing.helpers import PDF, lot, make_validated
from tests.einvoice.conftest import groupement

SHARED = Path(__file__).resolve().parents[3] / "shared" / "reference" / "schemas"


@pytest.fixture
def published_market(market, users):
    """Every lot with a groupement; CVL February 2025 certified, invoiced and paid."""
    for lot_obj in db.session.query(Lot).order_by(Lot.number):
        groupement(lot_obj) if lot_obj.code == "CVL" else _other_groupement(lot_obj)
    cvl = lot("CVL")
    make_validated(cvl, "2025-02", [("UO1", 3, 2)])
    st = billing.refresh_statement(cvl, "2025-02")
    billing.certify(st.id, users["finance"])
    inv = billing.record_invoice(st, users["mandataire"], number="F-CVL-1", issued_on=date(2025, 3, 1),
                                 received_on=date(2025, 3, 3), amount_excl_tax="15050.00",
                                 vat="3010.00", amount_incl_tax="18060.00", file=("f.pdf", PDF),
                                 today=date(2025, 3, 3))
    billing.record_payment(inv, users["finance"], paid_on=date(2025, 3, 20), amount="18060.00",
                           reference="MDT-1")
    db.session.commit()
    return st


def _other_groupement(lot_obj):
    from fc_market.market.models import Operator, OperatorMember
    from fc_market.market.siret import _complete
    operator = Operator(lot_id=lot_obj.id, name=f"Groupement {lot_obj.code}", kind="groupement")
    db.session.add(operator)
    db.session.flush()
    siret = _complete(_complete(f"5{lot_obj.number:07d}") + "0001")
    db.session.add(OperatorMember(operator_id=operator.id, legal_name=f"Mandataire {lot_obj.code}",
                                  siret=siret, role="mandataire"))
    db.session.flush()


def test_decp_is_valid_and_carries_the_contract_file(published_market):
    document = decp.publish(date(2026, 1, 15))
    assert validation.errors(validation.decp_validator(), document) == []
    if SHARED.exists():  # the reference copy the shipped one was taken from
        from jsonschema import Draft7Validator
        reference = Draft7Validator(json.loads((SHARED / "decp-v2.0.3.schema.json").read_text()))
        assert list(reference.iter_errors(document)) == []
    marches = {m["id"]: m for m in document["marches"]["marche"]}
    assert len(marches) == 18
    idf = marches["AC-CEP-2024-01"]
    assert idf["acheteur"] == {"id": "13002526500013"}
    assert idf["codeCPV"] == "85312320-8" and idf["procedure"] == "Appel d'offres ouvert"
    assert idf["techniques"] == {"technique": ["Accord-cadre"]}
    assert idf["montant"] == 64400000 and idf["dureeMois"] == 48
    assert idf["dateNotification"] == "2023-11-15" and idf["datePublicationDonnees"] == "2026-01-15"
    assert idf["lieuExecution"] == {"code": "11", "typeCode": "Code région"}
    # the Guyane amendment raises the maximum; the ARA one only changes a price: not published
    guy = next(m for m in document["marches"]["marche"] if m["objet"].endswith("Guyane"))
    assert guy["modifications"] == [{"modification": {
        "id": 1, "dateNotificationModification": "2024-09-02",
        "datePublicationDonneesModification": "2026-01-15", "montant": 1610000}}]
    assert sum(1 for m in document["marches"]["marche"] if "modifications" in m) == 1
    text = json.dumps(document)
    assert "beneficiary" not in text and "BCVL" not in text


def test_a_new_amendment_appends_and_changes_nothing_published(published_market):
    first = decp.publish(date(2026, 1, 15))
    db.session.commit()
    guy = lot("GUY")
    db.session.add(Amendment(lot_id=guy.id, number=2, signed_on=date(2026, 3, 2),
                             effective_on=date(2026, 4, 1), object="Prolongation d'un an",
                             effect="Durée portée à 60 mois.", new_duration_months=60))
    # a later change of the contract file's data does not rewrite what was published
    lot("IDF").contract.publication = {**lot("IDF").contract.publication, "offers_received": 9}
    db.session.commit()
    second = decp.publish(date(2026, 6, 30))
    db.session.commit()
    before = {m["id"]: m for m in first["marches"]["marche"]}
    after = {m["id"]: m for m in second["marches"]["marche"]}
    for ref, marche in after.items():
        old = before[ref]
        assert {k: v for k, v in marche.items() if k != "modifications"} == \
            {k: v for k, v in old.items() if k != "modifications"}
        assert marche.get("modifications", [])[:len(old.get("modifications", []))] == \
            old.get("modifications", [])
    guy_ref = guy.contract.reference
    assert after[guy_ref]["modifications"][-1] == {"modification": {
        "id": 2, "dateNotificationModification": "2026-03-02",
        "datePublicationDonneesModification": "2026-06-30", "dureeMois": 60}}
    assert after["AC-CEP-2024-01"]["offresRecues"] == 3
    assert db.session.query(PublishedItem).count() == 18 + 2


def test_ocds_package_is_valid_with_payments_and_milestones(published_market):
    package = ocds.release_package(date(2026, 1, 15))
    assert validation.errors(validation.ocds_validator(), package) == []
    cvl = next(r for r in package["releases"] if r["contracts"][0]["id"] == lot("CVL").contract.reference)
    contract = cvl["contracts"][0]
    assert {i["id"]: i["unit"]["value"]["amount"] for i in contract["items"]} == \
        {"UO0": 30, "UO1": 150, "UO2.1": 600, "UO2.2": 300, "UO4": 177000}
    [tx] = contract["implementation"]["transactions"]
    assert tx["value"] == {"amount": 18060, "currency": "EUR"} and tx["date"] == "2025-03-20T00:00:00Z"
    assert tx["payer"]["name"] == "France compétences" and tx["payee"]["id"].endswith("81234567600017")
    milestones = {m["id"].rsplit("-", 1)[1]: m for m in contract["implementation"]["milestones"]}
    assert milestones["certification"]["status"] == "met"
    assert milestones["facture"]["dateMet"] == "2025-03-03T00:00:00Z"
    assert milestones["paiement"]["status"] == "met" and milestones["paiement"]["dateMet"] == "2025-03-20T00:00:00Z"
    # the validator does check the releases (the package refers to the release schema by URL)
    contract["implementation"]["milestones"][0]["status"] = "bogus"
    assert any("bogus" in e for e in validation.errors(validation.ocds_validator(), package))


def test_missing_publication_data_is_refused_in_french(published_market):
    lot("IDF").contract.publication = None
    with pytest.raises(decp.PublicationError, match=r"lot IDF : pas de table \[lots.publication\]"):
        service.produce("decp")


def test_page_and_commands(published_market, login, app, tmp_path):
    manager = login("manager")
    page = manager.get("/donnees-ouvertes")
    assert page.status_code == 200 and "DECP v2" in page.get_data(as_text=True)
    assert login("mandataire").get("/donnees-ouvertes").status_code == 403
    assert login("finance").post("/donnees-ouvertes/decp/produire").status_code == 403
    assert manager.post("/donnees-ouvertes/ocds/produire").status_code == 302
    export = db.session.query(OpenDataExport).one()
    download = manager.get(f"/donnees-ouvertes/fichiers/{export.id}")
    assert download.status_code == 200 and json.loads(download.data)["version"] == "1.1"
    runner = app.test_cli_runner()
    out = tmp_path / "decp.json"
    result = runner.invoke(args=["opendata", "decp", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert len(json.loads(out.read_text())["marches"]["marche"]) == 18
    result = runner.invoke(args=["opendata", "ocds", "-o", str(tmp_path / "ocds.json")])
    assert result.exit_code == 0 and "valide contre son schéma" in result.output
