"""Screens: upload, errors shown with sheet/row/column, web form, submission, review,
double-financing visibility, exports."""
import io
from datetime import date

import openpyxl
import sqlalchemy as sa

from fc_market.extensions import db
from fc_market.reporting import service
from fc_market.reporting.models import Act, DoubleFinancingAlert, ReportVersion
from tests.reporting.helpers import ben, make_file, row

P = "2025-03"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def upload(browser, data, code="IDF", period=P):
    return browser.post(f"/lots/{code}/reporting/{period}/depot",
                        data={"file": (io.BytesIO(data), "mars.xlsx")},
                        content_type="multipart/form-data")


def test_mandataire_downloads_the_template(idf, login):
    browser = login("mandataire")
    response = browser.get(f"/lots/IDF/reporting/{P}/modele.xlsx")
    assert response.status_code == 200 and response.mimetype == XLSX
    wb = openpyxl.load_workbook(io.BytesIO(response.data))
    assert wb.sheetnames == ["Instructions", "Actes", "Indicateurs du lot", "Listes"]
    assert wb["Listes"].sheet_state == "hidden"
    acts = wb["Actes"]
    assert [c.value for c in acts[1]][:3] == ["Identifiant bénéficiaire", "Code UO", "Date de l'acte"]
    lists = {str(dv.sqref)[0]: dv for dv in acts.data_validations.dataValidation}
    assert lists["B"].type == "list" and lists["C"].type == "date" and lists["E"].type == "list"
    uo_codes = [c.value for c in wb["Listes"]["A"][1:] if c.value]
    assert uo_codes == ["UO0", "UO1", "UO2.1", "UO2.2"]
    sites = [c.value for c in wb["Listes"]["C"][1:] if c.value]
    assert [s.split(" ")[0] for s in sites] == ["S001", "S002"]  # S003 closed before March
    text = " ".join(str(c.value) for r in wb["Instructions"].iter_rows() for c in r if c.value)
    assert "HMAC-SHA256" in text and "10/04/2025" in text
    assert browser.get(f"/lots/BRE/reporting/{P}/modele.xlsx").status_code == 404


def test_upload_refused_shows_every_error_with_its_place(idf, login):
    browser = login("mandataire")
    data = make_file("IDF", P, [row(1), row(2, uo="UO9"), row(3, site="S777")])
    response = upload(browser, data)
    assert response.status_code == 302 and "/reporting/imports/" in response.headers["Location"]
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "Fichier refusé" in page and "Rien n&#39;a été enregistré" in page
    assert "Code UO « UO9 » inconnu" in page and "S777" in page
    assert "<td class=\"num\">3</td>" in page and "<td class=\"num\">4</td>" in page
    export = browser.get(response.headers["Location"] + ".xlsx")
    wb = openpyxl.load_workbook(io.BytesIO(export.data))
    assert [c.value for c in wb["Erreurs"][1]][:4] == ["Feuille", "Ligne", "Colonne", "Champ"]
    assert wb["Erreurs"].max_row == 3


def test_upload_then_submit_from_the_web(idf, login, users):
    browser = login("mandataire")
    response = upload(browser, make_file("IDF", P, [row(1), row(2, uo="UO2.2")]))
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "Fichier accepté" in page and "UO2.2 sans UO2.1" in page
    version = db.session.scalar(sa.select(ReportVersion))
    assert version.status == "draft"
    response = browser.post(f"/reporting/versions/{version.id}/deposer")
    assert response.status_code == 302
    db.session.expire_all()
    version = db.session.get(ReportVersion, version.id)
    assert version.status == "submitted" and version.warning_count == 1
    page = browser.get(f"/reporting/versions/{version.id}").get_data(as_text=True)
    assert "UO2.2 sans UO2.1" in page and "Panorama national" not in page


