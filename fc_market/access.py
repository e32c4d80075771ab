"""Access control in one place.

Every view declares the roles it serves with :func:`roles`; a view without a declaration
is refused (fail closed).  Lot-scoped objects are loaded through :func:`lot_by_code`,
:func:`get_in_lot` or :func:`scoped`, which refuse another lot's data to a mandataire
with a 404 (no hint that the object exists).
"""
from functools import wraps

import sqlalchemy as sa
from flask import abort, has_request_context, request
from flask_login import current_user

from fc_market.auth.models import Role
from fc_market.extensions import db
from fc_market.market.models import Lot

#: Endpoints reachable without logging in
PUBLIC_ENDPOINTS = {"auth.login", "auth.choose_password", "static", "health",
                    "legal.accessibility", "legal.legal_notice", "legal.personal_data"}


def roles(*allowed):
    """Restrict a view to some roles; ``roles(*Role.ALL)`` for any logged-in user."""
    unknown = set(allowed) - set(Role.ALL)
    if unknown or not allowed:
        raise ValueError(f"unknown roles {unknown}")

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                abort(401)
            if current_user.role not in allowed:
                abort(403)
            return view(*args, **kwargs)
        wrapper.allowed_roles = frozenset(allowed)
        return wrapper
    return decorator


def can_see_lot(lot_id, user=None):
    user = user or current_user
    return user.is_authenticated and (not user.is_mandataire or user.lot_id == lot_id)


def ensure_lot(lot_id):
    if not can_see_lot(lot_id):
        abort(404)


def lot_by_code(code):
    """The lot with this code, or 404 — also when it is another lot than the mandataire's."""
    lot = db.session.scalar(sa.select(Lot).where(Lot.code == code))
    if lot is None:
        abort(404)
    ensure_lot(lot.id)
    return lot


def get_in_lot(model, object_id, lot_attr="lot_id"):
    """Load ``model`` by id and refuse it unless its lot is visible to the user."""
    obj = db.session.get(model, object_id)
    if obj is None:
        abort(404)
    ensure_lot(getattr(obj, lot_attr))
    return obj


def scoped(stmt, lot_column):
    """Restrict a query to the mandataire's lot; FC staff see every lot."""
    if current_user.is_mandataire:
        return stmt.where(lot_column == current_user.lot_id)
    return stmt


def visible_lots():
    """The lots the current user may see, with their contracts (every list of lots reads
    a contract term).

    Read once per request: a page and the panels it includes (the national dashboard and
    its UO4 tile, the review queue and its filters…) each asked for the list, two queries
    every time.  Each call returns a new list of the same (session) objects."""
    if not has_request_context():
        return _visible_lots()
    user_id = getattr(current_user, "id", None)
    memo = getattr(request, "_fc_visible_lots", None)
    if memo is None or memo[0] != user_id:
        memo = (user_id, _visible_lots())
        request._fc_visible_lots = memo
    return list(memo[1])


def _visible_lots():
    stmt = scoped(sa.select(Lot).order_by(Lot.number), Lot.id).options(
        sa.orm.selectinload(Lot.contract))
    return db.session.scalars(stmt).all()
