"""Import of a filled-in template: good files, every blocking error, every warning."""
from datetime import date

import pytest
import sqlalchemy as sa

from fc_market.audit.models import AuditEntry
from fc_market.extensions import db
from fc_market.reporting import service
from fc_market.reporting.models import Act, LotFigures, ReportImport, ReportVersion
from tests.reporting.helpers import ben, make_file, row, validated

P = "2025-03"


def run(lot, rows, period=P, user=None, **kwargs):
    file_kwargs = {k: kwargs.pop(k) for k in ("figures", "template", "lot_cell", "period_cell")
                   if k in kwargs}
    return service.import_file(lot, period, make_file(lot.code, period, rows, **file_kwargs),
                               user=user, file_name="reporting.xlsx", **kwargs)


def codes(result):
    return [i.code for i in result.errors]


def test_good_file_is_loaded_into_a_draft(idf, users):
    rows = [row(1), row(2, uo="UO0", mode="Téléphone", site=None, proof=None, sex=None, age=None,
                    csp=None, employment=None, sector=None),
            row(3, uo="UO2.1", mode="visio", site=None, proof="DS-3", day=date(2025, 3, 31))]
    result = run(idf, rows, user=users["mandataire"])
    assert result.accepted, result.as_json()
    assert result.errors == [] and result.act_count == 3
    assert result.counts == {"UO1": 1, "UO0": 1, "UO2.1": 1}
    version = db.session.get(ReportVersion, result.version_id)
    assert version.status == "draft" and version.source == "excel" and version.act_count == 3
    acts = db.session.scalars(sa.select(Act).where(Act.version_id == version.id)
                              .order_by(Act.source_row)).all()
    assert [a.source_row for a in acts] == [2, 3, 4]
    first = acts[0]
    assert (first.beneficiary_id, first.mode, first.site.code, first.proof_ref, first.sex,
            first.age_band, first.csp, first.employment_status, first.sector) == (
        ben(1), "presentiel", "S001", "DS-1", "F", "26-44", "5", "cdi", "Q")
    assert acts[1].mode == "telephone" and acts[1].site_id is None and acts[1].sex is None
    figures = db.session.scalar(sa.select(LotFigures).where(LotFigures.version_id == version.id))
    assert (figures.l1_respondents, figures.l1_satisfied, figures.uo4_actions) == (40, 36, "Atelier qualité")
    journal = db.session.get(ReportImport, result.import_id)
    assert journal.accepted and journal.user_id == users["mandataire"].id and journal.version_id == version.id
    audit = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "reporting.import"))
    assert audit.user_id == users["mandataire"].id and audit.lot_id == idf.id


def test_a_second_file_replaces_the_draft_content(idf, users):
    first = run(idf, [row(1), row(2)], user=users["mandataire"])
    second = run(idf, [row(3)], user=users["mandataire"])
    assert second.accepted and second.version_id == first.version_id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Act)) == 1


def test_upper_case_identifiers_are_normalised(idf, users):
    result = run(idf, [row(beneficiary=ben(1).upper())], user=users["mandataire"])
    assert result.accepted
    assert db.session.scalar(sa.select(Act.beneficiary_id)) == ben(1)


BLOCKING = [
    ("uo_unknown", dict(uo="UO9"), "B"),
    ("uo_unknown", dict(uo="UO4"), "B"),
    ("date_after_period", dict(day=date(2025, 4, 1)), "C"),
    ("date_before_period", dict(day=date(2025, 2, 1)), "C"),
    ("date_before_contract", dict(day=date(2023, 12, 20)), "C"),
    ("date_invalid", dict(day="le 3 mars"), "C"),
    ("site_unknown", dict(site="S777"), "E"),
    ("site_other_lot", dict(site="S090"), "E"),
    ("site_closed", dict(site="S003"), "E"),
    ("site_missing", dict(site=None), "E"),
    ("proof_missing", dict(proof=None), "F"),
    ("mode_unknown", dict(mode="Courrier"), "D"),
    ("id_malformed", dict(beneficiary="abc123"), "A"),
    ("id_personal", dict(beneficiary="jeanne.martin@example.org"), "A"),
    ("id_personal", dict(beneficiary="06 12 34 56 78"), "A"),
    ("id_personal", dict(beneficiary="Jeanne Martin"), "A"),
    ("id_personal", dict(beneficiary=2850375123456), "A"),
    ("sex_unknown", dict(sex="X"), "G"),
    ("sector_unknown", dict(sector="ZZ"), "K"),
    ("profile_missing", dict(age=None), None),
]


@pytest.mark.parametrize("code,change,column", BLOCKING,
                         ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(BLOCKING)])
def test_each_blocking_error_refuses_the_file(idf, users, code, change, column):
    result = run(idf, [row(1), row(2, **change)], user=users["mandataire"])
    assert not result.accepted
    assert code in codes(result), result.as_json()
    issue = next(i for i in result.errors if i.code == code)
    assert issue.sheet == "Actes" and issue.row == 3 and issue.column == column
    assert issue.message and issue.message[0].isupper()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Act)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ReportVersion)) == 0


