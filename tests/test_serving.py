"""Production serving: the warm-up the gunicorn master does before forking its workers, and
the gunicorn settings it relies on (see gunicorn.conf.py)."""
import os
import runpy
from pathlib import Path

import pytest
import sqlalchemy as sa

import config
from fc_market import create_app
from fc_market.extensions import db
from fc_market.territory import loader, service as territory
from fc_market.web import warm_up

ROOT = Path(__file__).resolve().parent.parent


def test_the_warm_up_compiles_every_template_and_opens_no_database_connection(app):
    fresh = create_app(config.TestConfig, SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"])
    with fresh.app_context():
        engine = db.engine
    connections = []

    def on_connect(*args):
        connections.append(args)

    sa.event.listen(engine, "connect", on_connect)
    try:
        count = warm_up(fresh)
    finally:
        sa.event.remove(engine, "connect", on_connect)
    names = fresh.jinja_env.list_templates(extensions=("html",))
    assert count == len(names) > 50
    assert connections == []

    def no_compile(*args, **kwargs):
        raise AssertionError("a template was compiled after the warm-up")

    fresh.jinja_env.compile = no_compile
    for name in names:  # every one comes from the cache
        fresh.jinja_env.get_template(name)
    assert fresh.jinja_env.cache.capacity >= len(names)  # nothing evicted as templates grow
    assert territory.prepared_localities.cache_info().currsize >= len(loader.REGIONS)
    with fresh.app_context():
        db.engine.dispose()


def test_gunicorn_takes_a_connection_only_with_a_free_thread_and_preloads(monkeypatch):
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    monkeypatch.delenv("GUNICORN_THREADS", raising=False)
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert settings["worker_class"] == "gthread" and settings["threads"] == 2
    assert settings["workers"] == os.cpu_count() + 1
    assert settings["worker_connections"] == settings["threads"]
    assert settings["keepalive"] == 0  # an idle kept-alive connection would hold a slot
    assert settings["preload_app"] is True
    assert (ROOT / "wsgi.py").read_text().count("warm_up(app)") == 1


@pytest.mark.parametrize("threads", ["1", "4"])
def test_the_connection_limit_follows_the_threads(monkeypatch, threads):
    monkeypatch.setenv("GUNICORN_THREADS", threads)
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert settings["worker_connections"] == settings["threads"] == int(threads)
