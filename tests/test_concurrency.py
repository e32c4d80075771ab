"""Two people doing the same thing at the same moment, through the real HTTP routes, each in
their own thread with their own session and database connection: two managers deciding on the
same report, two finance officers certifying the same statement, importing the same payment
file or recording the same interest payment.  One wins, the other reads a clear French message, and nothing is doubled.

Runs on SQLite (writes are serialised by the database lock) and on PostgreSQL (row locks,
version columns, unique constraints).  The service-level races are in tests/billing and
tests/reporting; these go through the screens people use.
"""
import threading
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from fc_market.audit.models import AuditEntry
from fc_market.auth.service import create_user
from fc_market.billing import service as billing
from fc_market.billing.models import PayableStatement, Payment, PaymentImport, Reconciliation
from fc_market.extensions import db
from tests.billing.helpers import PDF, make_validated
from tests.conftest import PASSWORD, Browser
from tests.reporting.helpers import add_sites, lot, make_file, row


def race(app, *actions):
    """Run the actions in threads released together (each in its own application context,
    hence its own database session); returns their results in order."""
    barrier = threading.Barrier(len(actions))
    results = [None] * len(actions)

    def run(i, action):
        barrier.wait(timeout=10)
        try:
            with app.app_context():
                results[i] = action()
                db.session.remove()
        except BaseException as exc:  # reported by the test, never swallowed
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return results


def post(browser, url, **kwargs):
    """POST then follow the redirect as a browser would (the flashed message is on the next
    page).  Returns the final response."""
    response = browser.post(url, **kwargs)
    if response.status_code in (302, 303):
        response = browser.get(response.headers["Location"])
    return response


def page(response):
    """The text a person reads after the request (following the redirect, flashes included)."""
    return response.get_data(as_text=True)


def count(model, *where):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def audit_count(action):
    return count(AuditEntry, AuditEntry.action == action)


@pytest.fixture
def second(app, users):
    """A second account per FC role, so two different people act at once."""
    made = {"manager": create_user("manager2@test.fr", "Manager 2", "manager", PASSWORD),
            "finance": create_user("finance2@test.fr", "Finance 2", "finance", PASSWORD)}
    db.session.commit()
    return {role: Browser(app, user) for role, user in made.items()}


def test_two_managers_validate_the_same_report(app, users, login, second):
    from fc_market.reporting import service
    from fc_market.reporting.models import ReportVersion
    add_sites()
    idf = lot("IDF")
    result = service.import_file(idf, "2025-03", make_file("IDF", "2025-03", [row(1), row(2)]),
                                 user=users["mandataire"], submit=True)
    assert result.accepted
    db.session.commit()
    version = db.session.get(ReportVersion, result.version_id)
    url, counter = f"/reporting/versions/{version.id}", version.version_counter
    first = login("manager")
    for browser in (first, second["manager"]):
        assert browser.get(url).status_code == 200  # both have the page open

    def decide(browser):
        return lambda: post(browser, url + "/decision",
                                    data={"decision": "validate", "counter": counter})

    responses = race(app, decide(first), decide(second["manager"]))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 409], [(r.status_code, page(r)[:300]) for r in responses]
    winner = next(r for r in responses if r.status_code == 200)
    loser = next(r for r in responses if r.status_code == 409)
    assert "Décision enregistrée" in page(winner)
    assert "traitée par une autre personne de France compétences" in page(loser)
    db.session.expire_all()
    assert db.session.get(ReportVersion, version.id).status == "validated"
    assert audit_count("reporting.validate") == 1
    # report.validated ran once: one payable statement for the month, not two
    assert count(PayableStatement, PayableStatement.lot_id == idf.id,
                 PayableStatement.period == "2025-03") == 1


def test_two_finance_officers_certify_the_same_statement(app, users, login, second):
    idf = lot("IDF")
    make_validated(idf, "2024-09", [("UO1", 2, 3)])
    st = billing.refresh_statement(idf, "2024-09")
    db.session.commit()
    url, version = f"/etats/{st.id}", st.version_counter
    first = login("finance")

    def certify(browser):
        return lambda: post(browser, url + "/certification", data={"version": version})

    responses = race(app, certify(first), certify(second["finance"]))
    texts = [page(r) for r in responses]
    assert all(r.status_code == 200 for r in responses), texts
    won = [t for t in texts if "Service fait certifié : l&#39;état est figé et numéroté." in t]
    lost = [t for t in texts if t not in won]
    assert len(won) == 1 and len(lost) == 1, [t[:2000] for t in texts]
    assert any(words in lost[0] for words in ("déjà été certifié", "autre utilisateur",
                                             "recalculé ou modifié")), lost[0][:3000]
    db.session.expire_all()
    numbers = db.session.scalars(sa.select(PayableStatement.number)
                                 .where(PayableStatement.number.is_not(None))).all()
    year = date.today().year
    assert numbers == [f"EL-{year}-00001"]
    assert audit_count("billing.statement_certified") == 1
    # the numbering has no gap: the next certification takes 00002
    make_validated(idf, "2024-10", [("UO1", 2, 1)])
    nxt = billing.refresh_statement(idf, "2024-10")
    billing.certify(nxt.id, users["finance"])
    db.session.commit()
    assert nxt.number == f"EL-{year}-00002"


