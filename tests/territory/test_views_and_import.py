"""Sites screens end to end, Excel import (all or nothing) and the coverage command."""
import json
import re
from datetime import date
from io import BytesIO

import pytest
import sqlalchemy as sa
from openpyxl import Workbook

from fc_market.extensions import db
from fc_market.territory import importer, service
from fc_market.territory.models import Site, SiteChange
from tests.territory.conftest import add_site, lot

FORM = {"code": "ORL1", "name": "Point CEP Paris 13", "kind": "permanent", "commune": "Paris",
        "latitude": "48.8322", "longitude": "2.3561", "opened_on": "01/03/2025", "member": "",
        "lundi": "09:00-18:30", "reason": "Ouverture"}


def test_mandataire_proposes_and_manager_decides(login, users, market):
    mandataire = login("mandataire")
    response = mandataire.post("/lots/IDF/sites/nouveau", data=FORM)
    assert response.status_code == 302
    change = db.session.scalar(sa.select(SiteChange))
    assert change.status == "pending" and change.created_by_id == users["mandataire"].id
    page = mandataire.get(f"/lots/IDF/demandes/{change.id}").get_data(as_text=True)
    assert "Effet sur la couverture" in page and "Enregistrer la décision" not in page
    assert mandataire.post(f"/lots/IDF/demandes/{change.id}/decision",
                           data={"decision": "approve"}).status_code == 403
    manager = login("manager")
    response = manager.post(f"/lots/IDF/demandes/{change.id}/decision",
                            data={"decision": "approve", "comment": "OK",
                                  "counter": str(change.version_counter)})
    assert response.status_code == 302
    site = db.session.scalar(sa.select(Site))
    assert site.code == "ORL1" and site.opening_hours == {"lundi": "09:00-18:30"}
    page = mandataire.get("/lots/IDF/sites").get_data(as_text=True)
    assert "ORL1" in page and "<svg" in page and "Approuvée" in page


def test_bad_form_keeps_nothing_and_says_why(login, market, users):
    response = login("mandataire").post("/lots/IDF/sites/nouveau",
                                        data=dict(FORM, latitude="95", lundi="soir"))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Latitude : doit être comprise entre -90 et 90 degrés" in page
    assert "plage horaire invalide" in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SiteChange)) == 0


def _xlsx(rows):
    wb = Workbook()
    ws = wb.active
    ws.title = "Sites"
    ws.append([h for _, h in importer.HEADERS])
    for row in rows:
        ws.append([row.get(f) for f, _ in importer.HEADERS])
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


def test_import_is_all_or_nothing_with_row_errors(market, users):
    idf = lot("IDF")
    site = add_site(idf, "KEEP", 48.8534, 2.3488, commune="Paris")
    site.departement = "75"
    same = {f: v for f, v in zip([f for f, _ in importer.HEADERS],
                                 [c.value(site) for c in importer.sites_sheet(idf, [site]).columns])}
    good = {"code": "NEW1", "name": "Point Versailles", "kind": "Site permanent",
            "commune": "Versailles", "opened_on": date(2025, 3, 1), "mardi": "9h-17h",
            "disabled_access": "oui"}
    bad = dict(good, code="NEW2", latitude=43.3, longitude=5.38)
    try:
        importer.import_sites(idf, _xlsx([same, good, bad]), users["mandataire"])
        raise AssertionError("refused file expected")
    except importer.ImportRefused as exc:
        assert any(e.startswith("Ligne 4, colonne « Latitude »") for e in exc.errors), exc.errors
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SiteChange)) == 0
    closing = dict(same, closed_on=date(2025, 6, 30))
    batch, changes = importer.import_sites(idf, _xlsx([closing, good]), users["mandataire"])
    assert sorted(c.action for c in changes) == ["close", "open"], [{k: (c.previous[k], c.proposed[k]) for k in c.proposed if c.previous[k] != c.proposed[k]} for c in changes if c.previous]
    assert {c.batch for c in changes} == {batch} and {c.source for c in changes} == {"excel"}
    service.approve_batch(idf, batch, "vu", users["manager"])
    assert site.closed_on == date(2025, 6, 30)


def test_import_refuses_hostile_or_foreign_files(market, users):
    for data, message in ((b"not an excel file", "n'est pas un classeur"),
                          (_xlsx([]).replace(b"", b"")[:200], "endommagé")):
        try:
            importer.import_sites(lot("IDF"), data, users["mandataire"])
            raise AssertionError("refused file expected")
        except importer.ImportRefused as exc:
            assert message in exc.errors[0], exc.errors


def test_template_and_exports(login, market):
    browser = login("mandataire")
    for url in ("/lots/IDF/sites/modele.xlsx", "/lots/IDF/sites.xlsx", "/lots/IDF/couverture.xlsx"):
        response = browser.get(url)
        assert response.status_code == 200 and response.data[:2] == b"PK", url


