"""The to-do home of each role: an item appears when due, disappears when done, and a
mandataire never sees another lot's items."""
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from fc_market.billing import service as billing
from fc_market.extensions import db
from fc_market.home import service
from fc_market.market.models import utcnow
from fc_market.notifications.service import notify
from fc_market.reporting.models import Report, ReportVersion, VersionStatus
from tests.billing.helpers import PDF, lot, make_validated, move

#: A day inside the demo contract (2024-01-01 – 2027-12-31): March 2025's report is due on
#: 10 April 2025 (reporting_deadline_day = 10).
TODAY = date(2025, 4, 3)


@pytest.fixture
def ctx(app):
    with app.test_request_context():
        yield


def section(sections, key):
    found = [s for s in sections if s.key == key]
    assert found, f"no section {key} in {[s.key for s in sections]}"
    return found[0]


def labels(sections, key):
    return [i.label for i in section(sections, key).items]


def report_version(code, period, status, comment=None, number=1):
    lot_obj = lot(code)
    report = db.session.scalar(sa.select(Report).where(Report.lot_id == lot_obj.id, Report.period == period))
    if report is None:
        y, m = map(int, period.split("-"))
        report = Report(lot_id=lot_obj.id, period=period, period_start=date(y, m, 1),
                        due_on=date(y + (m == 12), m % 12 + 1, 10))
        db.session.add(report)
        db.session.flush()
    v = ReportVersion(report_id=report.id, lot_id=lot_obj.id, number=number, status=VersionStatus.DRAFT)
    db.session.add(v)
    db.session.flush()
    if status != VersionStatus.DRAFT:
        v.submitted_at = datetime(2025, 4, 2, 9)
        v.decision_comment = comment
        if status in (VersionStatus.VALIDATED, VersionStatus.REJECTED):
            v.decided_at = datetime(2025, 4, 2, 15)
        move(v, status)
    return v


# --------------------------------------------------------------------------- mandataire

def test_this_months_report_until_submitted(ctx, users):
    me = users["mandataire"]
    due = labels(service.mandataire_todo(me, TODAY), "reports")
    assert "Reporting de mars 2025" in due
    item = section(service.mandataire_todo(me, TODAY), "reports").items[-1]
    assert item.detail == "à déposer avant le 10/04/2025" and not item.late
    assert item.url == "/lots/IDF/reporting/2025-03"
    # February was due on 10 March: late
    feb = [i for i in section(service.mandataire_todo(me, TODAY), "reports").items
           if i.label == "Reporting de février 2025"][0]
    assert feb.late and feb.detail == "en retard de 24 jours (attendu le 10/03/2025)"
    report_version("IDF", "2025-03", VersionStatus.SUBMITTED)
    db.session.commit()
    assert "Reporting de mars 2025" not in labels(service.mandataire_todo(me, TODAY), "reports")


def test_rejected_version_with_its_reason_until_replaced(ctx, users):
    report_version("IDF", "2025-02", VersionStatus.REJECTED, comment="Effectifs UO1 incohérents")
    db.session.commit()
    mine = section(service.mandataire_todo(users["mandataire"], TODAY), "rejected").items
    assert [(i.label, i.detail) for i in mine] == [
        ("Reporting de février 2025, version 1 rejetée le 02/04/2025", "Motif : Effectifs UO1 incohérents")]
    assert section(service.mandataire_todo(users["other_mandataire"], TODAY), "rejected").items == []
    report_version("IDF", "2025-02", VersionStatus.SUBMITTED, number=2)
    db.session.commit()
    assert section(service.mandataire_todo(users["mandataire"], TODAY), "rejected").items == []


def test_certified_statement_awaits_an_invoice_of_its_own_lot_only(ctx, users):
    idf = lot("IDF")
    make_validated(idf, "2025-01", [("UO1", 6, 2)])
    st = billing.refresh_statement(idf, "2025-01")
    billing.certify(st.id, users["finance"])
    db.session.commit()
    mine = section(service.mandataire_todo(users["mandataire"], TODAY), "statements").items
    assert len(mine) == 1 and mine[0].url == f"/etats/{st.id}/facture"
    assert mine[0].label.startswith(f"État liquidatif {st.number} — janvier 2025 : ")
    assert section(service.mandataire_todo(users["other_mandataire"], TODAY), "statements").items == []
    billing.record_invoice(st, users["mandataire"], number="F-1", issued_on=date(2025, 3, 1),
                           received_on=date(2025, 3, 3), amount_excl_tax=str(st.total_excl_tax),
                           vat=str(st.vat), amount_incl_tax=str(st.total_incl_tax),
                           file=("facture.pdf", PDF), today=date(2025, 3, 3))
    db.session.commit()
    assert section(service.mandataire_todo(users["mandataire"], TODAY), "statements").items == []
    # the invoice now waits for finance's decision
    fin = section(service.finance_todo(users["finance"], TODAY), "decide").items
    assert [i.url for i in fin] == [f"/factures/{st.live_invoice.id}"]


