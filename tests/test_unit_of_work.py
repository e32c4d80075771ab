"""One unit of work per request, CLI command and job (fc_market/unit_of_work.py)."""
import ast
import os
from pathlib import Path

import click
import pytest
import sqlalchemy as sa
from flask import abort, flash, redirect
from flask.cli import AppGroup

import config
from fc_market import create_app, storage, unit_of_work
from fc_market.audit.models import AuditEntry
from fc_market.audit.service import record
from fc_market.demo.pdf import minimal_pdf
from fc_market.auth.models import LoginAttempt, Role
from fc_market.extensions import db
from tests.conftest import PASSWORD, Browser, IsolatedClient

PACKAGE = Path(__file__).resolve().parent.parent / "fc_market"
PDF = minimal_pdf("Preuve")


def test_only_the_unit_of_work_commits_or_rolls_back():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "unit_of_work.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("commit", "rollback")):
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.func.attr}()")
    assert offenders == []


def actions():
    return [e.action for e in db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id))]


def files_on_disk(app):
    folder = app.config["UPLOAD_FOLDER"]
    return sorted(os.path.relpath(os.path.join(d, f), folder)
                  for d, _, names in os.walk(folder) for f in names)


@pytest.fixture(scope="module")
def probe_app(app):
    """A second app on the same database, with probe routes that write then end in each way."""
    probe = create_app(config.TestConfig, SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
                       UPLOAD_FOLDER=app.config["UPLOAD_FOLDER"], PROPAGATE_EXCEPTIONS=False)
    probe.test_client_class = IsolatedClient

    def route(rule, methods=("POST",)):
        def decorator(view):
            view.allowed_roles = frozenset(Role.ALL)
            probe.add_url_rule(rule, view.__name__, view, methods=list(methods))
            return view
        return decorator

    def write(action):
        record(action, summary=action)

    @route("/probe/ok")
    def ok():
        write("probe.ok")
        return "fait"

    @route("/probe/flash-error")
    def flashed_error():
        write("probe.flashed")
        flash("Refusé.", "error")
        write("probe.after_flash")
        return redirect("/")

    @route("/probe/abort")
    def aborted():
        write("probe.aborted")
        abort(409)

    @route("/probe/raise")
    def raised():
        write("probe.raised")
        raise RuntimeError("boom")

    @route("/probe/doom")
    def doomed():
        write("probe.doomed")
        unit_of_work.doom("form shown again")
        return "formulaire avec ses erreurs"

    @route("/probe/trace")
    def traced():
        write("probe.work")
        with unit_of_work.failure_trace():
            write("probe.trace")
        write("probe.after_trace")
        return "refusé, trace gardée"

    @route("/probe/file/<outcome>")
    def file(outcome):
        key, *_ = storage.store(PDF, "preuve.pdf")
        assert open(storage.path_of(key), "rb").read() == PDF  # readable before the commit
        write(f"probe.file.{outcome}")
        if outcome == "fail":
            flash("Refusé.", "error")
        return key

    @route("/probe/duplicate")
    def duplicate():
        # a unique constraint broken at the final commit: nothing kept, French conflict page
        storage.store(PDF, "preuve.pdf")
        db.session.add(LoginAttempt(ip="1", email="x", success=True))
        from fc_market.auth.models import User
        email = db.session.scalar(sa.select(User.email).limit(1))
        db.session.add(User(email=email, full_name="Doublon", role="manager", password_hash="x"))
        flash("Enregistré.", "success")
        return "fait"
    return probe


@pytest.fixture
def probe(probe_app, users):
    return Browser(probe_app, users["manager"])


def test_a_successful_request_commits_once_at_the_end(probe):
    before = actions()
    assert probe.post("/probe/ok").status_code == 200
    assert actions() == before + ["probe.ok"]


@pytest.mark.parametrize("url, status", [
    ("/probe/flash-error", 302), ("/probe/abort", 409), ("/probe/raise", 500),
    ("/probe/doom", 200)])
def test_a_failed_request_changes_nothing(probe, url, status):
    before = actions()
    assert probe.post(url).status_code == status
    assert actions() == before


def test_a_failure_trace_survives_the_rollback_of_its_unit(probe):
    before = actions()
    assert probe.post("/probe/trace").status_code == 200
    assert actions() == before + ["probe.trace"]


def test_files_are_moved_into_place_on_commit_and_deleted_on_rollback(app, probe):
    before = files_on_disk(app)
    key = probe.post("/probe/file/ok").get_data(as_text=True)
    assert files_on_disk(app) == sorted(before + [os.path.join(key[:2], key)])
    assert open(storage.path_of(key), "rb").read() == PDF
    assert probe.post("/probe/file/fail").status_code == 200
    assert files_on_disk(app) == sorted(before + [os.path.join(key[:2], key)])


def test_a_commit_refused_by_the_database_answers_the_conflict_page(app, probe):
    before, files, attempts = actions(), files_on_disk(app), db.session.scalar(
        sa.select(sa.func.count()).select_from(LoginAttempt))
    response = probe.post("/probe/duplicate")
    assert response.status_code == 409
    assert "Conflit" in response.get_data(as_text=True)
    assert response.headers["X-Frame-Options"] == "DENY"
    assert actions() == before and files_on_disk(app) == files
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginAttempt)) == attempts
    page = probe.get("/mon-compte").get_data(as_text=True)
    assert "Enregistré." not in page  # the success the view announced is withdrawn


def test_a_wrong_password_is_counted_although_the_login_rolls_back(app, users):
    client = app.test_client()
    response = client.post("/connexion", data={"email": users["finance"].email,
                                               "password": PASSWORD + "x"})
    assert response.status_code == 200
    assert "Identifiant ou mot de passe incorrect" in response.get_data(as_text=True)
    assert db.session.get(type(users["finance"]), users["finance"].id).failed_logins == 1
    assert db.session.scalars(sa.select(LoginAttempt.success)).all() == [False]


def test_a_cli_command_is_one_unit(app):
    group = AppGroup("probe-uow")

    @group.command("ok")
    def ok():
        record("probe.cli.ok", summary="ok")

    @group.command("fail")
    def fail():
        record("probe.cli.fail", summary="fail")
        raise SystemExit(1)

    @group.command("error")
    def error():
        record("probe.cli.error", summary="error")
        raise click.ClickException("refusé")

    unit_of_work.wrap_cli(group)
    runner = app.test_cli_runner()
    assert runner.invoke(group, ["ok"]).exit_code == 0
    assert runner.invoke(group, ["fail"]).exit_code == 1
    assert runner.invoke(group, ["error"]).exit_code == 1
    db.session.rollback()  # what the test's session holds does not count: read the database
    assert actions() == ["probe.cli.ok"]


def test_a_unit_commits_or_rolls_back_and_files_follow(app):
    with unit_of_work.unit():
        record("probe.unit.ok", summary="ok")
        kept, *_ = storage.store(PDF, "a.pdf")
    with pytest.raises(ValueError):
        with unit_of_work.unit():
            record("probe.unit.fail", summary="fail")
            lost, *_ = storage.store(PDF, "b.pdf")
            staged = storage.path_of(lost)
            assert os.path.isfile(staged)
            raise ValueError("refusé")
    db.session.rollback()
    assert actions() == ["probe.unit.ok"]
    assert os.path.isfile(storage.path_of(kept))
    assert not os.path.exists(staged) and not os.path.exists(storage.path_of(lost))
