"""Monthly reporting: every error at once, nothing from the future.

One workbook holds one error of each kind; every one is reported at its sheet, row and
column with its French message, in a single pass."""
from datetime import date
from io import BytesIO

import openpyxl
import pytest
import sqlalchemy as sa

from fc_market.extensions import db
from fc_market.reporting import dictionary as dd
from fc_market.reporting import service
from fc_market.reporting.models import Act, ReportImport, ReportVersion
from tests.reporting.helpers import FIGURES, ben, make_file, row, validated

P = "2025-03"
#: The day the file is checked: 20 March 2025, inside the period
TODAY = date(2025, 3, 20)


def with_formula(data, cell, formula, sheet="Actes"):
    wb = openpyxl.load_workbook(BytesIO(data))
    wb[sheet][cell] = formula
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


def test_one_error_of_each_kind_all_reported_at_their_cell(idf, users):
    # ben(1) had UO1 on 15/01/2025: billing it again in March is inside the 12-month window
    validated("IDF", "2025-01", [row(1, day=date(2025, 1, 15))], users["manager"])
    rows = [
        row(1, day=date(2025, 3, 10)),                       # 2: window (and has a duplicate)
        row(1, day=date(2025, 3, 10)),                       # 3: duplicate of row 2
        row(2, day=date(2025, 3, 11), proof="X"),            # 4: formula in F4 (set below)
        row(3, day=date(2025, 3, 25)),                       # 5: after today
        row(4, proof="jeanne.martin@example.org"),           # 6: e-mail in the proof reference
        row(5, beneficiary="06 12 34 56 78"),                # 7: phone number as identifier
        row(6, proof="Jeanne Martin"),                       # 8: a name as proof reference
        row(7, csp="joindre au 06 12 34 56 78"),             # 9: phone number in a coded cell
        row(8, day=date(2025, 3, 12)),                       # 10: valid
    ]
    figures = dict(FIGURES, l1_respondents=5, l1_satisfied=9,
                   uo4_actions="Contact : paul.durand@example.org")
    data = with_formula(make_file("IDF", P, rows, figures=figures), "F4", '="DS-"&"4"')
    result = service.import_file(idf, P, data, user=users["mandataire"], file_name="mars.xlsx",
                                 today=TODAY)
    assert not result.accepted
    found = sorted((i.sheet, i.row, i.column, i.code) for i in result.errors)
    figures_row = {name: dd.FIGURE_FIRST_ROW + i for i, (name, _, _) in enumerate(dd.FIGURE_ROWS)}
    assert found == sorted([
        ("Actes", 2, None, "window"),
        ("Actes", 3, None, "duplicate"),
        ("Actes", 4, "F", "formula"),
        ("Actes", 5, "C", "date_future"),
        ("Actes", 6, "F", "personal_data"),
        ("Actes", 7, "A", "id_personal"),
        ("Actes", 8, "F", "personal_data"),
        ("Actes", 9, "I", "personal_data"),
        ("Indicateurs du lot", figures_row["l1_satisfied"], "B", "figure_inconsistent"),
        ("Indicateurs du lot", figures_row["uo4_actions"], "B", "personal_data"),
    ]), result.as_json()
    by_code = {i.code: i for i in result.errors}
    assert "15/01/2025" in by_code["window"].message and "12 mois" in by_code["window"].message
    assert "ligne 2" in by_code["duplicate"].message
    assert "F4" in by_code["formula"].message and "Collage spécial > Valeurs" in by_code["formula"].message
    assert by_code["date_future"].message == ("Date du 25/03/2025 postérieure à aujourd'hui "
                                              "(20/03/2025) : un acte ne se déclare qu'une fois réalisé.")
    assert "adresse électronique" in by_code["personal_data"].message
    inconsistent = by_code["figure_inconsistent"]
    assert f"ligne {figures_row['l1_respondents']}" in inconsistent.message
    assert result.error_count == 10 and result.rows == 9
    # nothing stored, and no personal data travels into the results or the import journal
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Act)) == 1  # January's
    journal = db.session.get(ReportImport, result.import_id)
    for text in ("jeanne", "Jeanne", "paul.durand", "06 12 34 56 78"):
        assert text not in str(result.as_json()) and text not in str(journal.errors)


