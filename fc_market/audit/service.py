"""Record audit entries inside the caller's transaction (never committed on their own)."""
from datetime import date, datetime
from decimal import Decimal

from flask import has_request_context
from flask_login import current_user

from fc_market.audit.models import AuditEntry
from fc_market.extensions import db


def jsonable(value):
    """Audit values as JSON: Decimal and dates as strings, exactly."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def record(action, obj=None, *, summary, changes=None, lot_id=None, user=None, actor=None,
           object_type=None, object_id=None):
    """Add an audit entry to the current session; the caller's commit makes it durable."""
    if user is None and has_request_context() and current_user and current_user.is_authenticated:
        user = current_user
    if obj is not None:
        object_type = object_type or type(obj).__name__
        object_id = object_id or (str(obj.id) if getattr(obj, "id", None) is not None else None)
        if lot_id is None:
            lot_id = getattr(obj, "lot_id", None)
    entry = AuditEntry(action=action, object_type=object_type or "-", object_id=object_id,
                       lot_id=lot_id, summary=summary[:500], changes=jsonable(changes),
                       user_id=getattr(user, "id", None),
                       actor=actor or (None if user is not None else "système"))
    db.session.add(entry)
    return entry


def diff(obj, values):
    """Set ``values`` on ``obj`` and return ``{field: [old, new]}`` for what really changed."""
    changed = {}
    for field, new in values.items():
        old = getattr(obj, field)
        if old != new:
            changed[field] = [jsonable(old), jsonable(new)]
            setattr(obj, field, new)
    return changed
