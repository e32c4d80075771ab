"""Lists run a fixed number of queries whatever their length (no query per row): the same
page is read with one and with three rows, and must cost the same number of queries."""
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa

from fc_market.billing import service as billing
from fc_market.extensions import db
from fc_market.notifications.service import notify
from tests.billing.helpers import PDF, lot, make_validated


@contextmanager
def counting(app):
    count = [0]

    def tick(*args, **kwargs):
        count[0] += 1

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", tick)
    try:
        yield count
    finally:
        sa.event.remove(engine, "before_cursor_execute", tick)


def queries(app, browser, url):
    with counting(app) as count:
        response = browser.get(url)
    assert response.status_code == 200, url
    return count[0]


def _late_invoice(code, period, users):
    """A certified month of ``code``, invoiced and paid 20 days late."""
    lot_obj = lot(code)
    make_validated(lot_obj, period, [])
    st = billing.refresh_statement(lot_obj, period)
    billing.certify(st.id, users["finance"])
    received = date(int(period[:4]), int(period[5:]), 1) + timedelta(days=40)
    inv = billing.record_invoice(st, users["mandataire"] if code == "IDF" else None,
                                 number=f"F-{code}-{period}", issued_on=received,
                                 received_on=received, amount_excl_tax=st.total_excl_tax,
                                 vat=st.vat, amount_incl_tax=st.total_incl_tax,
                                 file=("facture.pdf", PDF), today=received)
    billing.decide(inv.id, users["finance"], "accept", today=received)
    paid_on = received + timedelta(days=50)
    billing.record_payment(inv, users["finance"], paid_on=paid_on, amount=billing.amount_due(inv),
                           today=paid_on)
    db.session.commit()


def test_interest_list_costs_the_same_for_one_or_three_late_invoices(app, users, login):
    billing.add_ecb_rate(date(2024, 12, 18), Decimal("3.15"))
    db.session.commit()
    finance = login("finance")
    _late_invoice("CVL", "2025-01", users)
    one = queries(app, finance, "/interets")
    _late_invoice("BRE", "2025-01", users)
    _late_invoice("NOR", "2025-02", users)
    page = finance.get("/interets").get_data(as_text=True)
    assert all(f"F-{c}" in page for c in ("CVL", "BRE", "NOR"))
    assert queries(app, finance, "/interets") == one
    assert queries(app, finance, "/factures") == queries(app, finance, "/factures")


def test_messages_cost_the_same_for_one_or_three_lots(app, users, login):
    from fc_market.auth.models import Role
    manager = login("manager")
    notify(kind="test", audience="fc", role=Role.MANAGER, lot_id=lot("IDF").id, subject="Un",
           body="Un.")
    db.session.commit()
    one = queries(app, manager, "/messages")
    for code in ("BRE", "NOR"):
        notify(kind="test", audience="fc", role=Role.MANAGER, lot_id=lot(code).id,
               subject=code, body=code)
    db.session.commit()
    assert queries(app, manager, "/messages") == one
