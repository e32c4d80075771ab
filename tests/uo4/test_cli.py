"""flask uo4 template / import."""
import json

import openpyxl
import sqlalchemy as sa

from fc_market.audit.models import AuditEntry
from fc_market.extensions import db
from fc_market.uo4.models import Uo4Version
from tests.uo4.conftest import SIRETS, filled, lot

IDF_A, IDF_B = SIRETS["IDF"]


def test_template_command_writes_the_lot_template(app, groupements, tmp_path):
    out = tmp_path / "plan.xlsx"
    result = app.test_cli_runner().invoke(args=["uo4", "template", "IDF", "2026", "-o", str(out),
                                                "--kind", "plan"])
    assert result.exit_code == 0, result.output
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["Instructions", "Plan", "Listes"]
    assert wb["Instructions"]["B2"].value == "IDF" and wb["Instructions"]["B3"].value == "2026"
    assert [c.value for c in wb["Plan"][1]] == ["Catégorie", "Membre du groupement", "Montant (€)",
                                                "Description"]
    assert wb["Listes"]["B2"].value == f"{IDF_A} — Atlas Conseil IDF"
    bad = app.test_cli_runner().invoke(args=["uo4", "template", "IDF", "2035", "-o", str(out)])
    assert bad.exit_code == 2 and "hors du contrat" in bad.output


def test_import_command_exit_codes_and_json(app, groupements, users, tmp_path):
    good = tmp_path / "bilan.xlsx"
    good.write_bytes(filled(lot("IDF"), 2025, "statement", [("qualite", IDF_A, 1000, None),
                                                            ("autre", IDF_B, "250,5", None)]))
    result = app.test_cli_runner().invoke(args=["uo4", "import", "IDF", "2025", str(good), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["accepted"] is True and payload["kind"] == "statement"
    assert payload["status"] == "draft" and payload["total"] == "1250.50" and payload["lines"] == 2
    assert payload["user"] == users["mandataire"].email
    # --submit: a statement without its documents is refused, and nothing changes
    again = app.test_cli_runner().invoke(args=["uo4", "import", "IDF", "2025", str(good), "--json",
                                               "--submit"])
    assert again.exit_code == 1
    errors = json.loads(again.stdout)["errors"]
    assert {e["code"] for e in errors} == {"documents_missing"}
    bad = tmp_path / "faux.xlsx"
    bad.write_bytes(filled(lot("IDF"), 2025, "statement", [("qualite", IDF_A, -3, None)]))
    refused = app.test_cli_runner().invoke(args=["uo4", "import", "IDF", "2025", str(bad), "--json"])
    assert refused.exit_code == 1
    payload = json.loads(refused.stdout)
    assert payload["accepted"] is False
    assert [(e["sheet"], e["row"], e["column"], e["code"]) for e in payload["errors"]] == [
        ("Bilan", 2, "C", "amount_negative")]
    db.session.expire_all()
    versions = db.session.scalars(sa.select(Uo4Version)).all()
    assert len(versions) == 1 and versions[0].total == 1250.50 and len(versions[0].lines) == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)
                             .where(AuditEntry.action == "uo4.lines")) == 1
