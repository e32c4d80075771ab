import json
from datetime import datetime

import sqlalchemy as sa

from fc_market.extensions import db
from fc_market.market.models import Lot, Operator
from fc_market.models_base import utcnow
from tests.conftest import DEMO_CONTRACT, wipe_database


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


#: Random by design: a password's salted hash, a session's token, a stored file's name (its
#: content's sha256 is compared like any other column)
SALTED = {"password_hash", "session_token", "file_key", "storage_key"}


def database_rows():
    """Every row of every table, by primary key."""
    return {table.name: [tuple(row) for row in db.session.execute(
        sa.select(table).order_by(*table.primary_key.columns))]
        for table in db.metadata.sorted_tables}


def differences(first, second, windows):
    """What differs between two databases, except a timestamp taken while each seed ran (the
    clock, within that run's window) and the random secrets of accounts (:data:`SALTED`)."""
    found = []
    for table in db.metadata.sorted_tables:
        a, b = first[table.name], second[table.name]
        if len(a) != len(b):
            found.append(f"{table.name}: {len(a)} rows against {len(b)}")
            continue
        for row_a, row_b in zip(a, b):
            for column, x, y in zip(table.columns, row_a, row_b):
                if x == y or column.name in SALTED:
                    continue
                if (isinstance(x, datetime) and isinstance(y, datetime)
                        and windows[0][0] <= x <= windows[0][1] and windows[1][0] <= y <= windows[1][1]):
                    continue
                found.append(f"{table.name}.{column.name}: {x!r} against {y!r}")
    return found


def test_demo_seed_is_deterministic_and_idempotent(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["demo", "seed"]).exit_code == 1  # no market yet
    seeds, windows = [], []
    for attempt in range(2):
        if attempt:
            wipe_database()  # a fresh database again: no row, ids from 1
        start = utcnow()
        assert runner.invoke(args=["market", "load", str(DEMO_CONTRACT)]).exit_code == 0
        result = runner.invoke(args=["demo", "seed", "--today", "2026-11-23", "--scale", "0.01",
                                     "--lots", "IDF"])
        assert result.exit_code == 0, result.output
        assert "18 groupements fictifs" in result.output
        windows.append((start, utcnow()))
        seeds.append(database_rows())
    assert differences(*seeds, windows) == []
    assert sum(len(rows) for rows in seeds[0].values()) > 5000  # every module seeded something
    assert all(seeds[0][table] for table in ("acts", "payable_statements", "control_campaigns",
                                             "sites", "steering_lot_months"))
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
    assert database_rows() == seeds[1]  # the second run changed nothing
