"""The footer's mandatory pages; public (reachable without logging in)."""
from flask import Blueprint, render_template

bp = Blueprint("legal", __name__)

#: Endpoints of this blueprint reachable without logging in
PUBLIC = ("legal.accessibility", "legal.legal_notice", "legal.personal_data")


@bp.get("/accessibilite")
def accessibility():
    return render_template("legal/accessibility.html")


@bp.get("/mentions-legales")
def legal_notice():
    return render_template("legal/legal_notice.html")


@bp.get("/donnees-personnelles")
def personal_data():
    return render_template("legal/personal_data.html")
