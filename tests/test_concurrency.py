"""Two people doing the same thing at the same moment, through the real HTTP routes, each in
their own thread with their own session and database connection: two managers deciding on the
same report, two finance officers certifying the same statement, importing the same payment
file or recording the same interest payment.  One wins, the other reads a clear French message, and nothing is doubled.

Runs on SQLite (writes are serialised by the database lock) and on PostgreSQL (row locks,
version columns, unique constraints).  The service-level races are in tests/billing and
tests/reporting; these go through the screens people use.
"""
import html
import threading
from io import BytesIO
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


def _uploaded_files(app):
    import os
    folder = app.config["UPLOAD_FOLDER"]
    return sorted(f for _, _, names in os.walk(folder) for f in names)


def _credit_note_form(number, incl, excl, vat):
    import io
    return {"number": number, "issued_on": date.today().isoformat(), "amount_excl_tax": excl,
            "vat": vat, "amount_incl_tax": incl, "reason": "Erreur de facturation",
            "file": (io.BytesIO(PDF), "avoir.pdf")}


@pytest.fixture
def mandataires(app, users):
    """Two mandataire accounts of CVL (the invoices are CVL's), each in their own browser."""
    made = [create_user(f"m{i}.cvl@test.fr", f"Mandataire CVL {i}", "mandataire", PASSWORD, lot("CVL"))
            for i in (1, 2)]
    db.session.commit()
    return [Browser(app, user) for user in made]


def test_two_full_credit_notes_on_one_invoice_credit_it_once(app, users, mandataires):
    """Finding 4: both were accepted (200 % credited).  Under the lock on the invoice the
    second reads the first and is refused: what is credited never exceeds the invoice."""
    from fc_market.billing.models import Invoice
    inv = cvl_invoice(users)  # 17 700,00 TTC
    db.session.commit()
    files = _uploaded_files(app)
    url = f"/factures/{inv.id}/avoir"

    def credit(browser, number):
        return lambda: post(browser, url, data=_credit_note_form(number, "17700.00", "14750.00",
                                                                  "2950.00"),
                            content_type="multipart/form-data")

    responses = race(app, credit(mandataires[0], "AV-A"), credit(mandataires[1], "AV-B"))
    texts = [page(r) for r in responses]
    won = [i for i, t in enumerate(texts) if "enregistré." in t and "Avoir AV-" in t]
    assert len(won) == 1, [(r.status_code, t[:2000]) for r, t in zip(responses, texts)]
    loser, lost = responses[1 - won[0]], texts[1 - won[0]]
    if db.engine.dialect.name == "postgresql":  # the row lock: the second reads the first
        assert loser.status_code == 200 and "dépasse le montant restant dû" in lost, lost[:3000]
    else:  # SQLite: the optimistic counter, or the cap if it read after the commit
        assert (loser.status_code == 409 and "modifiée par quelqu&#39;un d&#39;autre" in lost) or \
            "dépasse le montant restant dû" in lost, lost[:3000]
    db.session.expire_all()
    notes = db.session.scalars(sa.select(Invoice).where(Invoice.corrects_id == inv.id)).all()
    assert [n.amount_incl_tax for n in notes] == [Decimal("17700.00")]
    assert billing.amount_due(db.session.get(Invoice, inv.id)) == 0
    assert len(_uploaded_files(app)) == len(files) + 1  # the loser's file is not kept
    assert audit_count("billing.credit_note") == 1


def test_one_credit_note_number_recorded_twice_at_once_is_a_conflict(app, users, mandataires,
                                                                     monkeypatch):
    """Two credit notes with the same number on two invoices of the lot: the unique number
    refuses the second insert; it reads the French conflict page (409), never a 500, and no
    file of it stays on disk."""
    from fc_market.billing.models import Invoice
    first = cvl_invoice(users)
    cvl = lot("CVL")
    make_validated(cvl, "2025-02", [])
    st = billing.refresh_statement(cvl, "2025-02")
    billing.certify(st.id, users["finance"])
    other = billing.record_invoice(st, users["mandataire"], number="F-2025-002",
                                   issued_on=date(2025, 4, 1), received_on=date(2025, 4, 2),
                                   amount_excl_tax="14750.00", vat="2950.00",
                                   amount_incl_tax="17700.00", file=("facture.pdf", PDF),
                                   today=date(2025, 4, 2))
    db.session.commit()
    files = _uploaded_files(app)

    def credit(browser, invoice_id):
        return lambda: post(browser, f"/factures/{invoice_id}/avoir",
                            data=_credit_note_form("AV-X", "120.00", "100.00", "20.00"),
                            content_type="multipart/form-data")

    if db.engine.dialect.name == "postgresql":
        # both requests pass the number check before either inserts (released together, one
        # could otherwise finish before the other starts and simply see its number): each
        # waits for the other right after the check, at the PDF's inspection
        from fc_market import storage
        gate, inspect, waited = threading.Barrier(2, timeout=10), storage.check, threading.local()

        def inspect_then_wait(*args, **kwargs):
            result = inspect(*args, **kwargs)
            if not getattr(waited, "done", False):  # the first inspection only: the next
                waited.done = True                  # ones come after the ledger's lock
                gate.wait()
            return result
        monkeypatch.setattr(storage, "check", inspect_then_wait)
    responses = race(app, credit(mandataires[0], first.id), credit(mandataires[1], other.id))
    texts = [page(r) for r in responses]
    codes = sorted(r.status_code for r in responses)
    assert 500 not in codes, texts
    won = [t for t in texts if "Avoir AV-X enregistré." in t]
    assert len(won) == 1, [(r.status_code, t[:2000]) for r, t in zip(responses, texts)]
    lost = next(t for t in texts if t is not won[0])
    if db.engine.dialect.name == "postgresql":  # both passed the check, the index refused one
        assert codes == [200, 409], [(r.status_code, t[:2000]) for r, t in zip(responses, texts)]
        assert "« AV-X » vient d&#39;être enregistré pour ce lot par quelqu&#39;un d&#39;autre" in lost
    else:  # SQLite serialises the two: the second sees the first
        assert "déjà enregistré" in lost or "vient d&#39;être enregistré" in lost, lost[:3000]
    db.session.expire_all()
    assert count(Invoice, Invoice.number == "AV-X") == 1
    assert len(_uploaded_files(app)) == len(files) + 1