EXPORT = ("Facture;Date;Montant;Référence\n"
          "F-2025-001;20/03/2025;10 000,00;MAND-1\n"
          "F-2025-001;28/03/2025;7 700,00;MAND-2\n")


def cvl_invoice(users):
    """CVL's certified January 2025 (UO4 share only: 17 700,00 TTC) and its invoice F-2025-001,
    received on 03/03/2025."""
    cvl = lot("CVL")
    make_validated(cvl, "2025-01", [])
    st = billing.refresh_statement(cvl, "2025-01")
    billing.certify(st.id, users["finance"])
    return billing.record_invoice(st, users["mandataire"], number="F-2025-001",
                                  issued_on=date(2025, 3, 1), received_on=date(2025, 3, 3),
                                  amount_excl_tax="14750.00", vat="2950.00",
                                  amount_incl_tax="17700.00", file=("facture.pdf", PDF),
                                  today=date(2025, 3, 3))


def test_two_finance_officers_import_the_same_payment_file(app, users, login, second):
    inv = cvl_invoice(users)
    db.session.commit()
    first = login("finance")

    def upload(browser):
        from io import BytesIO
        return lambda: post(browser, "/paiements/import", data={
            "file": (BytesIO(EXPORT.encode("utf-8")), "export-comptable.csv")},
            content_type="multipart/form-data")

    responses = race(app, upload(first), upload(second["finance"]))
    texts = [page(r) for r in responses]
    assert all(r.status_code == 200 for r in responses), [t[:3000] for t in texts]
    added = [t for t in texts if "Import terminé : 2 paiement(s) ajouté(s)" in t]
    assert len(added) == 1, [t[:3000] for t in texts]
    other = next(t for t in texts if t is not added[0])
    # the loser was told it lost the race (PostgreSQL: unique fingerprint), or waited for the
    # winner's commit and found the lines already there or the invoice already paid (SQLite:
    # the fingerprints were read before the winner committed) — never a second payment
    assert ("viennent d&#39;être importés par un autre utilisateur" in other
            or "Import terminé : 0 paiement(s) ajouté(s), 2 déjà connu(s)" in other
            or ("Import terminé : 0 paiement(s) ajouté(s), 0 déjà connu(s), 2 ligne(s) non "
                "rapprochée(s)" in other and other.count("Facture déjà soldée") == 2)), other[:3000]
    db.session.expire_all()
    assert count(Payment) == 2 and count(Reconciliation) == 2
    assert sum(db.session.scalars(sa.select(Payment.amount))) == Decimal("17700.00")
    assert billing.outstanding(db.session.get(type(inv), inv.id)) == 0
    assert sum(db.session.scalars(sa.select(PaymentImport.added))) == 2


def test_two_finance_officers_record_the_same_interest_payment(app, users, login, second):
    from fc_market.billing.models import InterestSettlement
    billing.add_ecb_rate(date(2024, 12, 18), Decimal("3.15"))
    inv = cvl_invoice(users)
    billing.decide(inv.id, users["finance"], "accept", today=date(2025, 3, 4))
    billing.record_payment(inv, users["finance"], paid_on=date(2025, 4, 22), amount="17700.00",
                           today=date(2025, 4, 22))
    db.session.commit()
    first = login("finance")

    def settle(browser):
        url = f"/factures/{inv.id}/interets"  # read here, not in the threads sharing this session
        return lambda: post(browser, url,
                            data={"paid_on": "2025-05-20", "reference": "MDT-INT-1"})

    responses = race(app, settle(first), settle(second["finance"]))
    texts = [page(r) for r in responses]
    assert all(r.status_code == 200 for r in responses), [t[:3000] for t in texts]
    won = [t for t in texts if "Paiement des intérêts moratoires enregistré (148,14" in t]
    assert len(won) == 1, [t[:3000] for t in texts]
    lost = next(t for t in texts if t is not won[0])
    assert "déjà réglés" in lost or "viennent d&#39;être réglés par quelqu&#39;un d&#39;autre" in lost, lost[:3000]
    db.session.expire_all()
    assert count(InterestSettlement) == 1
    assert audit_count("billing.interest_settlement") == 1