def test_unread_messages_of_the_lot(ctx, users):
    notify(kind="test", subject="Pièce manquante", body="…", lot_id=lot("IDF").id)
    db.session.commit()
    assert labels(service.mandataire_todo(users["mandataire"], TODAY), "messages") == ["Pièce manquante"]
    assert labels(service.mandataire_todo(users["other_mandataire"], TODAY), "messages") == []
    from fc_market.notifications.models import Notification
    note = db.session.scalar(sa.select(Notification))
    item = section(service.mandataire_todo(users["mandataire"], TODAY), "messages").items[0]
    assert item.url == f"/accueil/messages/{note.id}"


def test_opening_a_message_marks_it_read(login, users):
    note = notify(kind="test", subject="Pièce manquante", body="…", lot_id=lot("IDF").id,
                  link="/lots/IDF/reporting")
    db.session.commit()
    other = login("other_mandataire").get(f"/accueil/messages/{note.id}")
    assert other.status_code == 302 and other.headers["Location"] == "/messages"  # not read
    db.session.refresh(note)
    assert note.read_at is None
    response = login("mandataire").get(f"/accueil/messages/{note.id}")
    assert response.status_code == 302 and response.headers["Location"] == "/lots/IDF/reporting"
    db.session.refresh(note)
    assert note.read_at is not None
    page = login("mandataire").get("/accueil").get_data(as_text=True)
    assert "Aucun message non lu." in page


# ------------------------------------------------------------------------------ manager

def test_manager_review_queue_and_late_reports(ctx, users):
    v = report_version("BRE", "2025-03", VersionStatus.SUBMITTED)
    db.session.commit()
    todo = service.manager_todo(users["manager"], TODAY)
    assert labels(todo, "review") == ["Lot BRE — reporting de mars 2025, version 1"]
    assert section(todo, "review").items[0].url == f"/reporting/versions/{v.id}"
    late = labels(todo, "late")
    assert "Lot IDF — reporting de février 2025 non déposé" in late
    assert "Lot BRE — reporting de février 2025 non déposé" in late
    assert not any("mars 2025" in l for l in late)  # not due before 10 April
    move(v, VersionStatus.VALIDATED)
    db.session.commit()
    assert section(service.manager_todo(users["manager"], TODAY), "review").items == []


# ------------------------------------------------------------------------------ finance

def test_finance_statements_to_certify_until_certified(ctx, users):
    idf = lot("IDF")
    make_validated(idf, "2025-02", [("UO1", 6, 1)])
    st = billing.refresh_statement(idf, "2025-02")
    db.session.commit()
    items = section(service.finance_todo(users["finance"], TODAY), "certify").items
    assert [i.url for i in items] == [f"/etats/{st.id}"]
    assert "février 2025" in items[0].label
    billing.certify(st.id, users["finance"])
    db.session.commit()
    assert section(service.finance_todo(users["finance"], TODAY), "certify").items == []


def test_interest_deadline_is_45_days_after_the_principal(ctx, users):
    """Invoice received 03/03/2025, 30-day term: due 02/04/2025; paid 12/04/2025 (10 days
    late); interest and indemnity due by 12/04 + 45 days = 27/05/2025 (R. 2192-36)."""
    billing.add_ecb_rate(date(2024, 12, 18), Decimal("3.15"))
    cvl = lot("CVL")
    make_validated(cvl, "2025-01", [])
    st = billing.refresh_statement(cvl, "2025-01")
    billing.certify(st.id, users["finance"])
    inv = billing.record_invoice(st, users["finance"],
                                 number="F-1", issued_on=date(2025, 3, 1), received_on=date(2025, 3, 3),
                                 amount_excl_tax="14750.00", vat="2950.00", amount_incl_tax="17700.00",
                                 file=("facture.pdf", PDF), today=date(2025, 3, 3))
    billing.decide(inv.id, users["finance"], "accept", today=date(2025, 3, 5))
    db.session.commit()
    overdue = section(service.finance_todo(users["finance"], date(2025, 4, 10)), "overdue").items
    assert [i.label for i in overdue] == ["Lot CVL — facture F-1 : reste 17\u202f700,00\xa0€"]
    assert overdue[0].detail == "Échue le 02/04/2025, 8 jour(s) de retard"
    billing.record_payment(inv, users["finance"], paid_on=date(2025, 4, 12), amount=Decimal("17700.00"))
    db.session.commit()
    todo = service.finance_todo(users["finance"], date(2025, 4, 20))
    assert section(todo, "overdue").items == []
    interest = section(todo, "interest").items
    assert len(interest) == 1 and interest[0].due_on == date(2025, 5, 27) and not interest[0].late
    # 17 700,00 × (3,15 + 8) % × 10 / 365 = 54,07 € ; indemnity 40,00 €
    assert interest[0].label == "Lot CVL — facture F-1 : 54,07\xa0€ d'intérêts + 40,00\xa0€ d'indemnité"
    billing.settle_interest(inv, users["finance"], paid_on=date(2025, 4, 20), today=date(2025, 4, 20))
    db.session.commit()
    assert section(service.finance_todo(users["finance"], date(2025, 4, 20)), "interest").items == []


