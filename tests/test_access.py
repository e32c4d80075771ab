"""Walk every URL of the application as every role and prove the isolation rules.

Each URL argument needs a value from another lot than the mandataire's (lot BRE, while the
mandataire holds IDF).  A new route whose argument is unknown here fails the test: add how
to build it to ``ARGUMENTS``, so no route escapes the walk.
"""
import pytest
import sqlalchemy as sa

from fc_market.access import PUBLIC_ENDPOINTS
from fc_market.extensions import db
from fc_market.market.models import Lot

OWN, OTHER = "IDF", "BRE"


def _lot(code):
    return db.session.scalar(sa.select(Lot).where(Lot.code == code))


def _user_id(users, code):
    return (users["mandataire"] if code == OWN else users["other_mandataire"]).id


#: argument name -> function(users, lot_code) returning a value that belongs to that lot
ARGUMENTS = {
    "code": lambda users, code: code,
    "user_id": _user_id,
}

#: Lot-scoped arguments: a mandataire must be refused on another lot's value
LOT_SCOPED = {"code"}
#: Routes whose arguments are not lot-scoped and that no mandataire reaches anyway
ADMIN_ONLY_ARGS = {"user_id"}
SKIP = PUBLIC_ENDPOINTS | {"auth.logout"}


def extra_arguments():
    """Modules' own argument builders live in tests/<module>/url_args.py (ARGUMENTS, LOT_SCOPED)."""
    import importlib
    from fc_market.domains import DOMAIN_MODULES
    for module in DOMAIN_MODULES:
        try:
            mod = importlib.import_module(f"tests.{module}.url_args")
        except ModuleNotFoundError:
            continue
        ARGUMENTS.update(mod.ARGUMENTS)
        LOT_SCOPED.update(mod.LOT_SCOPED)
        if hasattr(mod, "prepare"):
            yield mod.prepare


def routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIP:
            continue
        method = "GET" if "GET" in rule.methods else "POST"
        yield rule, method


def build(rule, users, code):
    values = {}
    for arg in rule.arguments:
        assert arg in ARGUMENTS, (f"route {rule.rule} takes <{arg}>: add a builder for it in "
                                  "tests/test_access.py or tests/<module>/url_args.py")
        values[arg] = ARGUMENTS[arg](users, code)
    from flask import url_for
    with db.session.no_autoflush:
        return url_for(rule.endpoint, **values)


def request(browser, method, url):
    if method == "GET":
        return browser.get(url)
    return browser.post(url, data={})


@pytest.fixture
def walk(app, users, market):
    for prepare in list(extra_arguments()):
        prepare(users)
    db.session.commit()
    return list(routes(app))


def test_every_view_declares_its_roles(app):
    missing = [rule.rule for rule in app.url_map.iter_rules()
               if rule.endpoint not in PUBLIC_ENDPOINTS
               and not getattr(app.view_functions[rule.endpoint], "allowed_roles", None)]
    assert missing == []


def test_anonymous_visitors_are_sent_to_the_login_page(app, walk, users):
    client = app.test_client()
    with app.test_request_context():
        for rule, method in walk:
            url = build(rule, users, OTHER)
            response = client.get(url) if method == "GET" else client.post(url)
            assert response.status_code == 302 and "/connexion" in response.headers["Location"], rule.rule


@pytest.mark.parametrize("role", ["manager", "finance", "admin", "mandataire"])
def test_each_role_reaches_only_its_screens(app, walk, users, login, role):
    browser = login(role)
    with app.test_request_context():
        for rule, method in walk:
            allowed = app.view_functions[rule.endpoint].allowed_roles
            if role == "mandataire" and rule.arguments & ADMIN_ONLY_ARGS:
                continue
            url = build(rule, users, OWN)
            response = request(browser, method, url)
            if role in allowed:
                assert response.status_code not in (401, 403, 404, 500), (role, rule.rule, response.status_code)
            else:
                assert response.status_code == 403, (role, rule.rule, response.status_code)


def test_a_mandataire_never_reaches_another_lot(app, walk, users, login):
    browser = login("mandataire")
    checked = 0
    with app.test_request_context():
        for rule, method in walk:
            if not rule.arguments & LOT_SCOPED:
                continue
            url = build(rule, users, OTHER)
            response = request(browser, method, url)
            assert response.status_code in (403, 404), (rule.rule, response.status_code)
            assert "Bretagne" not in response.get_data(as_text=True)
            checked += 1
    assert checked >= 2


def test_mandataire_lists_only_its_own_lot(login, users):
    browser = login("mandataire")
    assert browser.get("/lots").status_code == 403
    response = browser.get("/lots/IDF")
    assert response.status_code == 200 and "Île-de-France" in response.get_data(as_text=True)
    assert browser.get("/lots/BRE").status_code == 404
    assert browser.get("/lots/BRE/prix.xlsx").status_code == 404


def test_the_footer_pages_are_public(app):
    client = app.test_client()
    for url, title in (("/accessibilite", "Déclaration d’accessibilité"),
                       ("/mentions-legales", "Mentions légales"),
                       ("/donnees-personnelles", "Données personnelles")):
        response = client.get(url)
        assert response.status_code == 200, url
        assert f"<h1>{title}</h1>" in response.get_data(as_text=True)


def test_the_navigation_groups_at_most_seven_entries_for_every_role(app, users):
    from fc_market.web import MAX_TOP_ENTRIES, nav_groups_for
    with app.test_request_context("/"):
        for user in users.values():
            groups = nav_groups_for(user)
            assert 1 <= len(groups) <= MAX_TOP_ENTRIES == 7, (user.role, groups)
            labels = [g["label"] for g in groups]
            assert len(labels) == len(set(labels))
        finance = nav_groups_for(users["finance"])
        money = next(g for g in finance if g["key"] == "finances")
        assert money["label"] == "Finances" and len(money["items"]) >= 3  # a DSFR menu
        mandataire = nav_groups_for(users["mandataire"])
        assert mandataire[0]["label"] == "Mon lot (IDF)"