def test_web_form_adds_fixes_and_fills_figures(idf, login):
    browser = login("mandataire")
    response = browser.post(f"/lots/IDF/reporting/{P}/nouvelle-version")
    version_id = int(response.headers["Location"].rsplit("/", 1)[1])
    form = {"beneficiary_id": ben(1), "uo_code": "UO1", "act_date": "2025-03-04",
            "mode": "presentiel", "site_code": "S001", "proof_ref": "DS-1", "sex": "F",
            "age_band": "26-44", "csp": "5", "employment_status": "cdi", "sector": "Q"}
    assert browser.post(f"/reporting/versions/{version_id}/acte", data=form).status_code == 302
    # the same UO again inside the window is refused with a clear message, nothing added
    again = dict(form, act_date="2025-03-20")
    page = browser.post(f"/reporting/versions/{version_id}/acte", data=again).get_data(as_text=True)
    assert "L'acte n'a pas été enregistré" in page and "déjà facturé" in page
    bad = dict(form, beneficiary_id="marie.curie@example.org")
    page = browser.post(f"/reporting/versions/{version_id}/acte", data=bad).get_data(as_text=True)
    assert "adresse électronique" in page
    acts = db.session.scalars(sa.select(Act).where(Act.version_id == version_id)).all()
    assert len(acts) == 1
    # fix the act: move it to the phone
    fixed = dict(form, mode="telephone", site_code="")
    assert browser.post(f"/reporting/actes/{acts[0].id}/modifier", data=fixed).status_code == 302
    db.session.expire_all()
    act = db.session.scalar(sa.select(Act).where(Act.version_id == version_id))
    assert act.mode == "telephone" and act.site_id is None
    # no figures yet: submission refused
    page = browser.post(f"/reporting/versions/{version_id}/deposer").get_data(as_text=True)
    assert "Indicateurs du lot non renseignés" in page
    figures = {"l1_respondents": 10, "l1_satisfied": 12, "l2_respondents": 0, "l2_satisfied": 0,
               "usefulness_respondents": 0, "usefulness_useful": 0, "complaints": 0}
    page = browser.post(f"/reporting/versions/{version_id}/indicateurs", data=figures,
                        follow_redirects=True).get_data(as_text=True)
    assert "ne peut pas dépasser" in page
    figures["l1_satisfied"] = 9
    assert browser.post(f"/reporting/versions/{version_id}/indicateurs", data=figures).status_code == 302
    assert browser.post(f"/reporting/versions/{version_id}/deposer").status_code == 302
    db.session.expire_all()
    assert db.session.get(ReportVersion, version_id).status == "submitted"


def test_fc_review_screen_and_decision(idf, bre, users, login):
    for code, user in (("IDF", users["mandataire"]), ("BRE", users["other_mandataire"])):
        result = service.import_file(idf if code == "IDF" else bre, P,
                                     make_file(code, P, [row(n + (0 if code == "IDF" else 100))
                                                         for n in range(3)]),
                                     user=user, submit=True, today=date(2025, 4, 14))
        assert result.accepted
    version = db.session.scalar(sa.select(ReportVersion).where(ReportVersion.lot_id == idf.id))
    manager = login("manager")
    listing = manager.get("/reporting/examen").get_data(as_text=True)
    assert "En attente d'examen (2)" in listing
    page = manager.get(f"/reporting/versions/{version.id}").get_data(as_text=True)
    assert "Panorama national" in page and "Mois précédents du lot" in page
    assert "4 jour(s) de retard" in page and "Enregistrer la décision" in page
    export = manager.get(f"/reporting/versions/{version.id}.xlsx")
    wb = openpyxl.load_workbook(io.BytesIO(export.data))
    assert {"Actes", "Indicateurs du lot", "Mois précédents", "Panorama national"} <= set(wb.sheetnames)
    assert wb["Actes"].max_row == 4
    response = manager.post(f"/reporting/versions/{version.id}/decision",
                            data={"decision": "reject", "comment": "Profil incomplet",
                                  "counter": version.version_counter})
    assert response.status_code == 302
    mandataire = login("mandataire")
    page = mandataire.get(f"/reporting/versions/{version.id}").get_data(as_text=True)
    assert "Profil incomplet" in page and "rejetée" in page
    messages = mandataire.get("/messages").get_data(as_text=True)
    assert "rejeté" in messages
    # finance reads the screen but cannot decide
    finance = login("finance")
    assert finance.get(f"/reporting/versions/{version.id}").status_code == 200
    assert finance.post(f"/reporting/versions/{version.id}/decision", data={}).status_code == 403
    assert manager.get("/reporting/examen.xlsx").mimetype == XLSX
    assert mandataire.get("/lots/IDF/reporting.xlsx").mimetype == XLSX