# -------------------------------------------------------------------------------- admin

def test_admin_locked_accounts(ctx, users):
    now = utcnow()
    assert section(service.admin_todo(users["admin"], TODAY, now), "locked").items == []
    users["mandataire"].locked_until = now + timedelta(minutes=10)
    db.session.commit()
    locked = section(service.admin_todo(users["admin"], TODAY, now), "locked").items
    assert [i.label for i in locked] == ["Mandataire IDF (m.idf@test.fr)"]
    assert section(service.admin_todo(users["admin"], TODAY, now), "accounts").summary == \
        "5 compte(s) actif(s), 0 désactivé(s)."


# ------------------------------------------------------------------------------ screens

@pytest.mark.parametrize("role, heading", [("mandataire", "Reporting mensuel à déposer"),
                                           ("manager", "Reportings déposés à examiner"),
                                           ("finance", "États liquidatifs à certifier"),
                                           ("admin", "Comptes verrouillés")])
def test_each_role_lands_on_its_todo_home(login, role, heading):
    browser = login(role)
    assert browser.get("/").headers["Location"].endswith("/accueil")
    page = browser.get("/accueil")
    assert page.status_code == 200
    assert heading in page.get_data(as_text=True)


def test_interruption_awaits_the_mandataires_documents_until_received(ctx, users):
    """The payment clock (branch clock): an interrupted invoice shows on its lot's home only,
    until finance records the documents' receipt."""
    cvl = lot("CVL")
    make_validated(cvl, "2025-01", [])
    st = billing.refresh_statement(cvl, "2025-01")
    billing.certify(st.id, users["finance"])
    inv = billing.record_invoice(st, users["finance"], number="F-7", issued_on=date(2025, 3, 1),
                                 received_on=date(2025, 3, 3), amount_excl_tax="14750.00",
                                 vat="2950.00", amount_incl_tax="17700.00",
                                 file=("facture.pdf", PDF), today=date(2025, 3, 3))
    billing.interrupt(inv, users["finance"], notified_on=date(2025, 3, 10), reasons="RIB absent",
                      documents_expected="Relevé d'identité bancaire", today=date(2025, 3, 10))
    db.session.commit()
    from fc_market.auth.service import create_user
    from tests.conftest import PASSWORD
    cvl_user = create_user("m.cvl@test.fr", "Mandataire CVL", "mandataire", PASSWORD, cvl)
    db.session.commit()
    items = section(service.mandataire_todo(cvl_user, TODAY), "interruptions").items
    assert [(i.label, i.detail) for i in items] == [
        ("Facture F-7 : délai interrompu le 10/03/2025", "Documents attendus : Relevé d'identité bancaire")]
    assert section(service.mandataire_todo(users["mandataire"], TODAY), "interruptions").items == []
    billing.record_documents_received(inv, users["finance"], date(2025, 3, 20), today=date(2025, 3, 20))
    db.session.commit()
    assert section(service.mandataire_todo(cvl_user, TODAY), "interruptions").items == []


def test_finance_sees_the_last_figures_check(ctx, users):
    from fc_market.audit.models import FiguresAudit
    assert section(service.finance_todo(users["finance"], TODAY), "figures").summary == \
        "Le contrôle de cohérence n'a pas encore été exécuté."
    db.session.add(FiguresAudit(ran_at=datetime(2025, 4, 2, 3), ok=False, checked=1250,
                                disagreement_count=2, result={}))
    db.session.commit()
    figures = section(service.finance_todo(users["finance"], TODAY), "figures")
    assert figures.summary == "Dernier contrôle le 02/04/2025 : 2 désaccord(s) sur 1\u202f250 chiffres comparés."
    assert figures.items and figures.items[0].late
