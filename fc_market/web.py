"""Wiring of the web application: blueprints, login, navigation, errors, security headers."""
import logging

import sqlalchemy as sa
from flask import current_app, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from fc_market import unit_of_work
from fc_market.access import PUBLIC_ENDPOINTS
from fc_market.auth.models import Role, User
from fc_market.domains import submodules
from fc_market.extensions import db, login_manager
from fc_market.formatting import FILTERS

log = logging.getLogger(__name__)

#: Navigation: (label, endpoint, roles).  Modules add their entries with :func:`add_nav`.
NAV = []


def add_nav(label, endpoint, allowed, order=50):
    if not any(item[1] == endpoint for item in NAV):
        NAV.append((order, label, endpoint, frozenset(allowed)))
        NAV.sort(key=lambda item: item[0])


#: Links on a lot's page to its module screens: (order, label, endpoint taking ``code``, roles)
LOT_LINKS = []


def add_lot_link(label, endpoint, allowed, order=50):
    if not any(item[2] == endpoint for item in LOT_LINKS):
        LOT_LINKS.append((order, label, endpoint, frozenset(allowed)))
        LOT_LINKS.sort(key=lambda item: item[0])


def lot_links_for(user):
    return [(label, endpoint) for _, label, endpoint, allowed in LOT_LINKS if user.role in allowed]


def nav_for(user):
    return [(label, endpoint) for _, label, endpoint, allowed in NAV if user.role in allowed]


CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'")


def register_web(app):
    from fc_market.admin.views import bp as admin_bp
    from fc_market.audit.views import bp as audit_bp
    from fc_market.auth.views import bp as auth_bp
    from fc_market.market.views import bp as market_bp
    for bp in (auth_bp, market_bp, audit_bp, admin_bp):
        app.register_blueprint(bp)
    for views in submodules("views"):  # each domain module's ``views.register(app)``
        views.register(app)

    app.jinja_env.filters.update(FILTERS)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Veuillez vous connecter pour accéder à cette page."
    login_manager.login_message_category = "info"

    @login_manager.user_loader
    def load_user(token):
        user_id, _, session_token = str(token).partition(":")
        if not user_id.isdigit():
            return None
        user = db.session.get(User, int(user_id))
        if user is None or not user.active or user.session_token != session_token:
            return None
        return user

    @app.before_request
    def require_login():
        endpoint = request.endpoint
        if endpoint is None or endpoint in PUBLIC_ENDPOINTS:
            return None
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        view = app.view_functions.get(endpoint)
        if not getattr(view, "allowed_roles", None):
            log.error("view %s declares no roles: refused", endpoint)
            return render_error(403)
        return None

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if current_user and getattr(current_user, "is_authenticated", False):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.context_processor
    def inject_nav():
        nav = nav_for(current_user) if current_user.is_authenticated else []
        links = lot_links_for(current_user) if current_user.is_authenticated else []
        return {"nav": nav, "Role": Role, "lot_links": links,
                "illustrative": current_app.config.get("FC_SHOW_DEMO_BANNER", True)}

    for code in (400, 401, 403, 404, 405, 409, 413, 500):
        app.register_error_handler(code, lambda exc, code=code: render_error(code))

    @app.get("/health")
    def health():
        try:
            db.session.execute(sa.text("SELECT 1"))
            return jsonify(status="ok", database="ok")
        except Exception:  # pragma: no cover - reported, not raised
            log.exception("health check failed")
            return jsonify(status="error", database="unreachable"), 503

    @app.get("/")
    def index():
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login"))
        return redirect(home_for(current_user))
    index.allowed_roles = frozenset(Role.ALL)

    add_nav("Lots", "market.lots", Role.FC, order=20)
    add_nav("Catalogue des UO", "market.catalogue", Role.ALL, order=80)
    add_nav("Journal d'audit", "audit.entries", Role.FC, order=90)
    add_nav("Utilisateurs", "admin.users", (Role.ADMIN,), order=95)


#: Where each role lands after logging in; modules may replace an entry.
HOME = {Role.MANAGER: "market.lots", Role.FINANCE: "market.lots", Role.ADMIN: "admin.users"}


def home_for(user):
    if user.is_mandataire:
        from fc_market.market.models import Lot
        lot = db.session.get(Lot, user.lot_id)
        return url_for(HOME.get(Role.MANDATAIRE, "market.lot"), code=lot.code)
    return url_for(HOME[user.role])


MESSAGES = {
    400: ("Requête invalide", "La requête n'a pas pu être comprise (formulaire expiré ?). Rechargez la page et recommencez."),
    401: ("Connexion requise", "Veuillez vous connecter."),
    403: ("Accès refusé", "Votre profil ne donne pas accès à cette page."),
    404: ("Page introuvable", "Cette page n'existe pas ou ne vous est pas accessible."),
    405: ("Méthode non permise", "Cette action n'est pas possible de cette façon."),
    409: ("Conflit", "Quelqu'un a modifié cet élément en même temps que vous. Rechargez la page."),
    413: ("Fichier trop volumineux", "Le fichier dépasse la taille maximale autorisée."),
    500: ("Erreur interne", "Une erreur est survenue ; elle a été enregistrée. Aucune donnée n'a été modifiée."),
}


def render_error(code):
    unit_of_work.doom(f"error page {code}")  # nothing of a request answered by an error is kept
    title, message = MESSAGES.get(code, ("Erreur", ""))
    return render_template("errors/error.html", code=code, title=title, message=message), code