def test_double_financing_alert_is_for_fc_only(idf, bre, users, login):
    shared = row(7, day=date(2025, 3, 5))
    for the_lot, user in ((bre, users["other_mandataire"]), (idf, users["mandataire"])):
        code = the_lot.code
        result = service.import_file(the_lot, P, make_file(code, P, [shared, row(50 if code == "IDF" else 60)]),
                                     user=user, submit=True)
        assert result.accepted
    alerts = db.session.scalars(sa.select(DoubleFinancingAlert)).all()
    assert len(alerts) == 1
    alert = alerts[0]
    assert (alert.lot.code, alert.other_lot.code, alert.level, alert.beneficiary_id) == ("IDF", "BRE", 1, ben(7))
    # resubmitting the same facts does not duplicate the alert
    assert service.store_alerts(alert.version, [{
        "beneficiary_id": ben(7), "level": 1, "uo_code": "UO1", "act_date": alert.act_date,
        "other_lot_id": bre.id, "other_version_id": alert.other_version_id, "other_uo_code": "UO1",
        "other_act_date": alert.other_act_date, "window_months": 12}]) == 0

    mandataire = login("mandataire")
    assert mandataire.get("/reporting/alertes").status_code == 403
    assert mandataire.get(f"/reporting/alertes/{alert.id}").status_code == 403
    own = mandataire.get(f"/reporting/versions/{alert.version_id}").get_data(as_text=True)
    assert "double financement" not in own.lower() and "BRE" not in own and "Bretagne" not in own
    assert mandataire.get(f"/reporting/versions/{alert.other_version_id}").status_code == 404
    messages = mandataire.get("/messages").get_data(as_text=True)
    assert "double financement" not in messages.lower()

    manager = login("manager")
    page = manager.get("/reporting/alertes").get_data(as_text=True)
    assert ben(7)[:16] in page and "BRE" in page
    version_page = manager.get(f"/reporting/versions/{alert.version_id}").get_data(as_text=True)
    assert "1 alerte(s) de double financement" in version_page
    assert "double financement" in manager.get("/messages").get_data(as_text=True).lower()
    response = manager.post(f"/reporting/alertes/{alert.id}/decision",
                            data={"status": "dismissed", "comment": "Réorientation documentée",
                                  "counter": alert.version_counter})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(DoubleFinancingAlert, alert.id).status == "dismissed"
    assert manager.get("/reporting/alertes.xlsx").mimetype == XLSX


def test_uo0_in_two_lots_is_not_double_financing(idf, bre, users):
    aiguillage = row(8, uo="UO0", mode="Téléphone", site=None, proof=None)
    for the_lot, user in ((bre, users["other_mandataire"]), (idf, users["mandataire"])):
        result = service.import_file(the_lot, P, make_file(the_lot.code, P, [aiguillage]),
                                     user=user, submit=True)
        assert result.accepted
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DoubleFinancingAlert)) == 0


def test_lot_page_links_and_navigation(idf, login):
    mandataire = login("mandataire")
    page = mandataire.get("/lots/IDF").get_data(as_text=True)
    assert "/lots/IDF/reporting" in page
    assert mandataire.get("/reporting").headers["Location"].endswith("/lots/IDF/reporting")
    listing = mandataire.get("/lots/IDF/reporting").get_data(as_text=True)
    assert "janvier 2024" in listing and "Non déposé" in listing
    assert login("manager").get("/reporting").headers["Location"].endswith("/reporting/examen")


def test_period_page_and_its_export(idf, users, login):
    service.import_file(idf, P, make_file("IDF", P, [row(1, uo="UO9")]), user=users["mandataire"])
    service.import_file(idf, P, make_file("IDF", P, [row(1)]), user=users["mandataire"], submit=True)
    browser = login("mandataire")
    page = browser.get(f"/lots/IDF/reporting/{P}").get_data(as_text=True)
    assert "Version 1" in page and "Refusé" in page and "Accepté" in page
    assert "en cours d'examen" in page  # no new upload while FC reviews
    wb = openpyxl.load_workbook(io.BytesIO(browser.get(f"/lots/IDF/reporting/{P}.xlsx").data))
    assert wb["Versions"].max_row == 2 and wb["Imports"].max_row == 3
    assert browser.get(f"/lots/BRE/reporting/{P}.xlsx").status_code == 404


def test_a_report_not_submitted_after_its_deadline_counts_its_days_late_so_far(idf):
    from datetime import date
    from fc_market.reporting import review
    rows = {r.period: r for r in review.lot_periods(idf, date(2025, 4, 20))}
    march, february = rows["2025-03"], rows["2025-02"]
    # March is due on 10/04/2025: ten days late on 20/04, nothing submitted
    assert march.first_submitted is None and march.days_late == 10 and march.late_running
    # before the deadline nothing runs
    assert review.lot_periods(idf, date(2025, 4, 10))[0].days_late is None
    assert february.days_late == 41 and february.late_running  # due 10/03/2025


def test_the_submission_check_exports_to_excel(idf, users, login):
    result = service.import_file(idf, "2025-03", make_file("IDF", "2025-03", [row(1)], template=False),
                                 user=users["mandataire"])
    assert result.accepted, result.as_json()
    page = login("mandataire").post(f"/reporting/versions/{result.version_id}/deposer")
    assert page.status_code == 422 and "controle.xlsx" in page.get_data(as_text=True)
    response = login("mandataire").get(f"/reporting/versions/{result.version_id}/controle.xlsx")
    book = openpyxl.load_workbook(io.BytesIO(response.data))
    errors = [[c.value for c in r] for r in book["Erreurs bloquantes"].iter_rows(min_row=2)]
    assert [e[5] for e in errors] == ["figures_missing"] and errors[0][0] == "Indicateurs du lot"
    assert db.session.get(ReportVersion, result.version_id).status == "draft"  # read only
    assert login("other_mandataire").get(
        f"/reporting/versions/{result.version_id}/controle.xlsx").status_code == 404
