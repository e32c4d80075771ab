"""The lots a user may see are read once per request: the same lots as the query gives,
scoped to the user, a new list at each call, and read again in the next request."""
import re

import sqlalchemy as sa
from flask_login import login_user

from fc_market.access import _visible_lots, visible_lots
from fc_market.extensions import db
from fc_market.market.models import Lot

#: The statement of visible_lots (FC staff: every lot; a mandataire: its own)
LOTS_QUERY = re.compile(r"FROM lots (WHERE lots\.id = \S+ )?ORDER BY lots\.number")


def _lot_queries(app, fn):
    statements = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        result = fn()
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    return result, sum(1 for s in statements if LOTS_QUERY.search(" ".join(s.split())))


def test_read_once_per_request_and_scoped_to_the_user(app, users):
    with app.test_request_context("/pilotage"):
        login_user(users["manager"])
        first, queries = _lot_queries(app, visible_lots)
        again, more = _lot_queries(app, visible_lots)
        assert (queries, more) == (1, 0)
        assert again == first == _visible_lots() and again is not first
        assert [lot.code for lot in first] == list(db.session.scalars(
            sa.select(Lot.code).order_by(Lot.number)))
        again.clear()  # a caller's list is its own
        assert visible_lots() == first
        login_user(users["mandataire"])  # another user in the same request: its own lots
        assert [lot.code for lot in visible_lots()] == ["IDF"]
    with app.test_request_context("/pilotage"):  # the next request reads them again
        login_user(users["manager"])
        _, queries = _lot_queries(app, visible_lots)
        assert queries == 1


def test_the_national_dashboard_reads_the_lots_once(app, login):
    manager = login("manager")
    page, lots = _lot_queries(app, lambda: manager.get("/pilotage"))
    assert page.status_code == 200 and lots == 1
