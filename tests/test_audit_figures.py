"""``audit figures``: the screens' totals recomputed independently; every disagreement listed
with where it is shown; exit code 1; the nightly job stores its result for finance and
administrators."""
import json
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from fc_market.consistency import figures
from fc_market.audit.models import FiguresAudit
from fc_market.billing import service
from fc_market.billing.models import PayableStatementLine
from fc_market.extensions import db
from tests.billing.helpers import PDF, lot, make_validated


@pytest.fixture
def paid_month(market, users):
    """IDF March 2024: 10 UO1 + 3 UO2.1, certified, invoiced as certified and partly paid;
    April 2024: 2 UO1, statement still open (provisional)."""
    idf = lot("IDF")
    make_validated(idf, "2024-03", [("UO1", 5, 10), ("UO2.1", 12, 3)], days_late=4)
    make_validated(idf, "2024-04", [("UO1", 8, 2)])
    st = service.refresh_statement(idf, "2024-03")
    service.refresh_statement(idf, "2024-04")
    service.certify(st.id, users["finance"])
    inv = service.record_invoice(st, users["mandataire"], number="F-03", issued_on=date(2024, 4, 20),
                                 received_on=date(2024, 4, 22), amount_excl_tax="73716.67",
                                 vat="14743.33", amount_incl_tax="88460.00", file=("f.pdf", PDF),
                                 today=date(2024, 4, 22))
    service.decide(inv.id, users["finance"], "accept", today=date(2024, 4, 23))
    service.record_payment(inv, users["finance"], paid_on=date(2024, 5, 15), amount="50000.00",
                           today=date(2024, 5, 15))
    from fc_market.steering.aggregates import rebuild_all
    rebuild_all()
    db.session.commit()
    return st, inv


def test_consistent_data_passes(paid_month):
    result = figures.run(date(2024, 6, 1))
    assert result["ok"], figures.summary_fr(result)
    checks = result["checks"]
    # volumes: total + per-UO of two months ; statements: each act line's gross amount
    # (March UO1, UO2.1 ; April UO1) and each month's act quantities ; finance: 6 terms + the
    # identity for each of the 18 lots ; coverage: population and covered population, 18 lots
    assert checks["volumes"]["compared"] == 4
    assert checks["statements"]["compared"] == 5
    assert checks["finance"]["compared"] == 18 * 7
    assert checks["coverage"]["compared"] == 18 * 2
    assert checks["invoices"]["compared"] == 1   # Montant dû (not settled yet: no delay)


