import json

import sqlalchemy as sa

from fc_market.extensions import db
from fc_market.market.models import Lot, Operator
from tests.conftest import DEMO_CONTRACT


def test_market_load_lots_json_and_idempotence(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["market", "load", str(DEMO_CONTRACT)])
    assert first.exit_code == 0, first.output
    assert "créé" in first.output
    second = runner.invoke(args=["market", "load", str(DEMO_CONTRACT)])
    assert second.exit_code == 0 and "Aucun changement" in second.output
    result = runner.invoke(args=["market", "lots", "--json", "--date", "2025-06-01"])
    rows = json.loads(result.output)
    assert [r["code"] for r in rows][:3] == ["IDF", "CVL", "BFC"]
    assert rows[10]["code"] == "ARA" and rows[10]["prices"]["UO2.1"] == "620.00"


def test_market_load_refuses_a_bad_file_with_its_keys(app, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(DEMO_CONTRACT.read_text(encoding="utf-8").replace('UO1 = "150.00"', 'UO1 = 150.5', 1),
                   encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["market", "load", str(bad)])
    assert result.exit_code == 1
    assert "rien n'a été chargé" in result.output and "lots.IDF.prices[1].UO1" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Lot)) == 0


def test_demo_seed_is_deterministic_and_idempotent(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["demo", "seed"]).exit_code == 1  # no market yet
    runner.invoke(args=["market", "load", str(DEMO_CONTRACT)])
    result = runner.invoke(args=["demo", "seed", "--today", "2026-11-23"])
    assert result.exit_code == 0, result.output
    assert "18 groupements fictifs" in result.output
    verified = runner.invoke(args=["billing", "verify"])  # the demo's hash chains are intact
    assert verified.exit_code == 0 and "Intégrité vérifiée" in verified.output, verified.output
    logins = runner.invoke(args=["demo", "logins"])
    assert "gestion@demo.fc-market.test" in logins.output and "Demo-Gestion-2026" in logins.output
    operators = db.session.scalars(sa.select(Operator).order_by(Operator.lot_id)).all()
    assert len(operators) == 18
    assert all("fictif" in o.name for o in operators)
    assert all(2 <= len(o.members) <= 4 for o in operators)
    assert all(sum(m.role == "mandataire" for m in o.members) == 1 for o in operators)
    from fc_market.market.siret import is_valid_siret
    assert all(is_valid_siret(m.siret) for o in operators for m in o.members)
    again = runner.invoke(args=["demo", "seed", "--today", "2026-11-23"])
    assert "déjà présentes" in again.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Operator)) == 18
