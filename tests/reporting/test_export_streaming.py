"""The version export streams (issue 16): same content, fetched a few acts at a time."""
def test_version_export_streams_every_act_in_file_order(idf, users, monkeypatch):
    """The acts sheet of a version, fetched a few rows at a time and written in
    write-only mode, holds exactly the version's acts, hand-checked."""
    from datetime import date
    from io import BytesIO

    import openpyxl

    from fc_market.excel import writer
    from fc_market.extensions import db
    from fc_market.reporting import dictionary as dd
    from fc_market.reporting import exporting
    from fc_market.reporting.models import ReportVersion
    from tests.reporting.helpers import ben, row
    from tests.reporting.test_import import run

    monkeypatch.setattr(exporting, "ACT_FETCH_ROWS", 2)  # several fetches for 5 acts
    rows = [row(1), row(2, uo="UO0", mode="Téléphone", site=None, proof=None, sex=None, age=None,
                    csp=None, employment=None, sector=None),
            row(3, uo="UO2.1", mode="visio", site=None, proof="@DS-3",
                day=date(2025, 3, 31)),
            row(4, site="S002", proof="DS-4", csp="6"), row(5, proof="DS-5")]
    result = run(idf, rows, user=users["mandataire"])
    assert result.accepted, result.as_json()
    version = db.session.get(ReportVersion, result.version_id)
    data = writer.build_workbook(exporting.version_sheets(version), threshold=2)
    wb = openpyxl.load_workbook(BytesIO(data))
    sheet = wb["Actes"]
    got = [[c.value for c in r] for r in sheet.iter_rows(min_row=2)]
    assert [r[0] for r in got] == [2, 3, 4, 5, 6]
    assert [r[1] for r in got] == [ben(n) for n in range(1, 6)]
    assert [r[2] for r in got] == ["UO1", "UO0", "UO2.1", "UO1", "UO1"]
    assert [r[3].date() for r in got] == [date(2025, 3, 10)] * 2 + [date(2025, 3, 31)] + [
        date(2025, 3, 10)] * 2
    assert [r[4] for r in got] == ["Présentiel", "Téléphone", "Visioconférence", "Présentiel",
                                   "Présentiel"]
    assert [r[5] for r in got] == ["S001", None, None, "S002", "S001"]
    assert got[2][6] == "@DS-3" and sheet.cell(row=4, column=7).data_type == "s"
    assert sheet.cell(row=4, column=7).quotePrefix
    assert got[0][7:] == ["F", "26-44", dd.CSP["5"], dd.EMPLOYMENT["cdi"], dd.SECTORS["Q"]]
    assert got[1][7:] == [None] * 5
    assert got[3][9] == dd.CSP["6"]
