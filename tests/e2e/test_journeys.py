"""The three journeys of the people who use fc_market, in a real browser against the real
server: a mandataire, a market manager, finance.  Each saves screenshots of its key screens
(var/screenshots/<journey>/) and fails on any console error or CSP violation."""
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from fc_market.extensions import db
from fc_market.formatting import money
from tests.conftest import PASSWORD
from tests.e2e import world
from tests.reporting.helpers import lot, row

P = "2025-03"


def fr(amount):
    """An amount typed the French way: 1 234,56 → "1234,56"."""
    return f"{Decimal(amount):.2f}".replace(".", ",")


def upload(j, data, name):
    j.goto(f"/lots/IDF/reporting/{P}")
    j.page.set_input_files("form[action$='/depot'] input[type=file]", files=[{
        "name": name, "buffer": data,
        "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}])
    j.submit("button:has-text('Contrôler et importer')")


def test_mandataire_reports_answers_a_control_and_invoices(journey, users):
    j, page = journey, journey.page
    world.build(users, validated=("2025-01", "2025-02"))
    mandataire, manager, finance = users["mandataire"], users["manager"], users["finance"]

    # the served pages carry the security headers, and their own content satisfies the CSP
    headers = j.goto("/connexion").headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
    j.login(mandataire.email, PASSWORD)
    j.shot("accueil-mandataire")
    j.goto("/lots/IDF/reporting")
    assert "2025" in j.text()
    j.goto(f"/lots/IDF/reporting/{P}")
    j.shot("periode-a-deposer")
    with page.expect_download() as download:
        page.click("a[href$='modele.xlsx']")
    assert download.value.suggested_filename == f"reporting-IDF-{P}.xlsx"
    template = Path(download.value.path()).read_bytes()

    # a file with an unknown UO on one line and an act dated outside the month on another
    good = world.month_rows(3, P)
    bad_rows = good + [row(390, uo="UO9", day=date(2025, 3, 12)),
                       row(391, day=date(2025, 7, 1))]
    upload(j, world.fill_template(template, bad_rows), "reporting-mars.xlsx")
    assert "Fichier refusé" in j.text() and "Rien n'a été enregistré" in j.text()
    errors = page.locator("table.issues-error tbody tr").all_inner_texts()
    assert len(errors) >= 2, errors
    # the sheet, the row and the column of each error, in French
    assert errors[0].split("\t")[:3] == ["Actes", "8", "B (Code UO)"], errors
    assert "Code UO « UO9 » inconnu" in errors[0]
    assert errors[1].split("\t")[:3] == ["Actes", "9", "C (Date de l'acte)"], errors
    assert "01/07/2025 postérieure à la période déclarée" in errors[1]
    j.shot("fichier-refuse-erreurs")
    from fc_market.reporting.models import Act
    assert world.count(Act, Act.lot_id == lot("IDF").id) == 12  # the two validated months only

    upload(j, world.fill_template(template, good), "reporting-mars-corrige.xlsx")
    assert "Fichier accepté" in j.text(), j.text()
    j.shot("fichier-accepte")
    j.submit("main a:has-text('version 1')")
    said = j.confirm("button:has-text('Déposer le rapport à France compétences')", "confirmer-depot")
    assert "Déposer le rapport de mars 2025 ?" in said and "ne sera plus modifiable" in said
    assert "Rapport déposé" in j.flashes(), j.flashes()
    j.shot("rapport-depose")

    # later: FC validates the month, opens a control on it, finance certifies the service fait
    from fc_market.controls import service as controls
    from fc_market.reporting.models import ReportVersion
    version = db.session.scalar(sa.select(ReportVersion).where(
        ReportVersion.lot_id == lot("IDF").id, ReportVersion.status == "submitted"))
    assert version is not None and version.act_count == 6
    world.validate(version, manager)
    campaign = controls.open_campaign(lot("IDF"), [P], manager, seed="e2e")
    db.session.commit()
    campaign_id, first_item = campaign.id, campaign.items[0]
    statement = world.certify(P, finance, datetime.now())

    j.goto(f"/controles/{campaign_id}")
    assert campaign.reference in j.text()
    j.shot("controle-a-justifier")
    form = page.locator(f"form[action$='/dossiers/{first_item.id}/reponse']")
    form.locator("input[name=reference]").fill("DS-2025-03-0")
    form.locator("input[type=file]").set_input_files(files=[{
        "name": "attestation.pdf", "mimeType": "application/pdf", "buffer": world.PDF}])
    j.submit(form.locator("button"))
    assert f"Réponse enregistrée pour le dossier {first_item.beneficiary_id}" in j.flashes()
    j.shot("controle-repondu")
    from fc_market.controls.models import ControlProof
    assert world.count(ControlProof) == 1

    from fc_market.billing import service as billing
    expected = billing.expected_totals(statement)
    j.goto(f"/etats/{statement.id}/facture")
    assert money(expected["amount_incl_tax"]) in j.text()
    page.fill("input[name=number]", "F-IDF-2025-03")
    page.fill("input[name=issued_on]", date.today().isoformat())
    page.fill("input[name=amount_excl_tax]", fr(expected["amount_excl_tax"]))
    page.fill("input[name=vat]", fr(expected["vat"]))
    page.fill("input[name=amount_incl_tax]", fr(expected["amount_incl_tax"]))
    page.set_input_files("input[name=file]", files=[{
        "name": "facture.pdf", "mimeType": "application/pdf", "buffer": world.PDF}])
    j.shot("facture-saisie")
    said = j.confirm("main form button:has-text('Enregistrer la facture')", "confirmer-facture")
    assert money(expected["amount_incl_tax"]) in said
    assert "F-IDF-2025-03 enregistrée : montants conformes à l'état." in j.flashes(), j.flashes()
    j.shot("facture-enregistree")


def test_manager_validates_controls_and_steers(journey, users):
    j, page = journey, journey.page
    world.build(users, validated=("2025-01", "2025-02"), submitted=(P,))
    manager = users["manager"]

    j.login(manager.email, PASSWORD)
    assert "/pilotage" in page.url  # the managers' home
    j.goto("/reporting/examen")
    j.shot("examen")
    j.submit("main a.fr-btn:has-text('Examiner')")
    assert "/reporting/versions/" in page.url
    j.shot("version-a-examiner")
    # no decision is preselected
    assert page.locator("form.decision input[name=decision]:checked").count() == 0
    page.locator("form.decision label", has_text="Valider").click()
    assert page.locator("form.decision input[value=validate]").is_checked()
    said = j.confirm("form.decision button:has-text('Enregistrer la décision')", "confirmer-decision")
    assert "mars 2025 du lot IDF" in said
    assert "Décision enregistrée" in j.flashes(), j.flashes()
    j.shot("version-validee")

    j.goto("/lots/IDF/controles")
    page.check(f"input[name=periods][value='{P}']")
    page.fill("input[name=seed]", "e2e-manager")
    j.submit("button:has-text(\"Tirer l'échantillon et ouvrir\")")
    assert "/controles/" in page.url, j.flashes()
    from fc_market.controls.models import ControlCampaign, ControlItem
    campaign = db.session.scalar(sa.select(ControlCampaign))
    items = db.session.scalars(sa.select(ControlItem).where(ControlItem.campaign_id == campaign.id)
                               .order_by(ControlItem.id)).all()
    assert items and campaign.reference in j.text()
    j.shot("campagne-ouverte")
    for item, verdict in zip(items[:2], ("Conforme", "Non conforme")):
        form = page.locator(f"form[action$='/dossiers/{item.id}/avis']")
        form.locator("select[name=verdict]").select_option(label=verdict)
        if verdict == "Non conforme":
            reason = form.locator("select[name=reason] option").nth(1).get_attribute("value")
            form.locator("select[name=reason]").select_option(reason)
            form.locator("input[name=comment]").fill("Justificatif daté après l'acte.")
        j.submit(form.locator("button"))
        assert f"Avis enregistré pour le dossier {item.beneficiary_id}" in j.flashes(), j.flashes()
    db.session.expire_all()
    verdicts = [db.session.get(ControlItem, i.id).verdict for i in items[:2]]
    assert verdicts == ["conforme", "non_conforme"]
    j.shot("avis-rendus")

    j.goto("/pilotage")
    text = j.text()
    assert "Pilotage du marché" in text and "IDF" in text and "BRE" in text
    assert page.locator("table.dashboard tbody tr").count() == 18
    j.shot("pilotage-national")
    j.goto("/pilotage/lots/IDF")
    text = j.text()
    assert "Indicateurs à ce jour" in text and "Signalements ouverts" in text
    flags = page.locator("section:has(h2:has-text('Signalements ouverts')) table tbody tr")
    assert flags.count() >= 1  # IDF has reported up to March 2025 only: late, under target…
    assert "Reporting mensuel en retard" in text
    assert page.locator(".map svg").count() == 1
    j.shot("tableau-de-bord-lot")


def test_finance_certifies_imports_payments_and_sees_interest(journey, users):
    j, page = journey, journey.page
    world.build(users, validated=("2025-01", "2025-02"))
    finance = users["finance"]
    # January was certified and invoiced long ago (received 25/02/2025, due 30 days later)
    invoice = world.late_invoice("2025-01", users["mandataire"], finance, date(2025, 2, 25))
    february = world.statement("2025-02")
    db.session.commit()

    j.login(finance.email, PASSWORD)
    j.goto(f"/etats/{february.id}")
    assert money(february.amount_payable) in j.text()
    j.shot("etat-provisoire")
    said = j.confirm("button:has-text('Certifier le service fait')", "confirmer-certification")
    assert "net à payer" in said
    assert "Service fait certifié" in j.flashes(), j.flashes()
    db.session.expire_all()
    from fc_market.billing.models import PayableStatement, Payment
    number = db.session.get(PayableStatement, february.id).number
    assert number and number in j.text()
    j.shot("etat-certifie")

    # the accounting export: January paid on 15/05/2025, i.e. late; plus an unknown invoice
    import openpyxl
    from io import BytesIO
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Facture", "Date de paiement", "Montant", "Référence"])
    from fc_market.billing import service as billing
    ws.append([invoice.number, "15/05/2025", fr(billing.amount_due(invoice)), "MDT-0001"])
    ws.append(["FAC-INCONNUE", "16/05/2025", "100,00", "MDT-0002"])
    out = BytesIO()
    wb.save(out)
    j.goto("/paiements")
    page.set_input_files("form[action$='/paiements/import'] input[type=file]", files=[{
        "name": "export-comptable.xlsx", "buffer": out.getvalue(),
        "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}])
    j.submit("form[action$='/paiements/import'] button")
    assert ("Import terminé : 1 paiement(s) ajouté(s), 0 déjà connu(s), 1 ligne(s) non "
            "rapprochée(s)") in j.flashes(), j.flashes()
    assert "FAC-INCONNUE" in j.text()
    j.shot("import-paiements")
    assert world.count(Payment) == 1

    # due 27/03/2025 (received 25/02 + 30 days), paid 15/05/2025: 49 days late; rate = ECB
    # rate on 01/01/2025 (3,15 %) + 8 points = 11,15 %; interest = amount × 11,15 % × 49 / 365
    from fc_market.billing import service as billing
    db.session.expire_all()
    invoice = db.session.merge(invoice)
    owed = billing.late_interest(invoice)
    # what is due: the invoice's TTC less the late-reporting penalties deducted at payment
    principal = billing.amount_due(invoice)
    assert principal == invoice.amount_incl_tax - invoice.statement.penalties_deducted_incl_tax
    expected = (principal * Decimal("0.1115") * 49 / 365).quantize(Decimal("0.01"))
    assert owed.interest == expected and owed.due_date == date(2025, 3, 27)
    j.goto("/interets")
    cells = page.locator("main table.data tbody tr", has_text=invoice.number).first.locator("td")
    values = cells.all_inner_texts()
    assert values[2:4] == ["25/02/2025", "27/03/2025"], values
    assert values[6] == "11,15 %", values
    assert values[7] == "49" and values[8] == money(expected), values
    assert values[9] == money(Decimal("40.00")) and values[10] == money(expected + 40), values
    # paid in full on 15/05/2025: the interest no longer runs, and is to be paid within 45 days
    # of the principal (R. 2192-36): 15/05/2025 + 45 days = 29/06/2025 (16 days in May + 29)
    assert values[11] == "29/06/2025", values
    overdue = date.today() > date(2025, 6, 29)
    assert values[12] == ("À payer — délai de 45 jours dépassé" if overdue else "À payer"), values
    j.shot("interets-moratoires")

    # finance records the payment of the interest and the indemnity on the invoice's page
    j.submit(page.locator("main table.data tbody tr", has_text=invoice.number).first
             .locator("a", has_text="À payer"))
    page.fill("input[name=reference]", "MDT-INT-0001")
    j.submit("button:has-text('Enregistrer le paiement des intérêts')")
    assert f"Paiement des intérêts moratoires enregistré ({money(expected + 40)})" in j.flashes(), \
        j.flashes()
    assert "Retard de paiement : intérêts réglés" in j.text() and "MDT-INT-0001" in j.text()
    j.shot("interets-regles")
    j.goto("/interets")
    assert "Intérêts réglés (1," in j.text()
    assert page.locator("main table.data tbody tr", has_text=invoice.number).count() == 1


def tab_to(j, selector, text=None, limit=250):
    """Press Tab until the focused element matches ``selector`` (and holds ``text``); the
    keyboard only, as a person who does not use a mouse."""
    page = j.page
    for _ in range(limit):
        page.keyboard.press("Tab")
        found = page.evaluate(
            "([sel, text]) => { const e = document.activeElement;"
            " return !!e && e.matches(sel) && (!text || e.innerText.includes(text)); }",
            [selector, text])
        if found:
            return
    raise AssertionError(f"{selector} {text or ''} never reached with Tab on {page.url}")


def press_and_wait(j, key="Enter"):
    with j.page.expect_navigation():
        j.page.keyboard.press(key)
    j.page.wait_for_load_state()
    j.audit()


def test_mandataire_submits_a_report_with_the_keyboard_alone(journey, users):
    """The main mandataire journey without a mouse: log in, reach the month's draft through the
    skip links and the links of the pages, submit it through its confirmation modal."""
    from fc_market.reporting import service
    j, page = journey, journey.page
    world.build(users, validated=("2025-01", "2025-02"))
    result = service.import_file(lot("IDF"), P, world.make_file("IDF", P, world.month_rows(3, P)),
                                 user=users["mandataire"])
    assert result.accepted
    db.session.commit()

    j.goto("/connexion")
    tab_to(j, "input[name=email]")
    page.keyboard.type(users["mandataire"].email)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    press_and_wait(j)
    assert page.url.endswith("/lots/IDF/reporting"), page.url
    # the first Tab reaches the skip links; "Contenu" jumps over the header to the page
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.innerText") == "Contenu"
    page.keyboard.press("Enter")
    tab_to(j, "main a", "mars 2025")
    press_and_wait(j)
    tab_to(j, "main a", "version 1")
    press_and_wait(j)
    tab_to(j, "main button", "Déposer le rapport à France compétences")
    page.keyboard.press("Enter")
    dialog = page.locator("dialog#confirmer-depot")
    dialog.wait_for(state="visible")
    j.audit(f"{page.url.removeprefix(j.base)} (fenêtre au clavier)")
    tab_to(j, "dialog#confirmer-depot button[type=submit]")
    press_and_wait(j)
    assert "Rapport déposé" in j.flashes(), j.flashes()
    j.shot("depose-au-clavier")


def test_list_screens_are_accessible_and_fit_the_screen(journey, users):
    """The lists and the footer's pages, for each role: axe and the width check run on each."""
    j = journey
    world.build(users, validated=("2025-01", "2025-02"), submitted=("2025-03",))
    screens = {
        "mandataire": ["/factures", "/etats", "/messages", "/lots/IDF/sites", "/lots/IDF/controles",
                       "/accessibilite", "/mentions-legales", "/donnees-personnelles"],
        "manager": ["/audit/", "/pilotage/signalements", "/reporting/examen", "/lots/IDF/sites",
                    "/messages", "/factures", "/etats", "/lots"],
        "finance": ["/paiements", "/factures?statut=received", "/etats", "/finances"],
        "admin": ["/admin/utilisateurs"],
    }
    for role, paths in screens.items():
        j.page.context.clear_cookies()
        j.login(users[role].email, PASSWORD)
        # the header's navigation: at most 7 entries, on one line at 1366 px
        tops = j.page.eval_on_selector_all(
            "#navigation .fr-nav__list > .fr-nav__item",
            "items => items.map(i => Math.round(i.getBoundingClientRect().top))")
        assert 1 <= len(tops) <= 7 and len(set(tops)) == 1, (role, tops)
        for path in paths:
            j.goto(path)
            assert "Erreur" not in j.page.title(), path
            j.shot(role + path.replace("/", "-").replace("?", "-").rstrip("-"))