def test_personal_data_is_never_echoed(idf, users):
    result = run(idf, [row(beneficiary="jeanne.martin@example.org")], user=users["mandataire"])
    journal = db.session.get(ReportImport, result.import_id)
    assert "jeanne" not in str(result.as_json()) and "jeanne" not in str(journal.errors)


def test_duplicate_rows(idf, users):
    result = run(idf, [row(1), row(2), row(1)], user=users["mandataire"])
    assert codes(result) == ["duplicate"]
    assert result.errors[0].row == 4 and "ligne 2" in result.errors[0].message


def test_every_duplicate_is_reported_even_after_another_error(idf, users):
    rows = [row(1), row(2, uo="UO9"), row(3), row(1), row(3), row(3), row(4)]
    result = run(idf, rows, user=users["mandataire"])
    assert not result.accepted
    assert [(i.code, i.row) for i in result.errors] == [
        ("uo_unknown", 3), ("duplicate", 5), ("duplicate", 6), ("duplicate", 7)]
    assert "ligne 2" in result.errors[1].message
    assert all("ligne 4" in i.message for i in result.errors[2:])
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Act)) == 0


def test_rules_across_rows_read_the_file_back_a_chunk_of_beneficiaries_at_a_time(
        idf, users, monkeypatch):
    """The window rule, the sequence warnings and the duplicates hold whatever the chunk
    size: a beneficiary's acts always fall in one chunk."""
    from fc_market.reporting import checks
    monkeypatch.setattr(checks, "HISTORY_CHUNK", 2)
    validated("IDF", "2025-01", [row(5, day=date(2025, 1, 15))], users["manager"])
    rows = [row(n) for n in (1, 2, 3, 4)]
    rows += [row(5, day=date(2025, 3, 15)),                               # window, earlier month
             row(6, day=date(2025, 3, 3)), row(6, day=date(2025, 3, 20)),  # window, same file
             row(7, uo="UO2.2", proof="DS-7")]                             # no UO2.1 before
    result = run(idf, rows, user=users["mandataire"])
    assert [(i.code, i.row) for i in result.errors] == [("window", 6), ("window", 8)]
    assert "15/01/2025" in result.errors[0].message and "03/03/2025" in result.errors[1].message
    assert "expects_prior" in [w.code for w in result.warnings]


def test_uo_billed_twice_inside_the_window_in_the_same_file(idf, users):
    result = run(idf, [row(1, day=date(2025, 3, 3)), row(1, day=date(2025, 3, 20), proof="DS-2")],
                 user=users["mandataire"])
    assert codes(result) == ["window"]
    assert result.errors[0].row == 3 and "03/03/2025" in result.errors[0].message


def test_uo_billed_again_inside_the_window_of_an_earlier_month(idf, users):
    validated("IDF", "2025-01", [row(1, day=date(2025, 1, 15))], users["manager"])
    result = run(idf, [row(1, day=date(2025, 3, 15)), row(2)], user=users["mandataire"])
    assert codes(result) == ["window"]
    assert "15/01/2025" in result.errors[0].message and "12 mois" in result.errors[0].message
    # outside the 12-month window it is a new episode
    result = run(idf, [row(1, day=date(2026, 1, 15))], period="2026-01", user=users["mandataire"])
    assert result.accepted, result.as_json()


def test_the_window_comes_from_the_catalogue(idf, users, market):
    from fc_market.market.models import UnitOfWork
    uo1 = db.session.scalar(sa.select(UnitOfWork).where(UnitOfWork.code == "UO1"))
    uo1.max_per_beneficiary = 2
    db.session.commit()
    result = run(idf, [row(1, day=date(2025, 3, 3)), row(1, day=date(2025, 3, 20))],
                 user=users["mandataire"])
    assert result.accepted


def test_late_acts_allowed_by_the_contract_are_warnings(idf, users):
    assert idf.contract.late_acts_grace_days == 15
    result = run(idf, [row(1, day=date(2025, 2, 20))], user=users["mandataire"])
    assert result.accepted
    assert [i.code for i in result.warnings] == ["date_late_act"]
    idf.contract.late_acts_grace_days = 0
    db.session.commit()
    result = run(idf, [row(1, day=date(2025, 2, 20))], user=users["mandataire"])
    assert codes(result) == ["date_before_period"]
    assert "n'admet pas" in result.errors[0].message


def test_all_errors_are_returned_at_once(idf, users):
    rows = [row(1), row(2, uo="UO7", site="S777", sex="?"), row(3),
            row(4, beneficiary="Jean Dupont", day=date(2024, 3, 1)), row(5, proof=None)]
    result = run(idf, rows, user=users["mandataire"])
    found = sorted((i.row, i.column, i.code) for i in result.errors)
    assert found == [(3, "B", "uo_unknown"), (3, "E", "site_unknown"), (3, "G", "sex_unknown"),
                     (5, "A", "id_personal"), (5, "C", "date_before_period"),
                     (6, "F", "proof_missing")]
    assert result.error_count == 6 and result.rows == 5


