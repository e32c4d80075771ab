import json

import sqlalchemy as sa
from flask import Blueprint, render_template
from markupsafe import Markup
from sqlalchemy.orm import selectinload

from fc_market.access import roles
from fc_market.audit.models import AuditEntry
from fc_market.auth.models import Role, User
from fc_market.extensions import db
from fc_market.labels import ACTORS, AUDIT_ACTIONS, OBJECT_TYPES
from fc_market.tables import Col, Filter, Table, lot_filter

bp = Blueprint("audit", __name__, url_prefix="/audit")


def _author(entry):
    if entry.user:
        return entry.user.email
    return ACTORS.get(entry.actor, entry.actor)


def _changes_text(changes):
    if not changes:
        return None
    return json.dumps(changes, ensure_ascii=False, sort_keys=True)


def _changes_html(entry):
    if not entry.changes:
        return Markup("")
    items = []
    for key, value in entry.changes.items():
        if isinstance(value, (list, tuple)) and len(value) == 2:
            old, new = ("∅" if v is None else v for v in value)
            shown = f"{old} → {new}"
        else:
            shown = value
        items.append(Markup("<dt>{}</dt><dd>{}</dd>").format(key, shown))
    return Markup('<details><summary>{} valeur(s)</summary><dl class="changes">{}</dl></details>'
                  ).format(len(entry.changes), Markup("").join(items))


def _object(entry):
    kind = OBJECT_TYPES.get(entry.object_type, entry.object_type)
    return f"{kind} n° {entry.object_id}" if entry.object_id else kind


def _day_filter(key, label, after):
    def apply(stmt, value):
        from datetime import datetime, timedelta
        day = datetime.strptime(value, "%Y-%m-%d")
        return stmt.where(AuditEntry.at >= day) if after else stmt.where(AuditEntry.at < day + timedelta(days=1))
    return Filter(key, label, "date", apply=apply)


def _search(stmt, value):
    """A summary containing the text, the object's number, or an author's address containing
    it.  The authors are looked up first: with their ids as plain values, PostgreSQL reads
    each condition from its index (trigram index on the summaries) instead of scanning."""
    pattern = f"%{value.lower()}%"
    authors = db.session.scalars(sa.select(User.id).where(
        sa.func.lower(User.email).like(pattern)).order_by(User.id)).all()
    conditions = [sa.func.lower(AuditEntry.summary).like(pattern), AuditEntry.object_id == value]
    if authors:
        conditions.append(AuditEntry.user_id.in_(authors))
    return stmt.where(sa.or_(*conditions))


#: The audit log, on screen and in Excel
AUDIT_LOG = Table(
    "journal", "Journal d'audit",
    [Col("at", "Date", kind="datetime", sort=AuditEntry.at, export_label="Date (heure de Paris)"),
     Col("author", "Auteur", _author),
     Col("action", "Action", labels=AUDIT_ACTIONS, sort=AuditEntry.action),
     Col("object", "Objet", _object, sort=AuditEntry.object_type),
     Col("lot", "Lot", "lot.code"),
     Col("summary", "Résumé"),
     Col("changes", "Valeurs modifiées", lambda e: _changes_text(e.changes),
         html=_changes_html)],
    filters=[lot_filter(AuditEntry.lot_id),
             Filter("action", "Action", "select",
                    apply=lambda stmt, value: stmt.where(AuditEntry.action == value),
                    options=lambda: sorted(AUDIT_ACTIONS.items(), key=lambda kv: kv[1])),
             Filter("objet", "Objet", "select",
                    apply=lambda stmt, value: stmt.where(AuditEntry.object_type == value),
                    options=lambda: sorted(OBJECT_TYPES.items(), key=lambda kv: kv[1])),
             Filter("q", "Recherche", "search", apply=_search,
                    hint="Résumé, numéro d'objet ou adresse de l'auteur"),
             _day_filter("du", "Du", True), _day_filter("au", "Au", False)],
    default_sort="-at", tiebreak=AuditEntry.id.desc(), noun=("entrée", "entrées"),
    empty="Aucune entrée.")


def _base():
    return sa.select(AuditEntry).options(selectinload(AuditEntry.user),
                                         selectinload(AuditEntry.lot))


@bp.get("/")
@roles(*Role.FC)
def entries():
    page = AUDIT_LOG.page(_base(), "audit.entries", export_endpoint="audit.export")
    return render_template("audit/entries.html", page=page)


@bp.get("/export.xlsx")
@roles(*Role.FC)
def export():
    return AUDIT_LOG.export(_base(), "journal-audit.xlsx")
