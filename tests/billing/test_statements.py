"""Payable statements computed from validated reporting: hand-computed cases, freezing,
adjusting statements, events, gapless numbering, concurrent certification."""
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from fc_market.billing import service
from fc_market.billing.models import PayableStatement
from fc_market.extensions import db
from tests.billing.helpers import lot, make_validated


def syntec(value="310.5", month=date(2024, 10, 1), published=date(2024, 11, 28)):
    return service.add_index_value("Syntec", month, Decimal(value), published, illustrative=True)


def test_statement_without_revision_with_penalty(idf):
    # IDF, March 2024 (before the first revision date, 01/01/2025): prices of 01/01/2024.
    make_validated(idf, "2024-03", [("UO1", 5, 10), ("UO2.1", 12, 3)], days_late=4)
    st = service.refresh_statement(idf, "2024-03")
    lines = {(l.uo_code, l.kind): l for l in st.lines}
    # UO1: 10 × 150,00 = 1 500,00 ; UO2.1: 3 × 600,00 = 1 800,00
    assert lines[("UO1", "acts")].amount == Decimal("1500.00")
    assert lines[("UO2.1", "acts")].amount == Decimal("1800.00")
    # UO4: 845 000,00 / 12 = 84 500 000 cents = 12 × 7 041 666 + 8: months 1-8 get 70 416,67
    assert lines[("UO4", "lump_sum")].amount == Decimal("70416.67")
    assert st.subtotal == Decimal("73716.67")
    # VAT 20 % of 73 716,67 = 14 743,334 → 14 743,33 ; TTC 88 460,00
    assert st.vat == Decimal("14743.33") and st.total_incl_tax == Decimal("88460.00")
    # 4 days late × 100,00 = 400,00, outside the VAT scope: deducted from the TTC amount
    assert st.penalties == Decimal("400.00")
    assert st.amount_payable == Decimal("88060.00")
    assert st.revision_coefficient == Decimal("1")
    assert st.status == "open" and st.number is None


def test_mid_month_price_change_revision_and_capped_penalty(market):
    ara = lot("ARA")
    # Amendment 1: UO2.1 600,00 → 620,00 from 15/04/2025: two groups in April 2025
    make_validated(ara, "2025-04", [("UO2.1", 10, 2), ("UO2.1", 20, 3)], days_late=40)
    syntec()  # Syntec Oct. 2024 = 310,5, published 28/11/2024 (illustrative value)
    st = service.refresh_statement(ara, "2025-04")
    # C = 0,15 + 0,85 × 310,5 / 296,2 = 1,041036… → 1,0410 (4 decimals, half-up)
    assert st.revision_coefficient == Decimal("1.0410")
    acts = [l for l in st.lines if l.kind == "acts"]
    assert [(l.unit_price, l.quantity) for l in acts] == [(Decimal("600"), 2), (Decimal("620"), 3)]
    # 2 × 600 = 1 200,00 × 1,0410 = 1 249,20 ; 3 × 620 = 1 860,00 × 1,0410 = 1 936,26
    assert [l.amount for l in acts] == [Decimal("1249.20"), Decimal("1936.26")]
    assert [l.revision_adjustment for l in acts] == [Decimal("49.20"), Decimal("76.26")]
    # UO4 ARA 557 000,00: April = 4th month of the contract year → 46 416,67 × 1,0410
    # = 48 319,7534… → 48 319,75
    lump = next(l for l in st.lines if l.kind == "lump_sum")
    assert lump.gross_amount == Decimal("46416.67") and lump.amount == Decimal("48319.75")
    assert st.subtotal == Decimal("51505.21")
    # VAT: 51 505,21 × 20 % = 10 301,042 → 10 301,04 ; TTC 61 806,25
    assert st.vat == Decimal("10301.04") and st.total_incl_tax == Decimal("61806.25")
    # 40 days × 100,00 = 4 000,00, capped at 3 000,00 per report
    assert st.snapshot["penalty"]["raw_amount"] == "4000.00" and st.penalties == Decimal("3000.00")
    assert st.amount_payable == Decimal("58806.25")


def test_revision_uses_the_index_published_by_the_revision_date(idf):
    make_validated(idf, "2025-02", [("UO1", 3, 2)])
    # published after the revision date (01/01/2025): not usable for 2025
    syntec("320.0", date(2024, 12, 1), date(2025, 1, 30))
    st = service.refresh_statement(idf, "2025-02")
    assert st.revision_coefficient == Decimal("1")
    assert "aucune valeur" in " ".join(st.snapshot["context"]["warnings"])
    syntec("310.5")
    st = service.refresh_statement(idf, "2025-02")
    assert st.revision_coefficient == Decimal("1.0410")


def test_rounding_follows_the_contract(market):
    cvl = lot("CVL")
    cvl.contract.rounding = "down"
    db.session.flush()
    make_validated(cvl, "2024-01", [("UO0", 2, 1)])
    st = service.refresh_statement(cvl, "2024-01")
    # UO4 CVL 177 000,00 / 12 = 14 750,00 exactly; UO0 30,00 → subtotal 14 780,00
    assert st.subtotal == Decimal("14780.00")
    # VAT is rounded half-up whatever the line rounding: 2 956,00 exactly here
    assert st.vat == Decimal("2956.00")


