"""The State design system shell and its rules: the page frame, decisions never preselected,
one's own account never deactivated, French formats."""
import re

from fc_market.billing.models import Invoice, InvoiceStatus
from fc_market.extensions import db
from fc_market.formatting import integer, month, unit_price
from tests.billing.test_invoices_payments import cvl_statement, invoice  # noqa: F401 (fixture)


def test_the_page_shell_is_the_dsfr_served_by_the_app(login):
    page = login("manager").get("/factures").get_data(as_text=True)
    # skip links, bloc-marque, service title, user and role, the grouped menus, the footer
    assert '<div class="fr-skiplinks">' in page and 'href="#contenu"' in page
    assert '<p class="fr-logo">République<br>française</p>' in page
    assert "France compétences — Marché CEP actifs occupés" in page
    assert "Chargé(e) de marché FC" in page and 'class="fr-menu__list"' in page
    for path in ("/accessibilite", "/mentions-legales", "/donnees-personnelles"):
        assert f'href="{path}"' in page
    assert 'aria-controls="parametres-affichage"' in page and 'class="fr-display"' in page
    # a page below the home has its breadcrumb; the DSFR's files come from the app itself
    assert 'class="fr-breadcrumb' in page and 'aria-current="page">Factures</a>' in page
    sources = re.findall(r'(?:src|href)="([^"]+\.(?:css|js))"', page)
    assert sources and all(s.startswith("/static/") for s in sources), sources
    assert "/static/dsfr/dsfr.module.min.js" in sources and "/static/dsfr/dsfr.nomodule.min.js" in sources


def test_the_home_has_no_breadcrumb_and_the_dsfr_files_are_served(login, app):
    client = login("mandataire")
    home = client.get("/accueil").get_data(as_text=True)  # the to-do home (fc_market/home)
    assert 'class="fr-breadcrumb' not in home
    for name in ("dsfr/dsfr.min.css", "dsfr/dsfr.module.min.js", "dsfr/fonts/Marianne-Regular.woff2",
                 "dsfr/fonts/Spectral-Regular.woff2", "dsfr/icons/system/close-line.svg",
                 "dsfr/utility/icons/icons.min.css", "dsfr/LICENSE.md"):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200, name
        response.close()


def test_an_invoice_decision_starts_empty_and_an_empty_one_is_refused_on_the_field(
        cvl_statement, users, login):  # noqa: F811
    inv = invoice(cvl_statement, users["mandataire"])
    db.session.commit()
    finance = login("finance")
    page = finance.get(f"/factures/{inv.id}").get_data(as_text=True)
    select = page[page.index('<select class="fr-select"'):]
    select = select[:select.index("</select>")]
    assert "selected" not in select and '<option value="">— Choisir une décision —</option>' in select
    response = finance.post(f"/factures/{inv.id}/decision", data={"action": "", "version": inv.version_counter})
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    # the error sits on the field (DSFR select group in error), in French
    assert "fr-select-group--error" in text
    assert "Choisissez une décision : accepter ou rejeter" in text  # no "contester": the clock is interrupted, not suspended
    db.session.expire_all()
    assert db.session.get(Invoice, inv.id).status == InvoiceStatus.RECEIVED


def test_an_administrator_cannot_deactivate_their_own_account(login, users):
    admin = login("admin")
    page = admin.get("/admin/utilisateurs").get_data(as_text=True)
    me = users["admin"]
    assert f"form-desactivation-{me.id}" not in page and "votre compte" in page
    other = users["finance"]
    # the others' deactivation goes through a confirmation modal naming the account
    assert f'id="confirmer-desactivation-{other.id}"' in page
    assert f"Désactiver le compte de {other.full_name} ?" in page
    admin.post(f"/admin/utilisateurs/{me.id}/activation", data={})
    db.session.expire_all()
    assert db.session.get(type(me), me.id).active


def test_french_formats():
    assert integer(22196) == "22\u202f196" and integer(12317279) == "12\u202f317\u202f279"
    assert unit_price(30) == "30,00\xa0€" and unit_price("12.5", 3) == "12,500\xa0€"
    assert month("2026-08") == "août 2026"