def test_coverage_command_json(app, market):
    add_site(lot("COR"), "AJA", 41.91886, 8.73812)
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["territory", "coverage", "COR", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    # Corse: the sum of its 360 communes' legal populations (INSEE, Etalab 2026)
    assert (data["lot"], data["region"], data["total_population"]) == ("COR", "94", 355_486)
    assert data["population"] == data["total_population"]
    assert (data["radius_km"], data["site_kinds"]) == (30.0, ["permanent"])
    assert 0 < data["share"] < 1 and len(data["largest_uncovered"]) == 10
    assert data["covered_population"] + data["uncovered_population"] == 355_486
    assert {"covered_population", "with_permanences"} <= set(data)
    zones = data["largest_uncovered"]
    assert [z["population"] for z in zones] == sorted((z["population"] for z in zones), reverse=True)
    assert all(re.fullmatch(r"2[AB]\d{3}", z["insee"]) and z["nearest_site_km"] > 30 for z in zones)
    result = app.test_cli_runner().invoke(args=["territory", "coverage", "--json"])
    rows = json.loads(result.output)
    assert len(rows) == 18
    assert {r["region"]: r["total_population"] for r in rows}["11"] == 12_463_067
    lots = json.loads(app.test_cli_runner().invoke(args=["market", "lots", "--json"]).output)
    assert {r["code"]: r["population"] for r in lots} == \
        {r["lot"]: r["total_population"] for r in rows}  # one population per lot


def test_site_requests_export_with_their_history(login, users, market):
    from openpyxl import load_workbook
    assert login("mandataire").post("/lots/IDF/sites/nouveau", data=FORM).status_code == 302
    change = db.session.scalar(sa.select(SiteChange))
    manager = login("manager")
    detail = load_workbook(BytesIO(login("mandataire").get(f"/lots/IDF/demandes/{change.id}.xlsx").data))
    assert detail.sheetnames == ["Demande", "Valeurs proposées", "Effet sur la couverture", "Communes"]
    proposed = {r[0].value: r[2].value for r in detail["Valeurs proposées"].iter_rows(min_row=2)}
    assert proposed["Code"] == "ORL1" and proposed["Ouverture"] == "01/03/2025"
    assert proposed["Horaires"] == "lundi 09:00-18:30"
    effect = [c.value for c in detail["Effet sur la couverture"][2]]
    assert 0 <= effect[1] <= effect[2] <= 1  # a new permanent site never lowers coverage
    pending = load_workbook(BytesIO(manager.get("/demandes-sites.xlsx").data)).active
    row = [c.value for c in pending[2]]
    assert row[0] == change.id and row[1] == "IDF" and row[3] == "ORL1 — Point CEP Paris 13"
    manager.post(f"/lots/IDF/demandes/{change.id}/decision", data={"decision": "approve"})
    book = load_workbook(BytesIO(manager.get("/lots/IDF/sites.xlsx").data))
    assert book.sheetnames[-1] == "Demandes"
    assert [c.value for c in book["Demandes"][2]][7] == "Approuvée"
    site = db.session.scalar(sa.select(Site).where(Site.code == "ORL1"))
    own = load_workbook(BytesIO(login("mandataire").get(f"/lots/IDF/sites/{site.id}.xlsx").data))
    assert own.sheetnames[-1] == "Historique du site" and own["Historique du site"].max_row == 2
    assert login("other_mandataire").get(f"/lots/IDF/sites/{site.id}.xlsx").status_code == 404
    assert login("mandataire").get("/demandes-sites.xlsx").status_code == 403


def test_only_the_author_withdraws_and_no_one_decides_their_own_request(app, login, users, market):
    from fc_market.auth.service import create_user
    from tests.conftest import PASSWORD, Browser

    other_manager = create_user("manager2@test.fr", "Manager 2", "manager", PASSWORD)
    db.session.commit()
    mandataire, manager = login("mandataire"), login("manager")
    assert mandataire.post("/lots/IDF/sites/nouveau", data=FORM).status_code == 302
    operator_request = db.session.scalar(sa.select(SiteChange))
    url = f"/lots/IDF/demandes/{operator_request.id}"
    # a manager cannot "withdraw" an operator's request to escape the motivated refusal
    page = manager.post(url + "/retrait", follow_redirects=True).get_data(as_text=True)
    assert "Seul l&#39;auteur de la demande peut la retirer" in page
    db.session.refresh(operator_request)
    assert operator_request.status == "pending" and operator_request.decided_by_id is None
    assert "Retirer la demande" not in manager.get(url).get_data(as_text=True)

    # a request FC filed: the mandataire cannot withdraw it, its author cannot decide it
    assert manager.post("/lots/IDF/sites/nouveau", data=dict(FORM, code="ORL2")).status_code == 302
    fc_request = db.session.scalar(sa.select(SiteChange).where(SiteChange.id != operator_request.id))
    fc_url = f"/lots/IDF/demandes/{fc_request.id}"
    page = mandataire.post(fc_url + "/retrait", follow_redirects=True).get_data(as_text=True)
    assert "Seul l&#39;auteur de la demande peut la retirer" in page
    assert "Enregistrer la décision" not in manager.get(fc_url).get_data(as_text=True)
    page = manager.post(fc_url + "/decision", data={"decision": "approve", "comment": "OK"},
                        follow_redirects=True).get_data(as_text=True)
    assert "la décision revient à un(e) autre chargé(e) de marché" in page
    db.session.refresh(fc_request)
    assert fc_request.status == "pending"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Site)) == 0
    # another manager decides it; each author withdraws their own
    second = Browser(app, other_manager)
    assert "Enregistrer la décision" in second.get(fc_url).get_data(as_text=True)
    second.post(fc_url + "/decision", data={"decision": "approve", "comment": "OK"})
    db.session.refresh(fc_request)
    assert fc_request.status == "approved" and fc_request.decided_by_id == other_manager.id
    assert "Retirer la demande" in mandataire.get(url).get_data(as_text=True)
    mandataire.post(url + "/retrait")
    db.session.refresh(operator_request)
    assert operator_request.status == "withdrawn"


def test_withdraw_refuses_anyone_but_the_author(cor, users):
    site = add_site(cor, "S1", 41.91886, 8.73812)
    change = service.propose_close(site, "30/06/2025", users["mandataire"], reason="Fin de bail")
    for someone in ("other_mandataire", "manager", "admin"):
        with pytest.raises(service.SiteError, match="Seul l'auteur de la demande"):
            service.withdraw(change, users[someone])
    assert change.status == "pending"
    service.withdraw(change, users["mandataire"])
    assert change.status == "withdrawn"
