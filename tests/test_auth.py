from datetime import timedelta

import pytest
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
    assert home.headers["Location"].endswith("/accueil")  # the to-do home (fc_market/home)
    assert db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "user.login")) is not None


def test_wrong_password_gives_one_french_message_and_no_hint(app, users):
    client = app.test_client()
    unknown = post_login(client, "nobody@test.fr", "whatever")
    wrong = post_login(client, "m.idf@test.fr", "wrong-password")
    for response in (unknown, wrong):
        assert response.status_code == 200
        assert "Identifiant ou mot de passe incorrect." in response.get_data(as_text=True)


def _page_for(client, email, password):
    return post_login(client, email, password).get_data(as_text=True).replace(email, "EMAIL")


def test_a_locked_account_reads_as_an_unknown_one_and_costs_the_same_work(app, users, monkeypatch):
    import fc_market.auth.service as auth_service

    checked = []
    real_check = auth_service.check_password_hash
    monkeypatch.setattr(auth_service, "check_password_hash",
                        lambda pwhash, password: checked.append(pwhash.split("$")[0]) or real_check(pwhash, password))
    client = app.test_client()
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        post_login(client, "m.idf@test.fr", "wrong-password")
        post_login(client, "nobody@test.fr", "wrong-password")
    method = app.config["PASSWORD_HASH_METHOD"]
    assert checked == [method] * (2 * app.config["LOGIN_MAX_FAILURES"])  # one hash each, same cost
    locked = _page_for(client, "m.idf@test.fr", PASSWORD)     # locked, right password
    locked_wrong = _page_for(client, "m.idf@test.fr", "wrong-password")
    unknown = _page_for(client, "nobody@test.fr", PASSWORD)
    assert auth_service.LOGIN_REFUSED.replace("'", "&#39;") in unknown
    assert locked == unknown == locked_wrong
    assert len(checked) == 2 * app.config["LOGIN_MAX_FAILURES"] + 3


def test_account_locks_after_repeated_failures(app, users):
    client = app.test_client()
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        post_login(client, "m.idf@test.fr", "wrong-password")
    user = db.session.scalar(sa.select(User).where(User.email == "m.idf@test.fr"))
    db.session.refresh(user)
    assert user.locked_until is not None and user.locked_until > utcnow()
    response = post_login(client, "m.idf@test.fr", PASSWORD)
    assert response.status_code == 200 and "Identifiant ou mot de passe incorrect" in response.get_data(as_text=True)
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


def test_login_follows_only_a_path_of_this_application(app, users):
    """Tabs and newlines are dropped by browsers (``/\\t/evil.test`` is ``//evil.test``); a
    newline used to reach the Location header and answer 500."""
    hostile = ["%2F%09%2Fevil.test", "%2F%0A%2Fevil.test", "%2F%0D%0ASet-Cookie:x=1", "//evil.test",
               "/%5Cevil.test", "https://evil.test/", "javascript:alert(1)", "%20//evil.test",
               "/nulle-part-ici", "lots"]
    for target in hostile:
        client = app.test_client()
        response = client.post(f"/connexion?next={target}",
                               data={"email": "manager@test.fr", "password": PASSWORD})
        assert response.status_code == 302, target
        assert response.headers["Location"] == "/", target
    client = app.test_client()
    response = client.post("/connexion?next=%2Flots%3Fpage%3D2",
                           data={"email": "manager@test.fr", "password": PASSWORD})
    assert response.headers["Location"] == "/lots?page=2"


def test_password_policy_refuses_padding_tricks_and_common_passwords():
    from fc_market.auth.passwords import check, common_passwords, WeakPassword

    assert len(common_passwords()) == 19640 and "password1234" in common_passwords()
    for weak in ("Password1234", "PASSWORD1234", "Ab1" + " " * 9, " Ab1-" + " " * 10, "Ab1\t\t\t\t\t\t\t\t\t",
                 "Motdepasse2026!", "Soleil!!2026!!", "Azertyuiop123", "Ab1" + "\u00a0" * 9):
        assert password_problems(weak) != [], weak
        with pytest.raises(WeakPassword, match="Mot de passe trop faible"):
            check(weak)
    assert "pas un mot de passe courant" in " ".join(password_problems("Password1234"))
    assert "au moins 12 caractères" in " ".join(password_problems("Ab1" + " " * 9))
    for fine in (PASSWORD, "Good-Password-2026", "Nouveau-Secret-42", "Soleil de Marseille 2026"):
        assert password_problems(fine) == [], fine


def test_every_way_of_setting_a_password_applies_the_policy(app, users, login):
    from fc_market.auth.passwords import WeakPassword
    from fc_market.auth.service import create_user

    with pytest.raises(ValueError, match="mot de passe courant"):
        create_user("weak@test.fr", "Weak", "manager", "Password1234")
    with pytest.raises(WeakPassword):
        users["manager"].set_password("Ab1" + " " * 9)
    db.session.rollback()
    browser = login("manager")
    page = browser.post("/mon-compte", data={"current": PASSWORD, "new": "Password1234",
                                             "confirm": "Password1234"}).get_data(as_text=True)
    assert "Mot de passe trop faible" in page
    admin = login("admin")
    target = users["mandataire"]
    # the administrator never types a password: the old path is gone, the invitation has no
    # password field (the user chooses it through the link, under the same policy)
    assert admin.post(f"/admin/utilisateurs/{target.id}/mot-de-passe",
                      data={"password": "Ab1" + " " * 9}).status_code == 404
    from fc_market.auth import tokens
    from fc_market.auth.models import TokenPurpose
    with app.test_request_context():
        token = tokens.issue(target, TokenPurpose.RESET)
    db.session.commit()
    page = app.test_client().post(f"/compte/mot-de-passe/{token}",
                                  data={"new": "Password1234", "confirm": "Password1234"}).get_data(as_text=True)
    assert "mot de passe courant" in page
    for user in users.values():
        db.session.refresh(user)
    assert post_login(app.test_client(), "manager@test.fr", PASSWORD).status_code == 302
    assert post_login(app.test_client(), target.email, PASSWORD).status_code == 302


