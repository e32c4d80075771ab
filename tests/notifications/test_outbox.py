import sqlalchemy as sa

from fc_market.extensions import db
from fc_market.notifications.models import Notification
from fc_market.notifications.service import notify, recipients, send_pending_emails, visible_to
from tests.conftest import lot


def test_outbox_visibility_follows_lots_and_roles(users, login):
    notify(kind="t", subject="Rappel IDF", body="…", lot_id=lot("IDF").id, dedup_key="a")
    notify(kind="t", subject="Rappel BRE", body="…", lot_id=lot("BRE").id, dedup_key="b")
    notify(kind="t", subject="Alerte finances", body="…", audience="fc", role="finance", dedup_key="c")
    notify(kind="t", subject="Pour tout FC", body="…", audience="fc", dedup_key="d")
    db.session.commit()
    subjects = lambda user: {n.subject for n in db.session.scalars(visible_to(user))}
    assert subjects(users["mandataire"]) == {"Rappel IDF"}
    assert subjects(users["finance"]) == {"Alerte finances", "Pour tout FC"}
    assert subjects(users["manager"]) == {"Pour tout FC"}
    page = login("mandataire").get("/messages").get_data(as_text=True)
    assert "Rappel IDF" in page and "Rappel BRE" not in page


def test_dedup_key_notifies_once(users):
    first = notify(kind="t", subject="x", body="y", lot_id=lot("IDF").id, dedup_key="same")
    second = notify(kind="t", subject="x", body="y", lot_id=lot("IDF").id, dedup_key="same")
    assert first is not None and second is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 1


def test_recipients_and_mail_only_when_configured(app, users, monkeypatch):
    note = notify(kind="t", subject="x", body="y", lot_id=lot("IDF").id)
    db.session.commit()
    assert [u.email for u in recipients(note)] == ["m.idf@test.fr"]
    assert send_pending_emails() == 0  # no MAIL_SERVER: outbox only
    sent = []

    class FakeSMTP:
        def __init__(self, host, port, timeout):
            sent.append(host)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def starttls(self):
            pass

        def send_message(self, message):
            sent.append(message["To"])

    import fc_market.notifications.service as service
    monkeypatch.setattr(service.smtplib, "SMTP", FakeSMTP)
    monkeypatch.setitem(app.config, "MAIL_SERVER", "smtp.test")
    assert send_pending_emails() == 1
    assert sent == ["smtp.test", "m.idf@test.fr"]
    assert db.session.get(Notification, note.id).emailed_at is not None
    assert send_pending_emails() == 0


def test_a_lot_s_messages_go_to_its_referent_manager(users):
    from fc_market.auth.service import create_user
    from fc_market.market.service import set_lot_manager
    from fc_market.notifications.service import notify_lot_manager
    from tests.conftest import PASSWORD
    other = create_user("manager2@test.fr", "Manager 2", "manager", PASSWORD)
    idf, bre = lot("IDF"), lot("BRE")
    set_lot_manager(idf, other, users["manager"])
    notify_lot_manager(idf, kind="t", subject="Signalement IDF", body="…")
    notify_lot_manager(bre, kind="t", subject="Signalement BRE", body="…")  # no referent
    db.session.commit()
    subjects = lambda user: {n.subject for n in db.session.scalars(visible_to(user))}
    assert subjects(other) == {"Signalement IDF", "Signalement BRE"}
    assert subjects(users["manager"]) == {"Signalement BRE"}
    assert subjects(users["finance"]) == set()
    idf_note = db.session.scalar(sa.select(Notification).where(Notification.subject == "Signalement IDF"))
    assert recipients(idf_note) == [other]
    # an inactive referent: every manager again
    other.active = False
    notify_lot_manager(idf, kind="t", subject="Retard IDF", body="…")
    db.session.commit()
    assert "Retard IDF" in subjects(users["manager"])