def test_figures_sheet_is_checked(idf, users):
    figures = dict(l1_respondents=5, l1_satisfied=9, l2_respondents=-1)
    result = run(idf, [row(1)], user=users["mandataire"], figures=figures)
    assert sorted(codes(result)) == ["figure_inconsistent", "figure_invalid"]
    assert {i.sheet for i in result.errors} == {"Indicateurs du lot"}


def test_a_file_of_another_lot_or_period_is_refused(idf, users):
    result = run(idf, [row(1)], user=users["mandataire"], lot_cell="BRE", period_cell="2025-02")
    assert sorted(codes(result)) == ["wrong_lot", "wrong_period"]


def test_missing_columns_and_sheets(idf, users):
    import openpyxl
    from io import BytesIO
    wb = openpyxl.Workbook()
    wb.active.title = "Actes"
    wb.active.append(["Identifiant bénéficiaire", "Date de l'acte"])
    wb.active.append([ben(1), date(2025, 3, 3)])
    out = BytesIO()
    wb.save(out)
    result = service.import_file(idf, P, out.getvalue(), user=users["mandataire"])
    assert codes(result) == ["columns_missing"]
    assert "Code UO" in result.errors[0].message and "Modalité" in result.errors[0].message
    wb.active.title = "Feuil1"
    out = BytesIO()
    wb.save(out)
    result = service.import_file(idf, P, out.getvalue(), user=users["mandataire"])
    assert codes(result) == ["sheet_missing"]


def test_template_free_file_is_accepted_with_a_warning(idf, users):
    result = run(idf, [row(1)], user=users["mandataire"], template=False)
    assert result.accepted
    assert [i.code for i in result.warnings] == ["figures_missing"]


def test_period_outside_the_contract(idf, users):
    result = service.import_file(idf, "2031-01", make_file("IDF", "2025-03", [row(1)]),
                                 user=users["mandataire"])
    assert codes(result) == ["period"]


# -- warnings ------------------------------------------------------------------------------------

def test_uo22_without_uo21_is_a_warning(idf, users):
    result = run(idf, [row(1, uo="UO2.2"), row(2, uo="UO2.1"), row(2, uo="UO2.2", day=date(2025, 3, 20))],
                 user=users["mandataire"])
    assert result.accepted
    assert [(i.code, i.row) for i in result.warnings] == [("expects_prior", 2)]


def test_uo21_of_an_earlier_month_counts_as_prior(idf, users):
    validated("IDF", "2025-01", [row(1, uo="UO2.1", day=date(2025, 1, 10))], users["manager"])
    result = run(idf, [row(1, uo="UO2.2")], user=users["mandataire"])
    assert result.accepted and result.warnings == []


def test_level_1_after_level_2_is_a_warning(idf, users):
    result = run(idf, [row(1, uo="UO2.1", day=date(2025, 3, 2)), row(1, uo="UO1", day=date(2025, 3, 9))],
                 user=users["mandataire"])
    assert result.accepted
    assert [(i.code, i.row) for i in result.warnings] == [("level1_after_level2", 3)]


def test_unusual_monthly_change_is_a_warning(idf, users):
    for i, period in enumerate(("2024-12", "2025-01", "2025-02")):
        month = int(period[5:])
        year = int(period[:4])
        validated("IDF", period, [row(1000 * (i + 1) + n, day=date(year, month, 5)) for n in range(30)],
                  users["manager"])
    result = run(idf, [row(n) for n in range(10)], user=users["mandataire"])
    assert result.accepted
    change = [i for i in result.warnings if i.code == "volume_change"]
    assert len(change) == 1 and "UO1" in change[0].message and "baisse de 67" in change[0].message


def test_the_volume_change_thresholds_are_the_contracts(idf, users):
    for i, period in enumerate(("2024-12", "2025-01", "2025-02")):
        month, year = int(period[5:]), int(period[:4])
        validated("IDF", period, [row(1000 * (i + 1) + n, day=date(year, month, 5)) for n in range(30)],
                  users["manager"])
    # 10 acts against a mean of 30: −67 %, under a contract threshold of 70 % no warning
    idf.contract.extra_terms = {**idf.contract.extra_terms, "reporting.volume_change_threshold": "0.7"}
    db.session.commit()
    result = run(idf, [row(n) for n in range(10)], user=users["mandataire"])
    assert result.accepted and "volume_change" not in [i.code for i in result.warnings]
    # nor when the recent mean (30) is under the contract's minimum mean (40)
    idf.contract.extra_terms = {**idf.contract.extra_terms, "reporting.volume_change_threshold": "0.5",
                                "reporting.volume_min_mean": 40}
    db.session.commit()
    result = run(idf, [row(n) for n in range(10)], user=users["mandataire"])
    assert "volume_change" not in [i.code for i in result.warnings]