def test_statement_follows_report_events_and_freezes_once_certified(idf, users):
    v1 = make_validated(idf, "2024-05", [("UO1", 6, 4)], emit=True)
    st = db.session.scalar(sa.select(PayableStatement).where(PayableStatement.lot_id == idf.id))
    assert st is not None and st.rank == 0 and st.status == "open"
    first_lines = {l.uo_code: l.quantity for l in st.lines}
    assert first_lines["UO1"] == 4
    # a correction before certification recomputes the same statement
    v2 = make_validated(idf, "2024-05", [("UO1", 6, 5)], emit=True, supersede=v1)
    db.session.refresh(st)
    assert {l.uo_code: l.quantity for l in st.lines}["UO1"] == 5
    certified = service.certify(st.id, users["finance"])
    db.session.commit()
    assert certified.number == f"EL-{date.today().year}-00001"
    frozen = {k: getattr(certified, k) for k in service.TOTALS}
    # a correction after certification: an adjusting statement, the certified one untouched
    make_validated(idf, "2024-05", [("UO1", 6, 7)], emit=True, supersede=v2)
    db.session.commit()
    statements = service.statements_of(idf.id, "2024-05")
    assert [s.rank for s in statements] == [0, 1]
    assert {k: getattr(statements[0], k) for k in service.TOTALS} == frozen
    assert statements[0].status == "certified"
    adj = statements[1]
    assert adj.status == "open" and adj.adjusts_id == statements[0].id
    # +2 UO1 acts × 150,00 = +300,00 HT, +60,00 VAT
    assert [(l.uo_code, l.quantity, l.amount) for l in adj.lines] == [("UO1", 2, Decimal("300.00"))]
    assert adj.total_excl_tax == Decimal("300.00") and adj.vat == Decimal("60.00")
    assert adj.amount_payable == Decimal("360.00")
    second = service.certify(adj.id, users["finance"])
    assert second.number == f"EL-{date.today().year}-00002"  # gapless


def test_unchanged_correction_makes_no_adjusting_statement(idf, users):
    v1 = make_validated(idf, "2024-06", [("UO1", 6, 4)], emit=True)
    st = service.statements_of(idf.id, "2024-06")[0]
    service.certify(st.id, users["finance"])
    make_validated(idf, "2024-06", [("UO1", 6, 4)], emit=True, supersede=v1)
    assert [s.rank for s in service.statements_of(idf.id, "2024-06")] == [0]


def test_certifying_twice_gives_a_clear_message(idf, users):
    make_validated(idf, "2024-07", [("UO1", 2, 1)])
    st = service.refresh_statement(idf, "2024-07")
    version = st.version_counter
    db.session.commit()
    service.certify(st.id, users["finance"], expected_version=version)
    db.session.commit()
    with pytest.raises(service.BillingError, match="déjà été certifié"):
        service.certify(st.id, users["finance"], expected_version=version)


def test_certifying_a_stale_page_is_refused(idf, users):
    make_validated(idf, "2024-08", [("UO1", 2, 1)])
    st = service.refresh_statement(idf, "2024-08")
    with pytest.raises(service.BillingError, match="recalculé ou modifié"):
        service.certify(st.id, users["finance"], expected_version=st.version_counter + 5)


def test_concurrent_certification_one_wins(app, idf, users):
    """Two sessions load the same open statement; both certify; the second gets a message."""
    make_validated(idf, "2024-09", [("UO1", 2, 1)])
    st = service.refresh_statement(idf, "2024-09")
    db.session.commit()
    statement_id, version = st.id, st.version_counter
    outcomes = []

    def attempt():
        with app.app_context():
            try:
                service.certify(statement_id, None, expected_version=version)
                db.session.commit()
                outcomes.append("ok")
            except service.BillingError as exc:
                db.session.rollback()
                outcomes.append(str(exc))
            finally:
                db.session.remove()

    import threading
    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes, key=len)[0] == "ok"
    assert outcomes.count("ok") == 1, outcomes
    loser = next(o for o in outcomes if o != "ok")
    assert "certifié" in loser or "autre utilisateur" in loser or "recalculé" in loser
    numbers = db.session.scalars(sa.select(PayableStatement.number)).all()
    assert numbers == [f"EL-{date.today().year}-00001"]


def test_withdrawn_report_withdraws_the_open_statement(idf):
    v1 = make_validated(idf, "2024-10", [("UO1", 2, 1)], emit=True)
    assert service.statements_of(idf.id, "2024-10")
    v1.status = "superseded"
    db.session.flush()
    from fc_market import events
    events.emit("report.superseded", v1)
    assert service.statements_of(idf.id, "2024-10") == []


def test_cli_prints_the_statement_as_json(app, idf):
    make_validated(idf, "2024-03", [("UO1", 5, 10)])
    db.session.commit()
    import json
    runner = app.test_cli_runner()
    result = runner.invoke(args=["billing", "statement", "IDF", "2024-03", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["lot"] == "IDF" and data["period"] == "2024-03"
    st = data["statements"][0]
    assert st["subtotal"] == "71916.67"  # 1 500,00 + 70 416,67
    assert st["lines"][0]["uo_code"] == "UO1" and st["lines"][0]["amount"] == "1500.00"
    bad = runner.invoke(args=["billing", "statement", "XXX", "2024-03", "--json"])
    assert bad.exit_code != 0 and "inconnu" in bad.output
