import sqlalchemy as sa
from openpyxl import load_workbook
from io import BytesIO

from fc_market.audit.models import AuditEntry
from fc_market.extensions import db


def test_contract_load_is_audited_with_values(market):
    entries = db.session.scalars(sa.select(AuditEntry)).all()
    actions = {e.action for e in entries}
    assert {"market.create", "lot.create", "contract.create", "price.create", "uo.create"} <= actions
    price = next(e for e in entries if e.action == "price.create" and e.object_id == "IDF-UO1-2024-01-01")
    assert price.changes["unit_price"] == "150.00"
    assert price.actor == "système" and price.user_id is None
    assert price.lot.code == "IDF"


def test_user_actions_are_audited_with_their_author(app, users, login):
    admin = login("admin")
    target = users["other_mandataire"]
    admin.post(f"/admin/utilisateurs/{target.id}/activation")
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "user.deactivate"))
    assert entry.user.email == "admin@test.fr"
    assert entry.object_id == str(target.id) and entry.lot.code == "BRE"


def test_fc_users_read_the_log_and_filter_it(login):
    manager = login("manager")
    page = manager.get("/audit/?lot=ARA&objet=Price").get_data(as_text=True)
    assert "Prix UO2.1 du lot ARA : 620.00" in page
    assert "du lot IDF" not in page
    # codes never reach the screen: actions and objects read in French, filters too
    assert "Prix créé" in page and ">Price<" not in page and ">price.create<" not in page
    assert '<option value="Price" selected>Prix</option>' in page
    assert "Objet : Prix" in page  # the active filter's tag
    export = manager.get("/audit/export.xlsx?lot=ARA")
    assert export.status_code == 200
    sheet = load_workbook(BytesIO(export.data)).active
    assert [c.value for c in sheet[1]][:5] == ["Date (heure de Paris)", "Auteur", "Action",
                                                 "Objet", "Lot"]
    assert sheet.max_row > 5
    assert all(row[4].value == "ARA" for row in sheet.iter_rows(min_row=2))
    assert "price.create" not in {row[2].value for row in sheet.iter_rows(min_row=2)}


def test_mandataires_cannot_read_the_log(login):
    assert login("mandataire").get("/audit/").status_code == 403


def test_the_search_finds_what_the_single_query_found(app, users):
    """The log's search looks the authors up first (so PostgreSQL reads every condition
    from an index): the same entries as the one query with the authors as a subquery."""
    import sqlalchemy as sa

    from fc_market.audit.models import AuditEntry
    from fc_market.audit.views import _search
    from fc_market.auth.models import User
    from fc_market.extensions import db
    for index, user in enumerate([None, users["manager"], users["finance"], users["mandataire"]] * 6):
        db.session.add(AuditEntry(user_id=user.id if user else None, action="user.login",
                                  object_type="User", object_id=str(index % 5),
                                  summary=f"Connexion n° {index} — Lot IDF", actor=None))
    db.session.flush()

    def before(stmt, value):
        pattern = f"%{value.lower()}%"
        return stmt.where(sa.or_(sa.func.lower(AuditEntry.summary).like(pattern),
                                 AuditEntry.object_id == value,
                                 AuditEntry.user_id.in_(sa.select(User.id).where(
                                     sa.func.lower(User.email).like(pattern)))))
    base = sa.select(AuditEntry.id).order_by(AuditEntry.id)
    for value in ("manager", "TEST.FR", "idf", "3", "n° 1", "personne", "m.bre"):
        expected = db.session.scalars(before(base, value)).all()
        assert db.session.scalars(_search(base, value)).all() == expected, value
    assert db.session.scalars(_search(base, "finance")).all()  # an author's entries
