"""The "Données ouvertes" page: what each file contains, when it was produced, downloads."""
from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from fc_market.access import roles
from fc_market.auth.models import Role
from fc_market.extensions import db
from fc_market.opendata import service
from fc_market.opendata.models import KIND_LABELS, OpenDataExport
from fc_market.web import add_nav

bp = Blueprint("opendata", __name__)

FILE_NAMES = {"decp": "decp-marches-cep.json", "ocds": "ocds-execution-cep.json"}


@bp.get("/donnees-ouvertes")
@roles(*Role.FC)
def index():
    return render_template("opendata/index.html", latest=service.latest(), history=service.history(),
                           labels=KIND_LABELS)


@bp.post("/donnees-ouvertes/<any(decp, ocds):kind>/produire")
@roles(Role.MANAGER)
def produce(kind):
    try:
        export = service.produce(kind, current_user)
    except service.PublicationError as exc:
        flash(str(exc), "error")
        return redirect(url_for("opendata.index"))
    flash(f"{KIND_LABELS[kind]} produites et valides contre leur schéma "
          f"({export.size:,} octets).".replace(",", "\u202f"), "success")
    return redirect(url_for("opendata.index"))


@bp.get("/donnees-ouvertes/fichiers/<int:export_id>")
@roles(*Role.FC)
def download(export_id):
    export = db.session.get(OpenDataExport, export_id)
    if export is None:
        abort(404)
    stamp = export.produced_at.strftime("%Y%m%d-%H%M%S")
    name = FILE_NAMES[export.kind].replace(".json", f"-{stamp}.json")
    return Response(export.content, mimetype="application/json; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def register(app):
    app.register_blueprint(bp)
    add_nav("Données ouvertes", "opendata.index", Role.FC, order=85)
