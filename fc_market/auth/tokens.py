"""One-time links for an invitation or a password reset.

The raw token travels only in the link (by e-mail, through the outbox); the database keeps
its SHA-256.  A link works once and until its expiry (``INVITATION_VALID_HOURS`` or
``RESET_VALID_HOURS`` in the configuration); issuing a new one retires the user's earlier
links.  The user chooses the password, checked by the password policy
(:mod:`fc_market.auth.passwords`).
"""
import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app, url_for
from werkzeug.security import generate_password_hash

from fc_market.audit import service as audit
from fc_market.auth.models import AccountToken, TokenPurpose, User
from fc_market.extensions import db
from fc_market.models_base import utcnow

VALIDITY_SETTING = {TokenPurpose.INVITATION: "INVITATION_VALID_HOURS",
                    TokenPurpose.RESET: "RESET_VALID_HOURS"}


class TokenError(ValueError):
    """A link that does not work (unknown, used, expired): one French message for all."""


INVALID_LINK = ("Ce lien n'est pas valide : il a déjà servi, a expiré ou a été remplacé par un "
                "lien plus récent. Demandez un nouveau lien à l'administrateur.")


def digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


def valid_hours(purpose):
    return int(current_app.config[VALIDITY_SETTING[purpose]])


def unusable_password_hash():
    """A hash of a random secret nobody knows: an invited account cannot log in before its
    user has chosen a password."""
    return generate_password_hash(secrets.token_urlsafe(32))


def issue(user, purpose, by=None, now=None):
    """A new link for ``user``: returns the raw token (to put in the link, never stored)."""
    now = now or utcnow()
    if purpose not in TokenPurpose.ALL:
        raise ValueError(purpose)
    db.session.execute(sa.update(AccountToken).where(
        AccountToken.user_id == user.id, AccountToken.used_at.is_(None)).values(used_at=now))
    token = secrets.token_urlsafe(32)
    db.session.add(AccountToken(user_id=user.id, purpose=purpose, token_hash=digest(token),
                                created_at=now, expires_at=now + timedelta(hours=valid_hours(purpose)),
                                created_by_id=getattr(by, "id", None)))
    db.session.flush()
    return token


def find(token, now=None):
    """The usable token row for a raw token, else :class:`TokenError`."""
    now = now or utcnow()
    row = db.session.scalar(sa.select(AccountToken).where(AccountToken.token_hash == digest(token or "")))
    if row is None or row.used_at is not None or row.expires_at <= now or not row.user.active:
        raise TokenError(INVALID_LINK)
    return row


def redeem(token, password, now=None):
    """Set the password chosen through the link (policy checked: ``WeakPassword``), retire
    the link, unlock the account.  Returns the user."""
    now = now or utcnow()
    row = find(token, now)
    user = row.user
    user.set_password(password)  # the policy, and every open session closed
    claimed = db.session.execute(sa.update(AccountToken).where(
        AccountToken.id == row.id, AccountToken.used_at.is_(None)).values(used_at=now))
    if claimed.rowcount != 1:  # used meanwhile by another request
        raise TokenError(INVALID_LINK)
    user.locked_until = None
    user.failed_logins = 0
    what = "choisi (invitation acceptée)" if row.purpose == TokenPurpose.INVITATION else "réinitialisé"
    audit.record(f"user.password_{'set' if row.purpose == TokenPurpose.INVITATION else 'reset'}", user,
                 summary=f"Mot de passe de {user.email} {what} par son titulaire", user=user,
                 lot_id=user.lot_id)
    return user


def send_link(user, token, purpose):
    """The link goes to the user's outbox (e-mailed when SMTP is configured)."""
    from fc_market.notifications.service import notify
    url = url_for("auth.choose_password", token=token, _external=True)
    hours = valid_hours(purpose)
    if purpose == TokenPurpose.INVITATION:
        subject = "Votre compte fc_market : choisissez votre mot de passe"
        intro = (f"Un compte « {user.role_label} » vous a été ouvert sur fc_market, l'application "
                 "du marché CEP actifs occupés de France compétences.")
    else:
        subject = "fc_market : réinitialisation de votre mot de passe"
        intro = "L'administrateur a demandé la réinitialisation de votre mot de passe fc_market."
    body = (f"{intro}\n\nChoisissez votre mot de passe en ouvrant ce lien (valable {hours} heure(s), "
            f"une seule fois) :\n{url}\n\nSi vous n'êtes pas à l'origine de cette demande, ignorez ce "
            "message.")
    # no ``link``: the token is written once, in the message itself
    return notify(kind=f"auth.{purpose}", subject=subject, body=body, audience="user", user=user)


def invite(email, full_name, role, lot=None, *, by=None):
    """Create the account without a password and send the invitation link.  Returns
    ``(user, token)``."""
    email = email.strip().lower()
    if db.session.scalar(sa.select(User.id).where(User.email == email)):
        raise ValueError(f"Un compte existe déjà pour {email}.")
    if (role == "mandataire") != (lot is not None):
        raise ValueError("Un mandataire est rattaché à un lot, et seulement lui.")
    user = User(email=email, full_name=full_name.strip(), role=role, lot=lot,
                password_hash=unusable_password_hash(), session_token=secrets.token_hex(16))
    db.session.add(user)
    db.session.flush()
    audit.record("user.invite", user, summary=f"Compte {email} créé ({user.role_label}), invitation "
                 "envoyée", changes={"role": role, "lot": lot.code if lot else None}, user=by,
                 lot_id=lot.id if lot else None)
    token = issue(user, TokenPurpose.INVITATION, by)
    send_link(user, token, TokenPurpose.INVITATION)
    return user, token


def reset(user, *, by=None):
    """Send a reset link; the current password stays valid until the link is used."""
    token = issue(user, TokenPurpose.RESET, by)
    send_link(user, token, TokenPurpose.RESET)
    audit.record("user.reset_link", user, summary=f"Lien de réinitialisation du mot de passe envoyé "
                 f"à {user.email}", user=by, lot_id=user.lot_id)
    return token


def pending_invitations(now=None):
    return db.session.scalars(sa.select(AccountToken).where(
        AccountToken.purpose == TokenPurpose.INVITATION, AccountToken.used_at.is_(None))
        .order_by(AccountToken.expires_at)).all()
