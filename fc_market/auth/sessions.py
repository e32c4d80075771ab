"""Server-side login sessions: what makes a copied session cookie worthless once its
session is closed.

The signed Flask cookie carries a random token; the ``user_sessions`` row holds its hash.
A request is logged in only while that row exists, is younger than the session lifetime
(``PERMANENT_SESSION_LIFETIME``) and has seen a request within ``SESSION_IDLE_MINUTES``.
Logging out deletes the row; a password change or a deactivation deletes every row of the
user; so every copy of the cookie stops working at once.
"""
import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app, session

from fc_market.auth.models import User, UserSession
from fc_market.extensions import db
from fc_market.unit_of_work import independent_session
from fc_market.models_base import utcnow

#: Key of the token in the Flask session cookie
COOKIE_KEY = "sid"
#: ``last_seen_at`` is written at most this often per session (not on every request)
TOUCH_EVERY = timedelta(seconds=60)


def _hash(token):
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def start(user):
    """Open a session for ``user`` (after ``login_user``): a row in the request's transaction."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    db.session.execute(sa.delete(UserSession).where(  # the user's sessions left to expire
        UserSession.user_id == user.id,
        sa.or_(UserSession.last_seen_at < now - _idle(), UserSession.created_at < now - _lifetime())))
    db.session.add(UserSession(user_id=user.id, token_hash=_hash(token), created_at=now,
                               last_seen_at=now))
    session[COOKIE_KEY] = token


def _idle():
    return timedelta(minutes=current_app.config["SESSION_IDLE_MINUTES"])


def _lifetime():
    return current_app.permanent_session_lifetime


def _token():
    token = session.get(COOKIE_KEY)
    return token if isinstance(token, str) and token else None


def user_and_session(user_id):
    """``(user, row)``: the user ``user_id`` (None if unknown) and the row of the request's
    session among its sessions (None if none), in one query; every request reads both."""
    token = _token()
    if token is None:
        return db.session.get(User, user_id), None
    found = db.session.execute(
        sa.select(User, UserSession).outerjoin(UserSession, sa.and_(
            UserSession.user_id == User.id, UserSession.token_hash == _hash(token)))
        .where(User.id == user_id)).first()
    return (found[0], found[1]) if found else (None, None)


_READ = object()


def is_open(user, row=_READ):
    """Whether the request's session cookie belongs to an open session of ``user``; an
    expired or idle one is closed on the way.  ``row``: the session row already read with
    :func:`user_and_session` (else it is read here)."""
    token = _token()
    if token is None:
        return False
    if row is _READ:
        row = db.session.scalar(sa.select(UserSession).where(
            UserSession.token_hash == _hash(token), UserSession.user_id == user.id))
    if row is None:
        return False
    now = utcnow()
    if now - row.last_seen_at > _idle() or now - row.created_at > _lifetime():
        _close_now(UserSession.id == row.id)
        return False
    if now - row.last_seen_at >= TOUCH_EVERY:
        with independent_session() as other:
            other.execute(sa.update(UserSession).where(UserSession.id == row.id)
                          .values(last_seen_at=now))
    return True


def end_current():
    """Logout: close this session for good, whatever the request does next."""
    token = session.get(COOKIE_KEY)
    if isinstance(token, str) and token:
        _close_now(UserSession.token_hash == _hash(token))


def end_all(user):
    """Password change, deactivation: close every session of ``user`` (in the request's
    transaction, with the change that calls for it)."""
    if user.id is not None:
        db.session.execute(sa.delete(UserSession).where(UserSession.user_id == user.id))


def _close_now(condition):
    with independent_session() as other:
        other.execute(sa.delete(UserSession).where(condition))
