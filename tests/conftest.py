"""Shared fixtures.

The suite runs on SQLite by default and on PostgreSQL when ``TEST_DATABASE_URL`` (or
``DATABASE_URL``) points at one.  The schema is created once per session with
``create_all`` (tests only; the migrations are checked separately in test_migrations.py)
and every table is emptied after each test.  The demo contract file is loaded once per
session: the ``market`` fixture restores the rows that loading wrote (a snapshot), which is
what loading the file again would write, without parsing and checking it for every test.
"""
import contextvars
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from flask.testing import FlaskClient

import config
from fc_market import create_app
from fc_market.extensions import db

ROOT = Path(__file__).resolve().parent.parent
DEMO_CONTRACT = ROOT / "contracts" / "cep-demo.toml"
PASSWORD = "Test-Password-123"


class IsolatedClient(FlaskClient):
    """Each request runs in its own context, as in production: its own app context, ``g``
    and database session, not the test's.  What the test arranged in its own session (service
    calls, which never commit) is committed first, as if an earlier unit of work had done it,
    and the test's session is expired afterwards so it reads what the request committed."""

    _inside = contextvars.ContextVar("inside_isolated_request", default=False)

    def open(self, *args, **kwargs):
        parent_open = super().open
        if self._inside.get():  # a redirect followed inside the request's own context
            return parent_open(*args, **kwargs)

        db.session.commit()

        def isolated():
            self._inside.set(True)
            return parent_open(*args, **kwargs)

        response = contextvars.Context().run(isolated)
        db.session.expire_all()
        return response


@pytest.fixture(scope="session")
def app():
    tmp = tempfile.mkdtemp(prefix="fc_market_test_")
    url = config.TestConfig.SQLALCHEMY_DATABASE_URI
    if url in ("sqlite://", "sqlite:///:memory:"):
        url = f"sqlite:///{tmp}/test.db"
    app = create_app(config.TestConfig, SQLALCHEMY_DATABASE_URI=url,
                     UPLOAD_FOLDER=os.path.join(tmp, "files"))
    app.test_client_class = IsolatedClient
    with app.app_context():
        db.drop_all()
        db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        with _foreign_keys_off() as conn:
            db.metadata.drop_all(conn)
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _clean_database(app):
    ctx = app.app_context()
    ctx.push()
    yield
    wipe_database()
    ctx.pop()


@contextmanager
def _foreign_keys_off():
    """A connection whose work is committed at the end; on SQLite with the foreign keys off
    meanwhile (the tables' rows form cycles, users and lots: emptying or filling them table
    by table would break a key on the way), checked before they are on again."""
    with db.engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            conn.exec_driver_sql("PRAGMA foreign_keys = OFF")
            conn.commit()
        try:
            yield conn
            if sqlite:
                assert conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
            conn.commit()
        finally:
            conn.rollback()
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys = ON")
                conn.commit()


def wipe_database():
    """Empty every table and restart the ids, as in a fresh database."""
    db.session.rollback()
    db.session.remove()
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    with _foreign_keys_off() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables)
                                 + " RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(sa.text(f'DELETE FROM "{table}"'))


@pytest.fixture(scope="session", autouse=True)
def contract_snapshot(app):
    """The rows that loading the demo contract file writes, table by table (loaded once, before
    any test writes anything)."""
    from fc_market.market.contract_file import load_file
    with app.app_context():
        load_file(DEMO_CONTRACT)
        db.session.commit()
        snapshot = [(table, [dict(row._mapping) for row in db.session.execute(
            sa.select(table).order_by(*table.primary_key.columns))])
            for table in db.metadata.sorted_tables]
        wipe_database()
    return [(table, rows) for table, rows in snapshot if rows]


def restore(snapshot):
    """Insert the snapshot's rows with their ids (then move PostgreSQL's sequences past them)."""
    with _foreign_keys_off() as conn:
        for table, rows in snapshot:
            conn.execute(table.insert(), rows)
        if conn.dialect.name == "postgresql":
            for table, _ in snapshot:
                for column in table.primary_key.columns:
                    if column.autoincrement is True or (column.autoincrement == "auto"
                                                        and isinstance(column.type, sa.Integer)):
                        conn.execute(sa.text(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "
                            f'COALESCE((SELECT MAX("{column.name}") FROM "{table.name}"), 0) + 1, false)'))


@pytest.fixture
def market(contract_snapshot):
    restore(contract_snapshot)
    from fc_market.market.service import current_market
    return current_market()


def lot(code):
    from fc_market.market.models import Lot
    return db.session.scalar(sa.select(Lot).where(Lot.code == code))


@pytest.fixture
def users(market):
    """One user per role; mandataires for lots IDF and BRE."""
    from fc_market.auth.service import create_user
    out = {
        "manager": create_user("manager@test.fr", "Manager", "manager", PASSWORD),
        "finance": create_user("finance@test.fr", "Finance", "finance", PASSWORD),
        "admin": create_user("admin@test.fr", "Admin", "admin", PASSWORD),
        "mandataire": create_user("m.idf@test.fr", "Mandataire IDF", "mandataire", PASSWORD,
                                  lot("IDF")),
        "other_mandataire": create_user("m.bre@test.fr", "Mandataire BRE", "mandataire", PASSWORD,
                                        lot("BRE")),
    }
    db.session.commit()
    return out


class Browser:
    """A test client logged in as one user."""

    def __init__(self, app, user):
        self.client = app.test_client()
        self.user = user
        response = self.client.post("/connexion", data={"email": user.email, "password": PASSWORD})
        assert response.status_code == 302, response.get_data(as_text=True)

    def get(self, *args, **kwargs):
        return self.client.get(*args, **kwargs)

    def post(self, *args, **kwargs):
        return self.client.post(*args, **kwargs)


@pytest.fixture
def login(app, users):
    def _login(role):
        return Browser(app, users[role])
    return _login
