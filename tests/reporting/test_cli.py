"""flask reporting template / import."""
import json

import openpyxl
import sqlalchemy as sa

from fc_market.audit.models import AuditEntry
from fc_market.extensions import db
from fc_market.reporting.models import ReportImport, ReportVersion
from tests.reporting.helpers import make_file, row


def test_template_command_writes_the_lot_template(app, idf, tmp_path):
    out = tmp_path / "modele.xlsx"
    result = app.test_cli_runner().invoke(args=["reporting", "template", "IDF", "2025-03", "-o", str(out)])
    assert result.exit_code == 0, result.output
    wb = openpyxl.load_workbook(out)
    assert wb["Indicateurs du lot"]["B2"].value == "IDF" and wb["Indicateurs du lot"]["B3"].value == "2025-03"
    bad = app.test_cli_runner().invoke(args=["reporting", "template", "IDF", "2025-13", "-o", str(out)])
    assert bad.exit_code == 2 and "AAAA-MM" in bad.output


def test_import_command_accepts_with_json_and_acts_as_the_mandataire(app, idf, users, tmp_path):
    path = tmp_path / "mars.xlsx"
    path.write_bytes(make_file("IDF", "2025-03", [row(1), row(2, uo="UO2.2")]))
    result = app.test_cli_runner().invoke(args=["reporting", "import", "IDF", "2025-03", str(path),
                                                "--json", "--today", "2025-04-12"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["accepted"] is True and payload["status"] == "submitted"
    assert payload["counts"]["acts"] == 2 and payload["counts"]["by_uo"] == {"UO1": 1, "UO2.2": 1}
    assert payload["counts"]["errors"] == 0 and payload["warnings"][0]["row"] == 3
    assert payload["user"] == users["mandataire"].email
    version = db.session.scalar(sa.select(ReportVersion))
    assert version.days_late == 2 and version.submitted_by_id == users["mandataire"].id
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "reporting.import"))
    assert entry.user_id == users["mandataire"].id and entry.actor == "ligne de commande"
    assert db.session.scalar(sa.select(ReportImport.channel)) == "cli"


def test_import_command_refuses_with_exit_1_and_every_error(app, idf, users, tmp_path):
    path = tmp_path / "mars.xlsx"
    path.write_bytes(make_file("IDF", "2025-03", [row(1, uo="UO8"), row(2, site="S404")]))
    result = app.test_cli_runner().invoke(args=["reporting", "import", "IDF", "2025-03", str(path),
                                                "--json", "--as", users["manager"].email])
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["accepted"] is False and payload["counts"]["errors"] == 2
    assert [(e["sheet"], e["row"], e["column"]) for e in payload["errors"]] == [
        ("Actes", 2, "B"), ("Actes", 3, "E")]
    assert payload["user"] == users["manager"].email
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ReportVersion)) == 0


def test_import_command_refuses_another_lots_mandataire(app, idf, users, tmp_path):
    path = tmp_path / "mars.xlsx"
    path.write_bytes(make_file("IDF", "2025-03", [row(1)]))
    result = app.test_cli_runner().invoke(args=["reporting", "import", "IDF", "2025-03", str(path),
                                                "--as", users["other_mandataire"].email])
    assert result.exit_code == 2 and "autre lot" in result.output
