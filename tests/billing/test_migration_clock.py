"""Migration 0011_clock: the existing disputes ("suspensions") become interruptions, and back."""
from datetime import date, datetime

import flask_migrate
import sqlalchemy as sa

import config
from fc_market import create_app
from fc_market.extensions import db
from tests.test_migrations import fresh_database_url  # noqa: F401  (fixture)


def _seed_disputes(conn):
    conn.execute(sa.text(
        "INSERT INTO markets (id, reference, title, buyer, start_date, end_date, max_renewals, "
        "renewal_months, illustrative) VALUES (1, 'M', 'Marché', 'FC', '2024-01-01', "
        "'2027-12-31', 0, 0, true)"))
    conn.execute(sa.text(
        "INSERT INTO lots (id, market_id, code, number, region_code, name, overseas) "
        "VALUES (1, 1, 'CVL', 2, '24', 'Centre-Val de Loire', false)"))
    conn.execute(sa.text(
        "INSERT INTO payable_statements (id, lot_id, period, rank, status, number, days_late, "
        "revision_coefficient, subtotal, penalties, withholdings, total_excl_tax, vat_rate, vat, "
        "total_incl_tax, penalties_deducted_incl_tax, amount_payable, unabsorbed, snapshot, "
        "computed_at, certified_at, version_counter) VALUES (1, 1, '2025-01', 0, 'certified', "
        "'EL-2025-00001', 0, 1, 100, 0, 0, 100, 0.2, 20, 120, 0, 120, 0, '{}', "
        "'2025-02-20 10:00:00', '2025-02-20 10:00:00', 1)"))
    rows = [
        # still disputed: clock suspended since 10/03/2025
        (1, "F-OPEN", "disputed", date(2025, 3, 10), None, "RIB absent", None),
        # disputed 10/03, accepted 20/03
        (2, "F-DONE", "accepted", date(2025, 3, 10), date(2025, 3, 20), None,
         datetime(2025, 3, 20, 9, 0)),
        # never disputed
        (3, "F-PLAIN", "accepted", None, None, None, datetime(2025, 3, 4, 9, 0)),
    ]
    for inv_id, number, status, since, until, reason, decided_at in rows:
        conn.execute(sa.text(
            "INSERT INTO invoices (id, lot_id, statement_id, kind, number, issued_on, received_on, "
            "amount_excl_tax, vat, amount_incl_tax, deductions, match_status, status, "
            "dispute_reason, suspended_from, suspended_until, decided_at, recorded_at, "
            "version_counter) VALUES (:id, 1, 1, 'invoice', :number, '2025-03-01', '2025-03-03', "
            "100, 20, 120, 0, 'matched', :status, :reason, :since, :until, :decided, "
            "'2025-03-03 10:00:00', 1)"),
            {"id": inv_id, "number": number, "status": status, "reason": reason, "since": since,
             "until": until, "decided": decided_at})


def test_disputes_become_interruptions_and_back(fresh_database_url):  # noqa: F811
    app = create_app(config.TestConfig, SQLALCHEMY_DATABASE_URI=fresh_database_url)
    with app.app_context():
        flask_migrate.upgrade(revision="0007_merge_heads")
        with db.engine.begin() as conn:
            _seed_disputes(conn)
        flask_migrate.upgrade(revision="0011_clock")
        with db.engine.connect() as conn:
            statuses = dict(conn.execute(sa.text("SELECT number, status FROM invoices")).all())
            assert statuses == {"F-OPEN": "received", "F-DONE": "accepted", "F-PLAIN": "accepted"}
            rows = conn.execute(sa.text(
                "SELECT i.number, x.notified_on, x.documents_received_on, x.reasons, "
                "x.documents_expected, x.from_dispute FROM invoice_interruptions x "
                "JOIN invoices i ON i.id = x.invoice_id ORDER BY i.number")).all()
        as_date = (lambda v: v if isinstance(v, date) else date.fromisoformat(str(v)[:10]))
        assert [(r[0], as_date(r[1]), r[2] and as_date(r[2]), r[3], bool(r[5])) for r in rows] == [
            ("F-DONE", date(2025, 3, 10), date(2025, 3, 20), "Motif non renseigné", True),
            ("F-OPEN", date(2025, 3, 10), None, "RIB absent", True)]
        assert all("reprise" in r[4] for r in rows)
        flask_migrate.downgrade(revision="0007_merge_heads")
        with db.engine.connect() as conn:
            back = {r[0]: (r[1], r[2] and as_date(r[2]), r[3] and as_date(r[3])) for r in conn.execute(
                sa.text("SELECT number, status, suspended_from, suspended_until FROM invoices"))}
        assert back == {"F-OPEN": ("disputed", date(2025, 3, 10), None),
                        "F-DONE": ("accepted", date(2025, 3, 10), date(2025, 3, 20)),
                        "F-PLAIN": ("accepted", None, None)}
        flask_migrate.downgrade(revision="base")
        db.session.remove()
        db.engine.dispose()
