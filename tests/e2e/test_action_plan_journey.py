"""Browser journey: FC turns a flag into a case and asks an action plan; the mandataire sees
it on its home page and answers with a text and a PDF; FC follows the plan and closes the
case.  The mandataire never sees FC's internal note."""
from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa

from fc_market.extensions import db
from fc_market.market.models import FlagRule
from fc_market.steering.models import Flag, FlagReading
from tests.conftest import PASSWORD
from tests.e2e.world import PDF
from tests.reporting.helpers import lot

INTERNAL = "Note interne : à examiner au comité de pilotage"


def _flag():
    rule = db.session.scalar(sa.select(FlagRule).where(FlagRule.code == "uo4_documented_floor"))
    flag = Flag(rule_id=rule.id, lot_id=lot("IDF").id, opened_on=date.today(),
                opening_value=Decimal("0.7"), value=Decimal("0.7"), threshold=rule.threshold,
                evaluated_on=date.today(), detail="2025 : 84 000 € justifiés pour 120 000 € payés")
    flag.readings.append(FlagReading(read_on=date.today(), value=Decimal("0.7"), breached=True))
    db.session.add(flag)
    db.session.commit()
    return flag


def test_fc_asks_an_action_plan_and_the_mandataire_answers_it(journey, users):
    j, page = journey, journey.page
    flag = _flag()
    manager, mandataire = users["manager"], users["mandataire"]

    j.login(manager.email, PASSWORD)
    j.goto(f"/pilotage/signalements/{flag.id}")
    page.fill("textarea[name=comment]", INTERNAL)
    j.submit("button:has-text('Ouvrir un dossier sur ce signalement')")
    assert "Dossier n°" in j.text() and "nouveau" in j.text().lower()
    page.fill("textarea[name=ack-comment]",
              "Écart entre UO4 payée et justifiée sur 2025.")
    page.click("label[for=ack-internal]")
    j.submit("button:has-text('Prendre en compte')")
    assert "pris en compte par fc" in j.text().lower(), j.flashes()
    due = date.today() + timedelta(days=21)
    page.fill("textarea[name=request-body]",
              "Justifiez les 36 000 € manquants ou proposez un plan de régularisation.")
    page.fill("input[name=request-due_on]", due.isoformat())
    j.submit("button:has-text(\"Demander un plan d'action\")")
    assert "plan d'action demandé" in j.text().lower(), j.flashes()
    case_url = page.url
    j.shot("fc-plan-demande")
    page.context.clear_cookies()

    j.login(mandataire.email, PASSWORD)
    home = j.text()
    assert "Mes plans d'action : 1 attendu(s) de vous" in home, home
    j.shot("accueil-mandataire")
    j.submit("a:has-text(\"Tous mes plans d'action\")")
    assert "Mes plans d'action" in j.text()
    j.submit("main table a:has-text('Dépenses UO4 justifiées')")
    text = j.text()
    assert "Justifiez les 36 000 €" in text and INTERNAL not in text
    assert f"{due:%d/%m/%Y}" in text
    page.fill("textarea[name=plan-body]",
              "1. Factures de communication jointes. 2. Bilan complémentaire avant juin.")
    page.set_input_files("input[name=plan-files]",
                         files=[{"name": "plan-action.pdf", "buffer": PDF, "mimeType": "application/pdf"}])
    j.submit("button:has-text(\"Remettre le plan d'action\")")
    assert "plan d'action remis" in j.text().lower(), j.flashes()
    assert "plan-action.pdf" in j.text()
    j.shot("mandataire-plan-remis")
    page.context.clear_cookies()

    j.login(manager.email, PASSWORD)
    j.goto(case_url.replace(j.base, ""))
    assert INTERNAL in j.text() and "plan-action.pdf" in j.text()
    j.submit("button:has-text('Retenir et suivre le plan')")
    assert "plan suivi" in j.text().lower(), j.flashes()
    page.click("label[for=close-reason-1]")
    j.submit("button:has-text('Clore le dossier')")
    assert "clos" in j.text().lower() and "Plan d'action réalisé" in j.text(), j.flashes()
    j.shot("fc-dossier-clos")
    j.goto("/dossiers?statut=closed")
    assert "Dépenses UO4 justifiées" in j.text()
