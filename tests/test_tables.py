"""The table definitions (fc_market/tables.py): one definition for the screen and the
export, pagination on the server, sorting, filters kept in the URL."""
from datetime import datetime, timedelta
from io import BytesIO

import sqlalchemy as sa
from openpyxl import load_workbook
from werkzeug.datastructures import MultiDict

from fc_market.audit.models import AuditEntry
from fc_market.audit.views import AUDIT_LOG
from fc_market.extensions import db
from fc_market.tables import PAGE_SIZE, Col, Table, search_filter, status_filter


def _entries(count, lot_id=None, start=datetime(2026, 3, 1, 8, 0)):
    for index in range(count):
        db.session.add(AuditEntry(at=start + timedelta(minutes=index), action="billing.payment",
                                  object_type="Payment", object_id=str(1000 + index),
                                  lot_id=lot_id, summary=f"Paiement n° {index}",
                                  actor="système"))
    db.session.flush()


def _base():
    return sa.select(AuditEntry).where(AuditEntry.action == "billing.payment")


def test_a_sql_list_is_paginated_sorted_and_filtered_on_the_server(app, market):
    _entries(120)
    with app.test_request_context("/audit/"):
        page = AUDIT_LOG.page(_base(), "audit.entries")
        assert PAGE_SIZE == 50 and page.total == 120 and page.pages == 3
        assert len(page.rows) == 50
        # newest first by default
        assert page.rows[0].summary == "Paiement n° 119"
        assert page.summary == "1 à 50 sur 120 entrées"
        assert page.window() == [1, 2, 3]
    with app.test_request_context("/audit/?page=3&tri=at"):
        page = AUDIT_LOG.page(_base(), "audit.entries")
        # oldest first: the third page holds 101st to 120th
        assert [e.summary for e in page.rows[:2]] == ["Paiement n° 100", "Paiement n° 101"]
        assert len(page.rows) == 20
        assert page.sort_url("at") == "/audit/?tri=-at"
        assert page.page_url(2) == "/audit/?tri=at&page=2"
    with app.test_request_context("/audit/?q=n°+11&page=99"):
        page = AUDIT_LOG.page(_base(), "audit.entries")
        # "n° 11", "n° 110" … "n° 119": 11 entries; a page beyond the last shows the last
        assert page.total == 11 and page.number == 1
        assert page.active_filters == [("Recherche : « n° 11 »", "/audit/")]


def test_invalid_filter_values_are_ignored_not_errors(app, market):
    _entries(3)
    with app.test_request_context("/audit/?lot=ZZZ&du=2026-13-45&tri=nope&page=x"):
        page = AUDIT_LOG.page(_base(), "audit.entries")
        assert page.total == 3 and page.filter_values == {} and page.sort_key == "at"


def test_the_export_holds_the_whole_filtered_list_with_the_screen_labels(login, market):
    _entries(130)
    db.session.commit()
    manager = login("manager")
    response = manager.get("/audit/export.xlsx?action=billing.payment&tri=at")
    sheet = load_workbook(BytesIO(response.data)).active
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert len(rows) == 130  # all of them, not one page
    assert rows[0][2] == "Paiement" and rows[0][3] == "Paiement n° 1000"
    # the screen shows the same labels, paginated, with the export link keeping the filters
    page = manager.get("/audit/?action=billing.payment&tri=at").get_data(as_text=True)
    assert "1 à 50 sur 130 entrées" in page
    assert 'href="/audit/export.xlsx?action=billing.payment&amp;tri=at"' in page
    assert 'aria-sort="ascending"' in page and "fr-pagination" in page


def test_a_list_source_sorts_and_filters_in_python(app):
    table = Table("essai", "Essai", [
        Col("name", "Nom", sort=True),
        Col("amount", "Montant", kind="money", sort=True),
        Col("state", "État", labels={"a": "Ouvert", "b": "Fermé"})],
        filters=[status_filter(labels={"a": "Ouvert", "b": "Fermé"}, get="state"),
                 search_filter("Nom", get=lambda r: [r["name"]])],
        default_sort="-amount")
    rows = [{"name": f"Ligne {i}", "amount": i * 10, "state": "a" if i % 2 else "b"}
            for i in range(1, 8)]
    with app.test_request_context("/"):
        page = table.page(rows, "index", args=MultiDict({"statut": "a"}))
        assert [r["amount"] for r in page.rows] == [70, 50, 30, 10]
        assert table.cell_html(table.column("state"), page.rows[0]) == "Ouvert"
        assert table.cell_html(table.column("amount"), page.rows[0]) == "70,00\xa0€"
        page = table.page(rows, "index", args=MultiDict({"q": "ligne 3", "tri": "name"}))
        assert [r["name"] for r in page.rows] == ["Ligne 3"]
        sheet = table.sheet(rows, args=MultiDict({"tri": "amount"}))
        assert [c.header for c in sheet.columns] == ["Nom", "Montant", "État"]
        assert [sheet.columns[2].value(r) for r in sheet.rows][:2] == ["Ouvert", "Fermé"]


def test_a_far_page_read_from_the_other_end_holds_the_same_rows(app, market):
    """Past the middle of a list, a page is read with the order reversed (fast at market
    scale): every page, for every sort, both directions and NULL keys, is the page that
    LIMIT/OFFSET in the list's order gives."""
    from fc_market.market.models import Lot
    lot_ids = [None] + db.session.scalars(sa.select(Lot.id).order_by(Lot.id).limit(2)).all()
    for index in range(137):
        db.session.add(AuditEntry(
            at=datetime(2026, 3, 1, 8, 0) + timedelta(minutes=index // 3),  # ties on the date
            action=("billing.payment", "user.login", "site.open")[index % 3],
            object_type="Payment", object_id=None if index % 4 == 0 else str(index % 17),
            lot_id=lot_ids[index % len(lot_ids)], summary=f"Entrée {index}", actor="système"))
    db.session.flush()
    table = Table("essai", "Essai", [
        Col("at", "Date", kind="datetime", sort=AuditEntry.at),
        Col("action", "Action", sort=AuditEntry.action),
        Col("object_id", "Objet", sort=AuditEntry.object_id),
        Col("lot", "Lot", sort=AuditEntry.lot_id)],
        default_sort="-at", tiebreak=AuditEntry.id.desc(), page_size=20)
    base = sa.select(AuditEntry).where(AuditEntry.summary.like("Entrée %"))
    for sort in ("at", "-at", "action", "-action", "object_id", "-object_id", "lot", "-lot"):
        with app.test_request_context(f"/audit/?tri={sort}"):
            column, descending = table.sort_of(MultiDict({"tri": sort}))
            ordered = table._ordered(base, column, descending)
            every = [e.id for e in db.session.scalars(ordered).all()]
            assert len(every) == 137
            for number in range(1, 9):
                with app.test_request_context(f"/audit/?tri={sort}&page={number}"):
                    page = table.page(base, "audit.entries")
                expected = every[(page.number - 1) * 20:page.number * 20]
                assert [e.id for e in page.rows] == expected, (sort, number)