@pytest.mark.parametrize("existing_draft", [False, True])
def test_two_uploads_of_the_same_period_at_once(app, users, login, existing_draft):
    """Two browsers of the operator upload the month at the same moment: one file is loaded,
    the other reads the French conflict message, and both attempts are in the import journal
    (they used to answer 500: StaleDataError on PostgreSQL, "database is locked" on SQLite)."""
    from fc_market.reporting import service
    from fc_market.reporting.models import Act, Report, ReportImport, ReportVersion
    add_sites()
    idf = lot("IDF")
    period = "2025-03"
    if existing_draft:  # the race is then on the draft's version counter
        assert service.import_file(idf, period, make_file("IDF", period, [row(1)]),
                                   user=users["mandataire"]).accepted
        db.session.commit()
    journal_before = count(ReportImport)
    files = [make_file("IDF", period, [row(i) for i in range(1, 40)]),
             make_file("IDF", period, [row(i) for i in range(40, 80)])]
    browsers = [login("mandataire"), login("mandataire")]

    def upload(browser, data):
        return lambda: post(browser, f"/lots/IDF/reporting/{period}/depot",
                            data={"file": (BytesIO(data), "rapport.xlsx", XLSX)},
                            content_type="multipart/form-data")

    responses = race(app, *(upload(b, f) for b, f in zip(browsers, files)))
    texts = [html.unescape(page(r)) for r in responses]
    assert [r.status_code for r in responses] == [200, 200], [t[:500] for t in texts]
    db.session.expire_all()
    journal = db.session.scalars(sa.select(ReportImport).order_by(ReportImport.id)).all()[journal_before:]
    assert len(journal) == 2, [(j.accepted, j.errors) for j in journal]
    accepted = [j for j in journal if j.accepted]
    refused = [j for j in journal if not j.accepted]
    assert len(accepted) >= 1
    for entry in refused:   # the loser: the conflict, in French, and nothing else written
        assert [e["message"] for e in entry.errors] == [CONFLICT], entry.errors
    for text in texts:
        assert "Fichier accepté" in text or CONFLICT in text, text[text.find("<main>"):][:1500]
    assert count(Report, Report.lot_id == idf.id, Report.period == period) == 1
    draft = db.session.scalar(sa.select(ReportVersion).join(Report).where(
        Report.lot_id == idf.id, Report.period == period, ReportVersion.status == "draft"))
    # the draft holds exactly the last accepted file's acts
    last = max(accepted, key=lambda j: j.id)
    assert draft.act_count == last.row_count - 0 and count(Act, Act.version_id == draft.id) == draft.act_count


CONFLICT = ("Un autre dépôt de ce rapport a eu lieu au même moment : rien n'a été enregistré, "
            "recommencez.")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_an_upload_blocked_by_another_writer_reads_the_conflict_and_is_journalled(app, users):
    """The loser's side, made deterministic: another connection holds the write lock (SQLite)
    or the draft's row lock (PostgreSQL) longer than this upload is willing to wait; the
    upload is refused with the conflict message and its journal line is written anyway,
    once the other writer lets go."""
    import sqlite3

    from fc_market.reporting import service
    from fc_market.reporting.models import Act, ReportImport
    add_sites()
    idf, period = lot("IDF"), "2025-03"
    first = service.import_file(idf, period, make_file("IDF", period, [row(1)]), user=users["mandataire"])
    db.session.commit()
    dialect = db.engine.dialect.name
    if dialect == "sqlite":
        holder = sqlite3.connect(db.engine.url.database, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")                             # the database's write lock
        db.session.execute(sa.text("PRAGMA busy_timeout = 200"))    # this upload waits 0.2 s
    else:
        holder = db.engine.raw_connection()
        holder.cursor().execute("SELECT id FROM report_versions WHERE id = %s FOR UPDATE",
                                (first.version_id,))
        db.session.execute(sa.text("SET LOCAL lock_timeout = '200ms'"))
    release = threading.Timer(1.0, holder.rollback)
    release.start()
    try:
        result = service.import_file(idf, period, make_file("IDF", period, [row(2), row(3)]),
                                     user=users["mandataire"])
    finally:
        release.join()
        holder.close()
        if dialect == "sqlite":
            db.session.execute(sa.text("PRAGMA busy_timeout = 5000"))
    assert not result.accepted
    assert [e.message for e in result.errors] == [CONFLICT]
    db.session.expire_all()
    entry = db.session.get(ReportImport, result.import_id)
    assert entry is not None and not entry.accepted and entry.errors[0]["message"] == CONFLICT
    assert count(Act, Act.version_id == first.version_id) == 1      # the first file's act only