def test_a_formula_does_not_hide_the_other_rows(idf, users):
    rows = [row(1), row(2, uo="UO9"), row(3)]
    data = with_formula(make_file("IDF", P, rows), "F2", '="DS-"&"1"')
    result = service.import_file(idf, P, data, user=users["mandataire"])
    assert [(i.row, i.column, i.code) for i in result.errors] == [(2, "F", "formula"),
                                                                  (3, "B", "uo_unknown")]


def test_a_formula_on_the_figures_sheet_names_its_cell(idf, users):
    row_ = dd.FIGURE_FIRST_ROW
    data = with_formula(make_file("IDF", P, [row(1)]), f"B{row_}", "=40", sheet="Indicateurs du lot")
    result = service.import_file(idf, P, data, user=users["mandataire"])
    assert [(i.sheet, i.row, i.column, i.code) for i in result.errors] == [
        ("Indicateurs du lot", row_, "B", "formula")]


def test_the_duplicate_keeps_its_first_row_checked_against_the_window(idf, users):
    validated("IDF", "2025-01", [row(1, day=date(2025, 1, 15))], users["manager"])
    result = service.import_file(idf, P, make_file("IDF", P, [row(1), row(1), row(2)]),
                                 user=users["mandataire"])
    assert sorted((i.row, i.code) for i in result.errors) == [(2, "window"), (3, "duplicate")]


@pytest.mark.parametrize("proof", ["DS-IDF-0000042", "N1-2025-03-15", "Document de synthèse",
                                   "PA 2025/118"])
def test_ordinary_references_are_not_personal_data(proof):
    assert dd.personal_data_in(proof, reference=True) is None


@pytest.mark.parametrize("text", ["marie@exemple.fr", "tél. 01.23.45.67.89", "+33 6 12 34 56 78",
                                  "2 84 12 75 123 456 78", "Mme Dupont", "M. Martin"])
def test_personal_data_in_any_free_text(text):
    assert dd.personal_data_in(text) is not None


def test_a_report_is_submitted_only_once_its_period_has_ended(idf, users):
    # during March the file is saved as a draft, with a warning saying why it is not submitted
    result = service.import_file(idf, P, make_file("IDF", P, [row(1)]), user=users["mandataire"],
                                 submit=True, today=TODAY)
    assert result.accepted and result.status == "draft"
    warning = next(w for w in result.warnings if w.code == "not_submitted")
    assert warning.message == ("La période 2025-03 n'est pas terminée (elle s'achève le 31/03/2025) : "
                               "le rapport peut être préparé en brouillon et déposé à partir du "
                               "01/04/2025. Le fichier est enregistré en brouillon, non déposé.")
    db.session.commit()  # the request's unit of work
    draft = db.session.get(ReportVersion, result.version_id)
    with pytest.raises(service.ReportingError) as exc:
        service.submit(draft, users["mandataire"], today=date(2025, 3, 31))
    assert "déposé à partir du 01/04/2025" in exc.value.message
    db.session.rollback()
    draft = db.session.get(ReportVersion, result.version_id)
    checker = service.submit(draft, users["mandataire"], today=date(2025, 4, 1))
    assert not checker.error_count and draft.status == "submitted" and draft.days_late == 0


def test_the_web_form_refuses_a_future_act_and_personal_data(idf, users):
    report = service.get_or_create_report(idf, P)
    draft, _ = service.open_draft(report, users["mandataire"])
    values = dict(zip([name for name, _, _ in dd.ACT_COLUMNS],
                      row(1, day=date(2099, 3, 10), proof="appeler le 0612345678")))
    issues = service.add_act(draft, values, users["mandataire"])
    assert sorted(i.code for i in issues) == ["date_future", "personal_data"]
    with pytest.raises(service.ReportingError) as exc:
        service.save_figures(draft, dict(FIGURES, uo4_actions="Réunion avec Mme Durand"),
                             users["mandataire"])
    assert "civilité suivie d'un nom" in exc.value.message
