"""UO4 screens: upload (accepted, refused with every error), web form, documents, review,
steering sections (scorecard, dashboard tile, pack sheets)."""
from datetime import date
from io import BytesIO

import sqlalchemy as sa
from openpyxl import load_workbook

from fc_market.extensions import db
from fc_market.uo4 import service
from fc_market.uo4.models import Uo4Status, Uo4Version
from tests.uo4.conftest import PDF, SIRETS, certify_twelfths, filled, lot

IDF_A, IDF_B = SIRETS["IDF"]


def _upload(browser, year, slug, data, name="uo4.xlsx"):
    return browser.post(f"/uo4/lots/IDF/{year}/{slug}/import",
                        data={"file": (BytesIO(data), name)}, content_type="multipart/form-data")


def test_refused_upload_shows_every_error_and_writes_nothing(groupements, login):
    mandataire = login("mandataire")
    data = filled(lot("IDF"), 2025, "plan", [("qualite", IDF_A, "-1", None),
                                             ("Inconnue", IDF_B, 10, None)])
    response = _upload(mandataire, 2025, "plan", data)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "2 erreur(s)" in page and "rien n'a été enregistré" in page
    assert "Le montant ne peut pas être négatif." in page and "Catégorie « Inconnue » inconnue" in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Uo4Version)) == 0


def test_upload_then_documents_then_submit_then_review(groupements, login, users):
    mandataire = login("mandataire")
    data = filled(lot("IDF"), 2024, "statement", [("qualite", IDF_A, 5000, "Audit"),
                                                  ("autre", IDF_B, 0, None)])
    response = _upload(mandataire, 2024, "bilan", data)
    assert response.status_code == 302
    version = db.session.scalar(sa.select(Uo4Version))
    page = mandataire.get(f"/uo4/versions/{version.id}").get_data(as_text=True)
    assert "sans justificatif" in page and "5\u202f000,00\u00a0€" in page
    # submitting without the document is refused
    mandataire.post(f"/uo4/versions/{version.id}/deposer")
    db.session.expire_all()
    assert db.session.get(Uo4Version, version.id).status == Uo4Status.DRAFT
    bad = mandataire.post(f"/uo4/versions/{version.id}/justificatifs",
                          data={"category": "qualite", "file": (BytesIO(b"<html>"), "x.pdf")},
                          content_type="multipart/form-data", follow_redirects=True)
    assert "Type de fichier refusé" in bad.get_data(as_text=True)
    mandataire.post(f"/uo4/versions/{version.id}/justificatifs",
                    data={"category": "qualite", "file": (BytesIO(PDF), "facture.pdf")},
                    content_type="multipart/form-data")
    mandataire.post(f"/uo4/versions/{version.id}/deposer")
    db.session.expire_all()
    version = db.session.get(Uo4Version, version.id)
    assert version.status == Uo4Status.SUBMITTED and len(version.documents) == 1
    doc_id = version.documents[0].id
    assert mandataire.get(f"/uo4/justificatifs/{doc_id}").data == PDF
    assert login("other_mandataire").get(f"/uo4/justificatifs/{doc_id}").status_code == 404
    assert login("other_mandataire").get(f"/uo4/versions/{version.id}").status_code == 404
    manager = login("manager")
    assert "Poser des questions" in manager.get(f"/uo4/versions/{version.id}").get_data(as_text=True)
    manager.post(f"/uo4/versions/{version.id}/decision",
                 data={"decision": "question", "comment": "Quel organisme certificateur ?",
                       "counter": str(version.version_counter)})
    page = mandataire.get(f"/uo4/versions/{version.id}").get_data(as_text=True)
    assert "Quel organisme certificateur ?" in page and "Répondre" in page
    mandataire.post(f"/uo4/versions/{version.id}/reponse", data={"body": "AFNOR."})
    db.session.expire_all()
    version = db.session.get(Uo4Version, version.id)
    manager.post(f"/uo4/versions/{version.id}/decision",
                 data={"decision": "accept", "comment": "", "counter": str(version.version_counter)})
    db.session.expire_all()
    assert db.session.get(Uo4Version, version.id).status == Uo4Status.ACCEPTED


def test_web_form_round_trip(groupements, login):
    mandataire = login("mandataire")
    form = {"rows": "3", "category-1": "qualite", "member-1": IDF_A, "amount-1": "1 000,50",
            "category-2": "qualite", "member-2": IDF_A, "amount-2": "x"}
    response = mandataire.post("/uo4/lots/IDF/2025/plan/saisie", data=form)
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "Même catégorie et même membre qu&#39;à la ligne 1" in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Uo4Version)) == 0
    form.update({"category-2": "communication", "amount-2": "99"})
    assert mandataire.post("/uo4/lots/IDF/2025/plan/saisie", data=form).status_code == 302
    version = db.session.scalar(sa.select(Uo4Version))
    assert str(version.total) == "1099.50" and version.source == "web"
    assert "1\u202f000,50" in mandataire.get("/uo4/lots/IDF/2025/plan/saisie").get_data(as_text=True) \
        or 'value="1000.50"' in mandataire.get("/uo4/lots/IDF/2025/plan/saisie").get_data(as_text=True)


def test_steering_reads_uo4_on_scorecard_dashboard_and_pack(groupements, users, login):
    idf = lot("IDF")
    year = date.today().year - 1
    certify_twelfths(idf, year, range(1, 13), "1000.00")                # paid 12 000 €
    filing = service.get_or_create_filing(idf, year, "statement")
    draft, _ = service.save_lines(filing, [(2, {"category": "qualite", "member": IDF_A,
                                                "amount": "9000"}, {})], users["mandataire"])
    service.add_document(draft, "qualite", PDF, "f.pdf", users["mandataire"])
    service.submit(draft, users["mandataire"])
    db.session.commit()
    fc = login("manager")
    card = fc.get("/pilotage/lots/IDF").get_data(as_text=True)
    assert "UO4 : prévu, payé, justifié" in card and "payé 12\u202f000,00\u00a0€" in card
    assert "justifié 75,0\u00a0%" in card                                 # 9 000 / 12 000
    dashboard = fc.get("/pilotage").get_data(as_text=True)
    assert f"UO4 {year} justifiée" in dashboard and "75,0\u00a0%" in dashboard
    from fc_market.steering import pack
    from fc_market.steering.service import snapshot
    content = pack.build_pack(snapshot(), [])
    wb = load_workbook(BytesIO(content))
    assert "UO4 prévu payé justifié" in wb.sheetnames and "Dossiers de signalement" in wb.sheetnames
    rows = [tuple(c.value for c in r) for r in wb["UO4 prévu payé justifié"].iter_rows(min_row=2)]
    total = next(r for r in rows if r[0] == "IDF" and r[1] == year and r[2] == "Total")
    assert total[4] == 12000 and total[5] == 9000 and abs(total[6] - 0.75) < 1e-9
    overview = fc.get("/uo4").get_data(as_text=True)
    assert "En attente d'examen" in overview and f"/uo4/versions/{draft.id}" in overview
