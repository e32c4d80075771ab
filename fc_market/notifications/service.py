"""Notify users: always into the in-app outbox, and by SMTP when MAIL_SERVER is set.

``notify`` only adds rows to the caller's transaction; ``send_pending_emails`` (a
scheduled job) sends what was committed, so a rolled-back action never sends mail.
"""
import logging
import smtplib
from email.message import EmailMessage

import sqlalchemy as sa
from flask import current_app

from fc_market.auth.models import Role, User
from fc_market.extensions import db
from fc_market.models_base import utcnow
from fc_market.notifications.models import Notification

log = logging.getLogger(__name__)


def notify(*, kind, subject, body, lot_id=None, audience="mandataire", role=None, user=None,
           link=None, dedup_key=None):
    """Add a notification; with ``dedup_key`` a second call with the same key does nothing."""
    if dedup_key and db.session.scalar(sa.select(Notification.id)
                                       .where(Notification.dedup_key == dedup_key)):
        return None
    note = Notification(kind=kind, subject=subject[:200], body=body, lot_id=lot_id,
                        audience=audience, role=role, user_id=getattr(user, "id", None),
                        link=link, dedup_key=dedup_key)
    db.session.add(note)
    db.session.flush()
    return note


def notify_lot_manager(lot, **kwargs):
    """Notify the FC market manager who follows ``lot`` (``Lot.manager``), or every market
    manager while the lot has none (or an inactive one)."""
    manager = lot.manager
    if manager is not None and manager.active and manager.role == Role.MANAGER:
        return notify(audience="user", user=manager, lot_id=lot.id, **kwargs)
    return notify(audience="fc", role=Role.MANAGER, lot_id=lot.id, **kwargs)


def visible_to(user):
    """The query of the notifications a user may read."""
    stmt = (sa.select(Notification).options(sa.orm.joinedload(Notification.lot))
            .order_by(Notification.created_at.desc(), Notification.id.desc()))
    if user.is_mandataire:
        return stmt.where(sa.or_(
            sa.and_(Notification.audience == "mandataire", Notification.lot_id == user.lot_id),
            Notification.user_id == user.id))
    return stmt.where(sa.or_(
        sa.and_(Notification.audience == "fc",
                sa.or_(Notification.role.is_(None), Notification.role == user.role)),
        Notification.user_id == user.id))


def recipients(note):
    if note.audience == "user":
        return [note.user] if note.user and note.user.active else []
    stmt = sa.select(User).where(User.active.is_(True))
    if note.audience == "mandataire":
        stmt = stmt.where(User.role == Role.MANDATAIRE, User.lot_id == note.lot_id)
    else:
        stmt = stmt.where(User.role.in_([note.role] if note.role else list(Role.FC)))
    return db.session.scalars(stmt).all()


def send_pending_emails(limit=200):
    """Send committed, not yet e-mailed notifications; returns how many were sent."""
    cfg = current_app.config
    if not cfg.get("MAIL_SERVER"):
        return 0
    pending = db.session.scalars(sa.select(Notification).where(
        Notification.emailed_at.is_(None), Notification.email_error.is_(None))
        .order_by(Notification.id).limit(limit)).all()
    sent = 0
    for note in pending:
        to = [u.email for u in recipients(note)]
        try:
            if to:
                message = EmailMessage()
                message["From"] = cfg["MAIL_DEFAULT_SENDER"]
                message["To"] = ", ".join(to)
                message["Subject"] = f"[fc_market] {note.subject}"
                message.set_content(note.body)
                with smtplib.SMTP(cfg["MAIL_SERVER"], cfg["MAIL_PORT"], timeout=20) as smtp:
                    if cfg.get("MAIL_USE_TLS"):
                        smtp.starttls()
                    if cfg.get("MAIL_USERNAME"):
                        smtp.login(cfg["MAIL_USERNAME"], cfg["MAIL_PASSWORD"])
                    smtp.send_message(message)
            note.emailed_at = utcnow()
            sent += 1
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("mail for notification %s failed: %s", note.id, exc)
            note.email_error = str(exc)[:300]
    return sent
