"""Wiring of the web application: blueprints, login, navigation, errors, security headers."""
import logging

import sqlalchemy as sa
from flask import current_app, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from fc_market import unit_of_work
from fc_market.access import PUBLIC_ENDPOINTS
from fc_market.auth import sessions
from fc_market.auth.models import Role
from fc_market.domains import submodules
from fc_market.integrity import register_jinja_globals
from fc_market.extensions import db, login_manager
from fc_market.formatting import FILTERS

log = logging.getLogger(__name__)

#: Navigation groups, in the order of the header: (key, label).  A group holding one entry
#: for a role shows as a plain link; more entries make a DSFR menu (``fr-menu``).  At most
#: :data:`MAX_TOP_ENTRIES` groups show for any role so the header stays on one line.
NAV_GROUPS = (
    ("lot", "Mon lot"),
    ("pilotage", "Pilotage"),
    ("activite", "Activité et contrôles"),
    ("finances", "Finances"),
    ("messages", "Messages"),
    ("referentiel", "Référentiel"),
    ("administration", "Administration"),
)
MAX_TOP_ENTRIES = 7

#: Default group of an entry, by the blueprint of its endpoint (an entry may name its own).
GROUP_OF_BLUEPRINT = {
    "steering": "pilotage", "territory": "pilotage", "market": "pilotage", "cases": "pilotage",
    "reporting": "activite", "controls": "activite", "uo4": "activite",
    "billing": "finances", "notifications": "messages",
    "audit": "administration", "admin": "administration",
}

#: Navigation entries: (order, label, endpoint, roles, group).  Modules add theirs with
#: :func:`add_nav`.
NAV = []


def add_nav(label, endpoint, allowed, order=50, group=None):
    if group is None:
        group = GROUP_OF_BLUEPRINT.get(endpoint.partition(".")[0], "referentiel")
    if group not in dict(NAV_GROUPS):
        raise ValueError(f"unknown navigation group {group!r}")
    if not any(item[2] == endpoint for item in NAV):
        NAV.append((order, label, endpoint, frozenset(allowed), group))
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
    """The user's entries as flat (label, endpoint) pairs, in order."""
    return [(label, endpoint) for _, label, endpoint, allowed, _group in NAV
            if user.role in allowed]


def nav_groups_for(user, current_endpoint=None):
    """The header navigation of a user: a list of dicts ``{key, label, items, current}``,
    ``items`` being ``(label, url, current)``; a group with one item is a plain link."""
    groups = []
    for key, label in NAV_GROUPS:
        if key == "lot":
            if not user.is_mandataire or user.lot is None:
                continue
            url = url_for("market.lot", code=user.lot.code)
            current = current_endpoint == "market.lot"
            items = [(f"Mon lot ({user.lot.code})", url, current)]
        else:
            items = [(item_label, url_for(endpoint), endpoint == current_endpoint)
                     for _, item_label, endpoint, allowed, group in NAV
                     if group == key and user.role in allowed]
        if not items:
            continue
        groups.append({"key": key, "label": items[0][0] if len(items) == 1 else label,
                       "items": items, "current": any(item[2] for item in items)})
    return groups


def current_nav_entry(endpoint):
    """(group label, entry label, endpoint) of the navigation entry of an endpoint, if any."""
    groups = dict(NAV_GROUPS)
    for _, label, item_endpoint, _allowed, group in NAV:
        if item_endpoint == endpoint:
            return groups[group], label, item_endpoint
    return None


CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'")

#: HTTPS only for a year, subdomains included (production only: development runs on plain HTTP)
HSTS = "max-age=31536000; includeSubDomains"


