"""Dashboard, scorecard, flags pages, exports, steering packs, CLI and jobs."""
import json
from datetime import date, datetime
from io import BytesIO

import sqlalchemy as sa
from openpyxl import load_workbook

from fc_market.extensions import db
from fc_market.scheduler.registry import run_once
from fc_market.steering import service
from fc_market.steering.models import Flag, SteeringPack
from tests.steering.test_flags import WINDOW, put_stats

TODAY = date(2025, 4, 20)


def _bad_satisfaction(lot):
    put_stats(lot, WINDOW, l1_respondents=100, l1_satisfied=70)
    service.evaluate(TODAY, [lot.id])
    db.session.commit()


def test_manager_lands_on_the_dashboard_with_flagged_cells(login, idf):
    _bad_satisfaction(idf)
    browser = login("manager")
    assert browser.get("/").headers["Location"].endswith("/pilotage")
    page = browser.get("/pilotage").get_data(as_text=True)
    assert "Les lots et leurs indicateurs" in page and "<svg" in page
    assert 'class="num bad"' in page and "70,0" in page
    assert "National" in page
    response = browser.get("/pilotage/export.xlsx")
    book = load_workbook(BytesIO(response.data))
    assert any(name.startswith("Tableau national") for name in book.sheetnames)
    sheet = book[next(n for n in book.sheetnames if n.startswith("Tableau national"))]
    headers = [c.value for c in sheet[1]]
    idf_row = next(r for r in sheet.iter_rows(min_row=2) if r[0].value == "IDF")
    per_1000 = idf_row[headers.index("Entrées pour 1 000 habitants (12 mois)")]
    assert isinstance(per_1000.value, (int, float)) and per_1000.number_format == "#,##0.00"


def test_scorecard_hides_flags_from_the_mandataire(login, idf):
    _bad_satisfaction(idf)
    fc_page = login("manager").get("/pilotage/lots/IDF").get_data(as_text=True)
    assert "Signalements ouverts (" in fc_page and "Satisfaction après le niveau 1 sous le plancher" in fc_page
    own = login("mandataire").get("/pilotage/lots/IDF")
    assert own.status_code == 200
    text = own.get_data(as_text=True)
    assert "Indicateurs mensuels" in text and "Signalements ouverts" not in text
    assert login("mandataire").get("/pilotage/lots/BRE").status_code == 404


def test_flag_page_and_cli(app, login, idf):
    _bad_satisfaction(idf)
    flag = db.session.scalar(sa.select(Flag).join(Flag.rule).where(
        service.FlagRule.code == "satisfaction_l1_floor"))
    page = login("manager").get(f"/pilotage/signalements/{flag.id}").get_data(as_text=True)
    assert "Historique" in page and "plancher" in page
    result = app.test_cli_runner().invoke(args=["steering", "flags", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    sat = next(f for f in data if f["rule"] == "satisfaction_l1_floor")
    assert sat["lot"] == "IDF" and sat["value"] == 0.7 and sat["threshold"] == 0.85
    assert sat["opened_on"] == "2025-04-20" and sat["history"][0]["value"] == 0.7


def test_pack_by_job_and_on_demand(app, login, idf):
    _bad_satisfaction(idf)
    run = run_once("steering.pack", datetime(2025, 4, 15, 6, 0))
    assert run.status == "done", run.detail
    pack = db.session.scalar(sa.select(SteeringPack))
    assert pack.trigger == "job"
    book = load_workbook(BytesIO(pack.content))
    for prefix in ("Tableau national", "Objectifs", "Indicateurs mensuels", "Signaux d'alerte",
                   "Signalements", "Maillage", "Zones blanches", "Règles"):
        assert any(name.startswith(prefix) for name in book.sheetnames), (prefix, book.sheetnames)
    assert run_once("steering.pack", datetime(2025, 4, 16, 6, 0)) is None   # once a month
    browser = login("manager")
    assert browser.post("/pilotage/dossiers").status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SteeringPack)) == 2
    response = browser.get(f"/pilotage/dossiers/{pack.id}")
    assert response.status_code == 200 and response.data[:2] == b"PK"
    assert login("finance").post("/pilotage/dossiers").status_code == 403
    packs = load_workbook(BytesIO(login("manager").get("/pilotage/dossiers.xlsx").data)).active
    assert packs.max_row >= 2 and len(packs.cell(row=2, column=5).value) == 64


def test_nightly_job_rebuilds_and_evaluates(idf):
    run = run_once("steering.flags", datetime(2025, 4, 20, 2, 30))
    assert run.status == "done", run.detail
    assert "signalement" in run.detail


def test_dashboard_fits_the_lots_by_indicator_groups_in_french(login, idf):
    _bad_satisfaction(idf)
    page = login("manager").get("/pilotage").get_data(as_text=True)
    for group in ("Volume", "Accès", "Qualité", "Contrôle et reporting"):
        assert f">{group}</th>" in page
    # short headings, the full label and definition on hover
    assert ">Satisfaction niveau 1</th>" in page
    assert 'title="Satisfaction après le niveau 1 : Satisfaits ou très satisfaits' in page
    # flag tags read in French
    assert ">qualité</a>" in page and ">quality</a>" not in page


def test_a_flag_whose_data_left_the_window_shows_its_last_reading(login, idf):
    put_stats(idf, WINDOW, csf_judged=40, csf_nonconforming=10)
    service.evaluate(TODAY, [idf.id])
    db.session.commit()
    flag = db.session.scalar(sa.select(Flag).join(Flag.rule).where(
        service.FlagRule.code == "nonconformity_ceiling"))
    assert flag is not None and flag.cleared_on is None
    put_stats(idf, WINDOW, csf_judged=0, csf_nonconforming=0)  # no closed control any more
    service.evaluate(date(2025, 5, 20), [idf.id])
    db.session.commit()
    db.session.refresh(flag)
    assert flag.cleared_on is None and flag.evaluated_on == TODAY  # kept, not re-read
    page = login("manager").get("/pilotage").get_data(as_text=True)
    cell = page[page.index("Plus de donnée dans la période lue"):]
    cell = cell[:cell.index("</td>")]
    assert "25,0" in cell and "<small>relevé du 20/04/2025</small>" in cell
    card = login("manager").get("/pilotage/lots/IDF").get_data(as_text=True)
    assert "relevé du 20/04/2025 (30 dossiers non conformes sur 120 jugés) ; aucun contrôle" in card
    # the mandataire sees the indicator as it is, without FC's flags
    own = login("mandataire").get("/pilotage/lots/IDF").get_data(as_text=True)
    assert "relevé du" not in own and "aucun contrôle clôturé sur douze mois" in own


def test_flag_page_exports_its_history(login, idf):
    _bad_satisfaction(idf)
    flag = db.session.scalar(sa.select(Flag).join(Flag.rule).where(
        service.FlagRule.code == "satisfaction_l1_floor"))
    response = login("manager").get(f"/pilotage/signalements/{flag.id}.xlsx")
    book = load_workbook(BytesIO(response.data))
    assert book.sheetnames == ["Signalements", "Historique des signalements"]
    first = [c.value for c in book["Signalements"][2]]
    # the rule reads in French, never its code
    assert first[:2] == ["IDF", "qualité"] and "satisfaction_l1_floor" not in first
    assert first[2] == flag.rule.label
    assert first[3] == "70,0\xa0%" and first[4] == 0.7 and first[6] == 0.85  # shown, then numbers
    assert book["Historique des signalements"][2][2].value.date() == TODAY
    assert login("mandataire").get(f"/pilotage/signalements/{flag.id}.xlsx").status_code == 403
