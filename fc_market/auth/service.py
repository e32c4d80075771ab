"""Authentication rules: throttling per address, lockout per account, password policy."""
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from werkzeug.security import check_password_hash, generate_password_hash

from fc_market.audit import service as audit
from fc_market.auth import passwords
from fc_market.auth.models import LoginAttempt, User
from fc_market.extensions import db
from fc_market.unit_of_work import failure_trace
from fc_market.models_base import utcnow


class LoginRefused(Exception):
    def __init__(self, message):
        self.message = message
        super().__init__(message)


def password_problems(password):
    """French messages for a password that does not meet the policy (empty list: fine)."""
    return passwords.problems(password)


#: The one answer to a refused login, whatever the reason (unknown address, wrong password,
#: deactivated or locked account), so that the login page does not tell which accounts exist
LOGIN_REFUSED = ("Identifiant ou mot de passe incorrect. Après plusieurs échecs, un compte est "
                 "verrouillé quelques minutes : réessayez plus tard ou contactez l'administrateur.")


def authenticate(email, password, ip):
    """The user for these credentials, or LoginRefused with a French message.

    An unknown address costs the same work as a real account (its password is checked
    against a dummy hash of the same method) and reads the same message, locked or not.
    Each attempt is recorded, a failed one committed on its own (``failure_trace``) although
    the request rolls back, so throttling and lockout hold across web workers.
    """
    cfg = current_app.config
    now = utcnow()
    email = (email or "").strip().lower()
    window_start = now - timedelta(minutes=cfg["LOGIN_IP_WINDOW_MINUTES"])
    recent_failures = db.session.scalar(
        sa.select(sa.func.count()).select_from(LoginAttempt)
        .where(LoginAttempt.ip == ip, LoginAttempt.at >= window_start,
               LoginAttempt.success.is_(False)))
    if recent_failures >= cfg["LOGIN_MAX_ATTEMPTS_PER_IP"]:
        raise LoginRefused("Trop de tentatives de connexion depuis votre adresse. "
                           f"Réessayez dans {cfg['LOGIN_IP_WINDOW_MINUTES']} minutes.")
    user = db.session.scalar(sa.select(User).where(User.email == email))
    password_ok = check_password_hash(user.password_hash if user is not None else dummy_hash(),
                                      password or "")
    locked = user is not None and user.locked_until is not None and user.locked_until > now
    if user is None or locked or not password_ok or not user.active:
        with failure_trace():
            if user is not None and not locked:
                user.failed_logins += 1
                if user.failed_logins >= cfg["LOGIN_MAX_FAILURES"]:
                    user.locked_until = now + timedelta(minutes=cfg["LOGIN_LOCKOUT_MINUTES"])
                    user.failed_logins = 0
                    audit.record("user.locked", user, summary=f"Compte {user.email} verrouillé "
                                 "après des échecs de connexion répétés", actor="système", user=None)
            _attempt(ip, email, False)
        raise LoginRefused(LOGIN_REFUSED)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    _attempt(ip, email, True)
    return user


_DUMMY_HASHES = {}


def dummy_hash():
    """A hash of a random password, made with the method real accounts use (same cost)."""
    method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")
    if method not in _DUMMY_HASHES:
        _DUMMY_HASHES[method] = generate_password_hash(secrets.token_hex(16), method=method)
    return _DUMMY_HASHES[method]


def _attempt(ip, email, success):
    db.session.add(LoginAttempt(ip=ip or "?", email=email[:254], success=success))


def create_user(email, full_name, role, password, lot=None, *, by=None):
    problems = password_problems(password)
    if problems:
        raise ValueError("Mot de passe trop faible : " + ", ".join(problems) + ".")
    email = email.strip().lower()
    if db.session.scalar(sa.select(User.id).where(User.email == email)):
        raise ValueError(f"Un compte existe déjà pour {email}.")
    if (role == "mandataire") != (lot is not None):
        raise ValueError("Un mandataire est rattaché à un lot, et seulement lui.")
    user = User(email=email, full_name=full_name.strip(), role=role, lot=lot)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    audit.record("user.create", user, summary=f"Compte {email} créé ({user.role_label})",
                 changes={"role": role, "lot": lot.code if lot else None}, user=by,
                 lot_id=lot.id if lot else None)
    return user