def test_every_disagreement_is_listed_with_where_it_is_shown(paid_month, app, monkeypatch):
    from fc_market.billing.models import PayableStatement
    april = db.session.scalar(sa.select(PayableStatement).where(PayableStatement.period == "2024-04"))
    # a line of the provisional April statement that no longer matches the acts: 3 UO1 billed
    # for 2 acts (a certified statement's lines cannot change at all: the ledger refuses it)
    line = db.session.scalar(sa.select(PayableStatementLine).where(
        PayableStatementLine.statement_id == april.id, PayableStatementLine.uo_code == "UO1"))
    line.quantity = 3
    db.session.commit()
    # and a finance figure shown wrong (a bug in the function the screens call)
    real = service.finance_figures

    def wrong(lot_ids, year, as_of=None):
        out = real(lot_ids, year, as_of)
        out[lot("IDF").id]["paid"] += Decimal("0.01")
        return out
    monkeypatch.setattr(service, "finance_figures", wrong)

    result = figures.run(date(2024, 6, 1))
    assert not result["ok"]
    by_check = {}
    for d in result["disagreements"]:
        by_check.setdefault(d["check"], []).append(d)
    statement = by_check["statements"]
    # the line's gross amount is 3 × 150,00 = 450,00 by its own arithmetic but 300,00 is
    # stored; and the month bills 3 UO1 for 2 acts
    assert {d["what"] for d in statement} == {
        "montant au prix de base de la ligne UO1 (3 × 150.00)",
        "actes facturés par UO et prix unitaire"}
    assert all(d["where"] == f"/etats/{april.id} (IDF 2024-04)" for d in statement)
    qty = next(d for d in statement if d["what"].startswith("actes"))
    assert qty["shown"]["UO1 à 150.00"] == 3 and qty["expected"]["UO1 à 150.00"] == 2
    finance = by_check["finance"]
    assert [(d["what"], d["shown"], d["expected"]) for d in finance] == [
        ("colonne Payé", "50000.01", "50000.00"),
        ("Facturé − Avoirs − Pénalités déduites − Au-delà du certifié − Payé = Reste à payer",
         "38060.00", "38059.99")]
    assert "/finances?annee=2024" in finance[0]["where"] and "(IDF)" in finance[0]["where"]

    runner = app.test_cli_runner()
    out = runner.invoke(args=["audit", "figures", "--json", "--date", "2024-06-01"])
    assert out.exit_code == 1
    assert len(json.loads(out.output)["disagreements"]) == 4
    text = runner.invoke(args=["audit", "figures", "--date", "2024-06-01"])
    assert text.exit_code == 1 and "4 désaccord(s)" in text.output and "/etats/" in text.output
    monkeypatch.setattr(service, "finance_figures", real)
    line.quantity = 2
    db.session.commit()
    ok = runner.invoke(args=["audit", "figures", "--date", "2024-06-01"])
    assert ok.exit_code == 0, ok.output
    assert "aucun désaccord" in ok.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(FiguresAudit)) == 3


def test_volume_disagreement_names_the_dashboard(paid_month):
    from fc_market.steering.models import LotMonthStat
    stat = db.session.scalar(sa.select(LotMonthStat).where(LotMonthStat.lot_id == lot("IDF").id,
                                                           LotMonthStat.period == "2024-03"))
    stat.acts = 12
    db.session.commit()
    result = figures.run(date(2024, 6, 1), checks=["volumes"])
    assert [(d["what"], d["shown"], d["expected"]) for d in result["disagreements"]] == [
        ("actes du mois", 12, 13)]
    assert "/pilotage/lots/IDF" in result["disagreements"][0]["where"]


def test_nightly_job_stores_the_result_shown_to_finance_and_admins(paid_month, login):
    from fc_market.scheduler.registry import load_jobs, run_once
    assert "audit.figures" in load_jobs()
    run = run_once("audit.figures", now=date(2024, 6, 1), run_key="2024-06-01")
    assert run.status == "done", run.detail
    last = figures.last_audit()
    assert last.source == "scheduler" and last.ok and last.checked > 100
    for role in ("finance", "admin"):
        page = login(role).get("/finances?annee=2024").get_data(as_text=True)
        assert "Audit des chiffres" in page and "Aucun désaccord" in page, role
    assert "Audit des chiffres" not in login("manager").get("/finances?annee=2024").get_data(as_text=True)


def test_a_statement_not_recomputed_after_a_correction_is_caught(paid_month):
    st, _ = paid_month
    # the month's report is corrected (one UO1 act less) but the statement is not recomputed
    make_validated(lot("IDF"), "2024-03", [("UO1", 5, 9), ("UO2.1", 12, 3)],
                   supersede=st.report_version)
    db.session.commit()
    result = figures.run(date(2024, 6, 1), checks=["statements"])
    [d] = result["disagreements"]
    assert d["where"] == f"/etats/{st.id} (IDF 2024-03)"
    assert (d["shown"]["UO1 à 150.00"], d["expected"]["UO1 à 150.00"]) == (10, 9)
    # once recomputed (an adjusting statement of −1 UO1), the month agrees again
    service.refresh_statement(lot("IDF"), "2024-03")
    assert figures.run(date(2024, 6, 1), checks=["statements"])["ok"]