def _copy_of(app, browser):
    """Another client holding a copy of ``browser``'s session cookie, as an attacker would."""
    copy = app.test_client()
    copy.set_cookie("session", browser.client.get_cookie("session").value)
    return copy


def test_a_copy_of_the_session_cookie_dies_with_the_session(app, users, login):
    from fc_market.auth.models import UserSession

    browser = login("mandataire")
    copy = _copy_of(app, browser)
    assert copy.get("/lots/IDF/reporting").status_code == 200
    assert browser.post("/deconnexion").status_code == 302
    assert copy.get("/lots/IDF/reporting").status_code == 302          # to the login page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(UserSession)) == 0
    # other sessions of the same account are not affected by one logout
    first, second = login("mandataire"), login("mandataire")
    first.post("/deconnexion")
    assert second.get("/lots/IDF/reporting").status_code == 200


def test_password_change_and_deactivation_close_every_copy(app, users, login):
    browser = login("manager")
    before = _copy_of(app, browser)
    browser.post("/mon-compte", data={"current": PASSWORD, "new": "Nouveau-Secret-42",
                                     "confirm": "Nouveau-Secret-42"})
    assert browser.get("/lots").status_code == 200
    assert before.get("/lots").status_code == 302
    mandataire = login("mandataire")
    copy = _copy_of(app, mandataire)
    admin = login("admin")
    user = users["mandataire"]
    admin.post(f"/admin/utilisateurs/{user.id}/activation")    # deactivated
    admin.post(f"/admin/utilisateurs/{user.id}/activation")    # and back
    assert copy.get("/lots/IDF/reporting").status_code == 302
    assert mandataire.get("/lots/IDF/reporting").status_code == 302
    assert login("mandataire").get("/lots/IDF/reporting").status_code == 200


def test_idle_and_expired_sessions_are_closed_server_side(app, users, login):
    from fc_market.auth.models import UserSession

    idle = timedelta(minutes=app.config["SESSION_IDLE_MINUTES"])
    browser = login("mandataire")
    copy = _copy_of(app, browser)
    row = db.session.scalar(sa.select(UserSession))
    # a request records the activity (committed even by a page that writes nothing)
    row.last_seen_at = utcnow() - timedelta(minutes=5)
    db.session.commit()
    assert copy.get("/lots/IDF/reporting").status_code == 200
    db.session.refresh(row)
    assert utcnow() - row.last_seen_at < timedelta(minutes=1)
    # idle for longer than the setting: closed for the browser and its copy alike
    row.last_seen_at = utcnow() - idle - timedelta(seconds=1)
    db.session.commit()
    assert copy.get("/lots/IDF/reporting").status_code == 302
    assert db.session.scalar(sa.select(UserSession)) is None
    assert browser.get("/lots/IDF/reporting").status_code == 302
    # active all along but older than the session's lifetime: closed too
    browser = login("mandataire")
    row = db.session.scalar(sa.select(UserSession))
    row.created_at = utcnow() - app.permanent_session_lifetime - timedelta(seconds=1)
    db.session.commit()
    assert browser.get("/lots/IDF/reporting").status_code == 302
    # logging in again clears the account's sessions left to expire
    login("mandataire")
    stale = db.session.scalar(sa.select(UserSession))
    stale.last_seen_at = utcnow() - idle - timedelta(minutes=1)
    db.session.commit()
    login("mandataire")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(UserSession)) == 1


def test_the_user_and_its_session_row_are_read_in_one_query(app, users):
    """What every request reads (``sessions.user_and_session``): the user and the row of the
    cookie's session among the user's own sessions only, as the two separate reads gave."""
    from flask import session as http_session

    from fc_market.auth import sessions
    from fc_market.auth.models import UserSession

    manager, mandataire = users["manager"], users["mandataire"]
    with app.test_request_context("/"):
        sessions.start(manager)
        db.session.flush()
        token = http_session[sessions.COOKIE_KEY]
        row = db.session.scalar(sa.select(UserSession).where(UserSession.user_id == manager.id))
        assert sessions.user_and_session(manager.id) == (manager, row)
        assert sessions.is_open(manager, row) and sessions.is_open(manager)
        # the same token read for another user: no session of theirs
        assert sessions.user_and_session(mandataire.id) == (mandataire, None)
        assert not sessions.is_open(mandataire, None) and not sessions.is_open(mandataire)
        assert sessions.user_and_session(10_000) == (None, None)
        http_session[sessions.COOKIE_KEY] = token + "x"  # a forged token
        assert sessions.user_and_session(manager.id) == (manager, None)
        del http_session[sessions.COOKIE_KEY]  # no token at all
        assert sessions.user_and_session(manager.id) == (manager, None)
        assert not sessions.is_open(manager)
        db.session.rollback()
