"""Administration: invitations and resets by one-time links (the user chooses the password,
never the administrator), editing a user's role and lot, the demo's ``.test`` addresses."""
import re
from datetime import timedelta

import sqlalchemy as sa

from fc_market.auth.models import AccountToken, User
from fc_market.auth.tokens import digest
from fc_market.extensions import db
from fc_market.market.models import utcnow
from fc_market.notifications.models import Notification
from tests.conftest import lot

NEW_PASSWORD = "Cep-Lot-Bretagne-2026"


def _link_of(email):
    note = db.session.scalar(sa.select(Notification).join(User, User.id == Notification.user_id)
                             .where(User.email == email).order_by(Notification.id.desc()))
    assert note is not None and note.audience == "user"
    return re.search(r"http://localhost(/compte/mot-de-passe/[\w-]+)", note.body).group(1)


def test_invitation_link_lets_the_user_choose_a_password_once(app, login):
    admin = login("admin")
    form = admin.get("/admin/utilisateurs/nouveau").get_data(as_text=True)
    assert 'type="password"' not in form  # never a password typed by the administrator
    response = admin.post("/admin/utilisateurs/nouveau", data={
        "email": "camille@demo.fc-market.test", "full_name": "Camille Durand", "role": "mandataire",
        "lot": "BRE"})
    assert response.status_code == 302, response.get_data(as_text=True)
    user = db.session.scalar(sa.select(User).where(User.email == "camille@demo.fc-market.test"))
    assert user.role == "mandataire" and user.lot_id == lot("BRE").id
    path = _link_of(user.email)
    token = path.rsplit("/", 1)[1]
    stored = db.session.scalar(sa.select(AccountToken).where(AccountToken.user_id == user.id))
    assert stored.token_hash == digest(token) and token not in stored.token_hash  # hashed
    assert stored.purpose == "invitation"
    assert stored.expires_at - stored.created_at == timedelta(hours=app.config["INVITATION_VALID_HOURS"])
    # before choosing, nobody can log in to the account
    client = app.test_client()
    assert client.post("/connexion", data={"email": user.email, "password": NEW_PASSWORD}).status_code == 200
    # a weak password is refused on the field, the link still works
    page = client.post(path, data={"new": "azerty", "confirm": "azerty"}).get_data(as_text=True)
    assert "Mot de passe trop faible" in page
    assert client.post(path, data={"new": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 302
    assert client.post("/connexion", data={"email": user.email, "password": NEW_PASSWORD}).status_code == 302
    # single use
    again = app.test_client().get(path)
    assert again.status_code == 410 and "Lien non valide" in again.get_data(as_text=True)


def test_expired_link_is_refused(app, users):
    from fc_market.auth import tokens
    from fc_market.auth.models import TokenPurpose
    with app.test_request_context():
        token = tokens.issue(users["manager"], TokenPurpose.RESET, now=utcnow() - timedelta(hours=3))
    db.session.commit()
    assert app.config["RESET_VALID_HOURS"] == 2
    response = app.test_client().post(f"/compte/mot-de-passe/{token}",
                                      data={"new": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 410
    db.session.refresh(users["manager"])
    assert not users["manager"].check_password(NEW_PASSWORD)


def test_reset_link_replaces_earlier_links_and_goes_to_the_outbox(app, login, users):
    admin = login("admin")
    target = users["other_mandataire"]
    assert admin.post(f"/admin/utilisateurs/{target.id}/reinitialisation").status_code == 302
    first = _link_of(target.email)
    assert admin.post(f"/admin/utilisateurs/{target.id}/reinitialisation").status_code == 302
    second = _link_of(target.email)
    assert first != second
    assert app.test_client().get(first).status_code == 410  # replaced
    assert app.test_client().get(second).status_code == 200
    # the outbox message is the user's own, not visible to other users
    outbox = login("other_mandataire").get("/messages").get_data(as_text=True)
    assert "réinitialisation de votre mot de passe" in outbox
    assert "réinitialisation de votre mot de passe" not in login("mandataire").get("/messages").get_data(as_text=True)


def test_admin_edits_role_and_lot_with_the_rules_on_the_fields(login, users):
    admin = login("admin")
    target = users["manager"]
    page = admin.post(f"/admin/utilisateurs/{target.id}/modifier",
                      data={"full_name": "Manager", "role": "mandataire", "lot": ""}).get_data(as_text=True)
    assert "Choisissez le lot du mandataire." in page
    db.session.refresh(target)
    assert target.role == "manager"
    assert admin.post(f"/admin/utilisateurs/{target.id}/modifier",
                      data={"full_name": "Dominique", "role": "mandataire", "lot": "CVL"}).status_code == 302
    db.session.refresh(target)
    assert (target.role, target.lot.code, target.full_name) == ("mandataire", "CVL", "Dominique")
    # never one's own role
    me = users["admin"]
    page = admin.post(f"/admin/utilisateurs/{me.id}/modifier",
                      data={"full_name": "Admin", "role": "finance", "lot": ""}).get_data(as_text=True)
    assert "Vous ne pouvez pas changer votre propre profil." in page


def test_test_domains_only_outside_production(app, login):
    admin = login("admin")
    app.config["EMAIL_ALLOW_TEST_DOMAINS"] = False
    try:
        page = admin.post("/admin/utilisateurs/nouveau", data={
            "email": "x@demo.fc-market.test", "full_name": "X", "role": "finance", "lot": ""}).get_data(as_text=True)
        assert "Adresse électronique invalide." in page
    finally:
        app.config["EMAIL_ALLOW_TEST_DOMAINS"] = True
    assert db.session.scalar(sa.select(User).where(User.email == "x@demo.fc-market.test")) is None


def test_admin_home_lists_pending_invitations(app, login):
    admin = login("admin")
    admin.post("/admin/utilisateurs/nouveau", data={
        "email": "dom@test.fr", "full_name": "Dominique Petit", "role": "finance", "lot": ""})
    page = admin.get("/accueil").get_data(as_text=True)
    assert "Invitations en attente" in page and "Dominique Petit (dom@test.fr)" in page
