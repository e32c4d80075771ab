from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import Blueprint, render_template, request
from sqlalchemy.orm import selectinload

from fc_market.access import roles
from fc_market.audit.models import AuditEntry
from fc_market.auth.models import Role, User
from fc_market.exports import Column, Sheet, xlsx_response
from fc_market.extensions import db
from fc_market.market.models import Lot
from fc_market.urlargs import page_arg

bp = Blueprint("audit", __name__, url_prefix="/audit")
PAGE_SIZE = 100


def _filtered():
    """The audit query for the filters in the request's arguments."""
    args = request.args
    stmt = (sa.select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
            .options(selectinload(AuditEntry.user), selectinload(AuditEntry.lot)))
    filters = {}
    if args.get("lot"):
        stmt = stmt.join(Lot, Lot.id == AuditEntry.lot_id).where(Lot.code == args["lot"])
        filters["lot"] = args["lot"]
    if args.get("user"):
        stmt = stmt.join(User, User.id == AuditEntry.user_id).where(User.email == args["user"])
        filters["user"] = args["user"]
    if args.get("type"):
        stmt = stmt.where(AuditEntry.object_type == args["type"])
        filters["type"] = args["type"]
    for name, op in (("from", "ge"), ("to", "le")):
        value = args.get(name)
        if value:
            try:
                day = datetime.strptime(value, "%Y-%m-%d")
            except ValueError:
                continue
            if op == "ge":
                stmt = stmt.where(AuditEntry.at >= day)
            else:
                stmt = stmt.where(AuditEntry.at < day + timedelta(days=1))
            filters[name] = value
    return stmt, filters


@bp.get("/")
@roles(*Role.FC)
def entries():
    stmt, filters = _filtered()
    page = page_arg()
    rows = db.session.scalars(stmt.limit(PAGE_SIZE + 1).offset((page - 1) * PAGE_SIZE)).all()
    types = db.session.scalars(sa.select(AuditEntry.object_type).distinct()
                               .order_by(AuditEntry.object_type)).all()
    lots = db.session.scalars(sa.select(Lot).order_by(Lot.number)).all()
    return render_template("audit/entries.html", rows=rows[:PAGE_SIZE], has_next=len(rows) > PAGE_SIZE,
                           page=page, filters=filters, types=types, lots=lots)


@bp.get("/export.xlsx")
@roles(*Role.FC)
def export():
    stmt, _ = _filtered()
    rows = db.session.scalars(stmt.limit(100_000)).all()
    columns = [Column("at", "Date (UTC)", "datetime"),
               Column(lambda e: e.user.email if e.user else e.actor, "Auteur", "text"),
               Column("action", "Action", "text"), Column("object_type", "Objet", "text"),
               Column("object_id", "Identifiant", "text"),
               Column(lambda e: e.lot.code if e.lot else None, "Lot", "text"),
               Column("summary", "Résumé", "text"),
               Column(lambda e: _changes_text(e.changes), "Valeurs modifiées", "text")]
    return xlsx_response("journal-audit.xlsx", [Sheet("Journal d'audit", columns, rows)])


def _changes_text(changes):
    if not changes:
        return None
    import json
    return json.dumps(changes, ensure_ascii=False, sort_keys=True)
