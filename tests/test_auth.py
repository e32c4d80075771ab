from datetime import timedelta

import sqlalchemy as sa

from fc_market.audit.models import AuditEntry
from fc_market.auth.models import LoginAttempt, User
from fc_market.auth.service import password_problems
from fc_market.extensions import db
from fc_market.models_base import utcnow
from tests.conftest import PASSWORD


def post_login(client, email, password, ip="10.0.0.1"):
    return client.post("/connexion", data={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": ip})


def test_login_success_records_and_redirects_by_role(app, users):
    client = app.test_client()
    response = post_login(client, "M.IDF@test.fr ", PASSWORD)
    assert response.status_code == 302
    home = client.get("/", follow_redirects=False)
    assert home.headers["Location"].endswith("/lots/IDF/reporting")
    assert db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "user.login")) is not None


def test_wrong_password_gives_one_french_message_and_no_hint(app, users):
    client = app.test_client()
    unknown = post_login(client, "nobody@test.fr", "whatever")
    wrong = post_login(client, "m.idf@test.fr", "wrong-password")
    for response in (unknown, wrong):
        assert response.status_code == 200
        assert "Identifiant ou mot de passe incorrect." in response.get_data(as_text=True)


def test_account_locks_after_repeated_failures(app, users):
    client = app.test_client()
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        post_login(client, "m.idf@test.fr", "wrong-password")
    user = db.session.scalar(sa.select(User).where(User.email == "m.idf@test.fr"))
    db.session.refresh(user)
    assert user.locked_until is not None and user.locked_until > utcnow()
    response = post_login(client, "m.idf@test.fr", PASSWORD)
    assert "temporairement verrouillé" in response.get_data(as_text=True)
    # after the lockout the right password works again
    user.locked_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert post_login(client, "m.idf@test.fr", PASSWORD).status_code == 302


def test_login_is_rate_limited_per_address(app, users):
    client = app.test_client()
    limit = app.config["LOGIN_MAX_ATTEMPTS_PER_IP"]
    for i in range(limit):
        db.session.add(LoginAttempt(ip="10.9.9.9", email=f"x{i}@test.fr", success=False))
    db.session.commit()
    response = post_login(client, "manager@test.fr", PASSWORD, ip="10.9.9.9")
    assert response.status_code == 200
    assert "Trop de tentatives" in response.get_data(as_text=True)
    assert post_login(app.test_client(), "manager@test.fr", PASSWORD, ip="10.1.1.1").status_code == 302


def test_session_is_renewed_on_login_and_closed_on_password_change(app, users, login):
    browser = login("manager")
    with browser.client.session_transaction() as session:
        assert "_user_id" in session
    other = login("manager")
    response = browser.post("/mon-compte", data={"current": PASSWORD, "new": "Nouveau-Secret-42",
                                                 "confirm": "Nouveau-Secret-42"})
    assert response.status_code == 302
    # the other session of the same user is closed
    assert other.get("/lots").status_code == 302
    assert browser.get("/lots").status_code == 200


def test_deactivated_user_is_logged_out(app, users, login):
    browser = login("mandataire")
    admin = login("admin")
    user = users["mandataire"]
    assert admin.post(f"/admin/utilisateurs/{user.id}/activation").status_code == 302
    assert browser.get("/lots/IDF").status_code == 302
    assert post_login(app.test_client(), user.email, PASSWORD).status_code == 200


def test_password_policy():
    assert password_problems("short") != []
    assert password_problems("alllowercaseletters") != []
    assert password_problems("Good-Password-2026") == []


def test_logout_requires_post_and_csrf_is_on_outside_tests(app, login):
    browser = login("manager")
    assert browser.get("/deconnexion").status_code == 405
    assert browser.post("/deconnexion").status_code == 302
    assert app.config["WTF_CSRF_ENABLED"] is False  # tests only
    import config
    assert config.Config.WTF_CSRF_ENABLED is True


def test_security_headers(app, login):
    response = login("manager").get("/lots")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_open_redirect_is_refused(app, users):
    client = app.test_client()
    response = client.post("/connexion?next=//evil.example/x",
                           data={"email": "manager@test.fr", "password": PASSWORD})
    assert response.headers["Location"] == "/"
