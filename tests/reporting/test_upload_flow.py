"""The upload flow: errors grouped by kind with counts, the refused rows downloadable with
an error column, the upload offered again; after an accepted file the next step is a
button; a slow upload shows it is being processed (static script, strict CSP)."""
import io

import openpyxl

from tests.reporting.helpers import make_file, row
from tests.reporting.test_views import P, upload


def test_refused_file_groups_errors_offers_the_rows_and_the_upload_again(idf, login):
    browser = login("mandataire")
    data = make_file("IDF", P, [row(1), row(2, uo="UO9"), row(3, uo="UO8"), row(4, site="S777")])
    location = upload(browser, data).headers["Location"]
    page = browser.get(location).get_data(as_text=True)
    # grouped by kind, with counts: two unknown UO, one unknown site
    assert "<td>UO inconnue du marché</td><td class=\"num\">2</td>" in page
    assert "<td>Site inconnu</td><td class=\"num\">1</td>" in page
    # the upload is offered again on the error page, with the busy message
    assert f'action="/lots/IDF/reporting/{P}/depot"' in page and "Déposer le fichier corrigé" in page
    assert "data-busy-message=" in page and "/static/js/busy.js" in page
    # the refused rows, as in the file, with an error column
    assert "Télécharger les 3 ligne(s) refusée(s) (Excel)" in page
    export = browser.get(location + "/lignes-refusees.xlsx")
    assert export.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(export.data))["Lignes refusées"]
    header = [c.value for c in sheet[1]]
    assert header[0] == "Ligne du fichier" and header[-1] == "Erreur(s)"
    assert "Code UO" in header
    rows = [[c.value for c in r] for r in sheet.iter_rows(min_row=2)]
    assert [r[0] for r in rows] == [3, 4, 5]  # file rows (header on row 1)
    uo = header.index("Code UO")
    assert [r[uo] for r in rows] == ["UO9", "UO8", "UO1"]
    assert "UO9" in rows[0][-1] and "S777" in rows[2][-1]
    # another lot's mandataire cannot read it
    assert login("other_mandataire").get(location + "/lignes-refusees.xlsx").status_code == 404


def test_accepted_file_next_step_is_a_button_and_warnings_are_grouped(idf, login):
    browser = login("mandataire")
    location = upload(browser, make_file("IDF", P, [row(1), row(2, uo="UO2.2")])).headers["Location"]
    page = browser.get(location).get_data(as_text=True)
    assert "Étape suivante : vérifier et déposer" in page
    assert 'class="fr-btn fr-icon-arrow-right-line fr-btn--icon-right" href="/reporting/versions/' in page
    assert "<td>UO sans l&#39;UO préalable</td><td class=\"num\">1</td>" in page
    assert "Déposer le fichier corrigé" not in page  # nothing to upload again


def test_busy_script_is_served_from_self(app, idf, login):
    response = login("mandataire").get("/static/js/busy.js")
    assert response.status_code == 200 and b"data-busy-message" in response.data
    assert b"innerHTML" not in response.data


def test_refused_rows_never_keep_personal_data(idf, login):
    browser = login("mandataire")
    data = make_file("IDF", P, [row(1, beneficiary="jeanne.martin@example.org"),
                                row(2, uo="UO9", proof="06 12 34 56 78")])
    location = upload(browser, data).headers["Location"]
    export = browser.get(location + "/lignes-refusees.xlsx")
    cells = [c.value for r in openpyxl.load_workbook(io.BytesIO(export.data))["Lignes refusées"].iter_rows()
             for c in r]
    assert "(non conservé : identifiant non pseudonymisé)" in cells
    assert not any("jeanne" in str(c) for c in cells)
    assert not any("06 12 34" in str(c) for c in cells)
    assert "(non conservé : donnée personnelle possible)" in cells