def register_web(app):
    from fc_market.admin.views import bp as admin_bp
    from fc_market.audit.views import bp as audit_bp
    from fc_market.auth.views import bp as auth_bp
    from fc_market.legal.views import bp as legal_bp
    from fc_market.market.views import bp as market_bp
    from fc_market.urlargs import install as install_url_converters
    install_url_converters(app)
    for bp in (auth_bp, market_bp, audit_bp, admin_bp, legal_bp):
        app.register_blueprint(bp)
    for views in submodules("views"):  # each domain module's ``views.register(app)``
        views.register(app)

    app.jinja_env.filters.update(FILTERS)
    from fc_market.labels import TEMPLATE_FILTERS, TEMPLATE_GLOBALS
    app.jinja_env.filters.update(TEMPLATE_FILTERS)
    app.jinja_env.globals.update(TEMPLATE_GLOBALS)
    from fc_market.market.terms import ROUNDING_LABELS, lot_terms
    app.jinja_env.globals.update(lot_terms=lot_terms, rounding_labels=ROUNDING_LABELS)
    register_jinja_globals(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Veuillez vous connecter pour accéder à cette page."
    login_manager.login_message_category = "info"

    @login_manager.user_loader
    def load_user(token):
        user_id, _, session_token = str(token).partition(":")
        if not user_id.isdigit():
            return None
        user, row = sessions.user_and_session(int(user_id))  # one query for both
        if user is None or not user.active or user.session_token != session_token:
            return None
        if not sessions.is_open(user, row):  # logged out, idle, expired: every copy of the cookie
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
        if app.config.get("FC_ENV") == "production":
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        if current_user and getattr(current_user, "is_authenticated", False):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.context_processor
    def inject_nav():
        signed_in = current_user.is_authenticated
        nav = nav_for(current_user) if signed_in else []
        groups = nav_groups_for(current_user, request.endpoint) if signed_in else []
        links = lot_links_for(current_user) if signed_in else []
        return {"nav": nav, "nav_groups": groups, "Role": Role, "lot_links": links,
                "nav_entry": current_nav_entry(request.endpoint),
                "home_url": home_for(current_user) if signed_in else url_for("auth.login"),
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
    add_nav("Catalogue des UO", "market.catalogue", Role.ALL, order=80, group="referentiel")
    add_nav("Journal d'audit", "audit.entries", Role.FC, order=90)
    add_nav("Utilisateurs", "admin.users", (Role.ADMIN,), order=95)


def load_reference_files():
    """Parse the territory reference files every coverage page reads, once per process: the
    communes (nationally and per region, prepared for the coverage figures), the regional
    populations and the outlines of the maps.  Opens no database connection."""
    from fc_market.territory import loader, service as territory
    loader.load_localities()
    for code in loader.REGIONS:
        territory.prepared_localities(code)
        loader.region_population(code)
    loader.load_outlines()


def warm_up(app):
    """Do now what each process otherwise does at its first requests: compile every template
    and parse the reference files (:func:`load_reference_files`).  The production entry
    point (``wsgi.py``) calls it once in the gunicorn master before the workers fork
    (``preload_app``), so the workers share the result and no user's request pays for it (a
    cold /pilotage took half a second of CPU).  Opens no database connection.  Returns the
    number of templates compiled."""
    names = app.jinja_env.list_templates(extensions=("html",))
    for name in names:
        app.jinja_env.get_template(name)
    load_reference_files()
    return len(names)


#: Where each role lands after logging in; modules may replace an entry.
HOME = {Role.MANAGER: "market.lots", Role.FINANCE: "market.lots", Role.ADMIN: "admin.users"}


def home_for(user):
    if HOME.get(user.role) == "home.index":  # the to-do home (fc_market/home) takes no argument
        return url_for("home.index")
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


def prepare_worker():
    """What a serving process does once, before its first request (gunicorn's
    ``post_worker_init``): the reference files (:func:`load_reference_files`, already parsed
    when the master preloaded the app), then everything the process holds for good — code,
    mappings, those files — moved out of the garbage collector's generations (``gc.freeze``).
    A full collection, which Python runs every few requests, then no longer walks these
    ~300,000 objects: it cost ~100 ms of one request in ten on the heaviest pages (issue 16).
    Nothing is frozen that a request would free: this runs before any request."""
    import gc
    load_reference_files()
    gc.collect()
    gc.freeze()
