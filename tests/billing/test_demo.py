"""The controls and billing demo steps run on top of thin reporting data and produce every
case the finance screens show."""
from datetime import date

import sqlalchemy as sa

from fc_market.billing.models import EcbRate, Invoice, PayableStatement, Payment, PaymentImport
from fc_market.controls.models import ControlCampaign
from fc_market.demo.seed import SeedContext
from fc_market.extensions import db
from fc_market.market.dates import add_months, period_of
from tests.billing.helpers import lot, make_validated


def _months(first, count):
    return [period_of(add_months(first, i)) for i in range(count)]


def _seed_two_lots(market):
    """IDF and BRE: 24 validated months each (one in five late), then the controls and
    billing demo steps on 23 November 2026; returns the seed context."""
    from fc_market.billing import demo as billing_demo
    from fc_market.controls import demo as controls_demo
    for code in ("IDF", "BRE"):
        for i, period in enumerate(_months(date(2024, 11, 1), 24)):
            make_validated(lot(code), period, [("UO1", 3, 6 + i % 3), ("UO2.1", 9, 4)],
                           days_late=3 if i % 5 == 0 else 0)
    ctx = SeedContext(today=date(2026, 11, 23), market=market, lots=[lot("IDF"), lot("BRE")])
    controls_demo.seed(ctx)
    billing_demo.seed(ctx)
    return ctx


def test_demo_steps(market, users):
    ctx = _seed_two_lots(market)
    today = ctx.today
    db.session.commit()
    campaigns = db.session.scalars(sa.select(ControlCampaign)).all()
    assert {c.status for c in campaigns} == {"open", "closed"}
    statuses = {s for s in db.session.scalars(sa.select(PayableStatement.status))}
    assert statuses == {"open", "certified"}
    invoice_states = set(db.session.scalars(sa.select(Invoice.status)))
    assert {"accepted", "received", "rejected"} <= invoice_states
    from fc_market.billing.models import InvoiceInterruption
    interruptions = db.session.scalars(sa.select(InvoiceInterruption)).all()
    assert {i.is_open for i in interruptions} == {True, False}
    assert all(i.documents for i in interruptions if not i.is_open)
    assert db.session.scalar(sa.select(sa.func.count()).where(Invoice.match_status == "mismatch"))
    assert db.session.scalar(sa.select(sa.func.count()).where(Invoice.kind == "credit_note"))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Payment)) > 10
    batch = db.session.scalar(sa.select(PaymentImport))
    assert batch.unmatched == 1 and batch.added > 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(EcbRate)) == 18
    from fc_market.billing import service
    assert service.interest_owed(today), "late payments must show moratorium interest"
    settled = service.interest_settled()
    assert settled, "older late payments must show settled interest"
    assert all(s.total > 0 and s.paid_on <= today for s in settled)
    owed_ids = {inv.id for inv, _ in service.interest_owed(today)}
    assert not owed_ids & {s.invoice_id for s in settled}
    assert any("Liquidation" in n for n in ctx.notes)
    # the demo's certified statements and recorded invoices form intact hash chains
    chains = service.verify_chains()
    assert [c.broken for c in chains] == [None] * len(chains), [c.message for c in chains]
    assert sum(c.checked for c in chains) == (
        db.session.scalar(sa.select(sa.func.count()).where(PayableStatement.number.is_not(None)))
        + db.session.scalar(sa.select(sa.func.count()).select_from(Invoice)))


def test_demo_steps_without_reporting(market, users):
    from fc_market.billing import demo as billing_demo
    from fc_market.controls import demo as controls_demo
    ctx = SeedContext(today=date(2026, 11, 23), market=market, lots=[lot("IDF")])
    controls_demo.seed(ctx)
    billing_demo.seed(ctx)
    assert any("aucun" in n for n in ctx.notes)


def test_what_may_be_owed_is_read_first_and_changes_no_figure(market, users, app):
    """interest_owed and the finance home read only the invoices maybe_owed finds possibly
    owed or paid late: the same invoices, amounts and items as reading every invoice."""
    from fc_market.billing import service
    from fc_market.home import service as home
    today = _seed_two_lots(market).today
    db.session.flush()
    db.session.expire_all()  # as a request reads them: no relationship loaded before
    every = db.session.scalars(service.payable_invoices_query().options(
        sa.orm.selectinload(Invoice.interest_settlement))).all()
    unpaid, late = service.maybe_owed()
    assert unpaid <= late <= {i.id for i in every} and unpaid and len(late) < len(every)
    assert {i.id for i in every if service.outstanding(i) > 0} <= unpaid

    def owed(rows):
        return [(inv.id, res.interest, res.flat_indemnity, res.unpaid, res.due_date)
                for inv, res in rows]
    seen = 0
    for as_of in (today, date(2026, 3, 1), date(2025, 9, 15), date(2025, 4, 30)):
        for lot_ids in (None, [lot("BRE").id]):
            full = owed(service.interest_owed(as_of, lot_ids, invoices=every))
            assert owed(service.interest_owed(as_of, lot_ids)) == full, (as_of, lot_ids)
            seen += len(full)
    assert seen > 5
    items = 0
    with app.test_request_context():
        for as_of in (today, date(2026, 3, 1), date(2025, 9, 15)):
            for section in ("_invoices_overdue", "_interest_to_pay"):
                fast = getattr(home, section)(as_of, home._payable_invoices())
                slow = getattr(home, section)(as_of, every)
                assert [(i.label, i.url, i.due_on, i.detail, i.late) for i in fast.items] == \
                    [(i.label, i.url, i.due_on, i.detail, i.late) for i in slow.items], (as_of, section)
                items += len(slow.items)
    assert items >= 3
