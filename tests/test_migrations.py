"""The migrations build the schema from zero and agree with the models."""
import os
import uuid

import flask_migrate
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import config
from fc_market import create_app
from fc_market.extensions import db


@pytest.fixture
def fresh_database_url(app, tmp_path):
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if not url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path}/migrations.db"
        return
    name = f"fc_market_migr_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.engine.make_url(url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


# SQLite cannot reflect the audit log's expression index (PostgreSQL only, where it is compared)
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
def test_upgrade_from_zero_matches_models_and_downgrades(fresh_database_url):
    migr_app = create_app(config.TestConfig, SQLALCHEMY_DATABASE_URI=fresh_database_url)
    with migr_app.app_context():
        flask_migrate.upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True,
                                                             "compare_server_default": False})
            differences = compare_metadata(context, db.metadata)
        assert differences == [], "models and migrations disagree: run flask db migrate"
        tables = set(sa.inspect(db.engine).get_table_names())
        assert {"markets", "lots", "prices", "users", "audit_entries", "acts"} <= tables
        flask_migrate.downgrade(revision="base")
        assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
        db.session.remove()
        db.engine.dispose()


def test_no_create_all_outside_tests():
    root = os.path.join(os.path.dirname(__file__), "..", "fc_market")
    offenders = []
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith(".py") and "create_all(" in open(os.path.join(folder, name), encoding="utf-8").read():
                offenders.append(name)
    assert offenders == []


def test_migrations_have_a_single_head():
    """Parallel branches must be merged by a revision: the plain ``flask db upgrade`` and
    ``flask db revision`` refuse several heads."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    cfg = Config()
    cfg.set_main_option("script_location",
                        os.path.join(os.path.dirname(__file__), "..", "migrations"))
    heads = ScriptDirectory.from_config(cfg).get_heads()
    assert len(heads) == 1, f"several migration heads: {heads}"


def test_foreign_keys_are_checked_on_both_databases(market):
    """SQLite checks the foreign keys as PostgreSQL does (its default is not to); the
    migrations turn them off while they run and back on."""
    from datetime import date

    from fc_market.reporting.models import Act
    from tests.conftest import lot
    idf = lot("IDF")
    conn = db.session.connection()
    if conn.dialect.name == "sqlite":
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    with pytest.raises(sa.exc.IntegrityError):
        with db.session.begin_nested():
            db.session.execute(Act.__table__.insert(), [{
                "version_id": 999_999, "lot_id": idf.id, "beneficiary_id": "0" * 64, "uo_id": 1,
                "act_date": date(2025, 3, 1), "mode": "telephone"}])


def test_migrations_leave_the_foreign_keys_on(fresh_database_url):
    migr_app = create_app(config.TestConfig, SQLALCHEMY_DATABASE_URI=fresh_database_url)
    with migr_app.app_context():
        flask_migrate.upgrade()
        with db.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
                assert conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
        db.session.remove()
        db.engine.dispose()
