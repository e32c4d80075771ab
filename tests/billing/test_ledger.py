"""What is certified stays certified: status enums and their moves, the flush guard, the
PostgreSQL triggers (raw SQL), the chained hashes and ``flask billing verify``, the cap of
credit notes."""
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from fc_market.billing import service
from fc_market.billing.models import (Invoice, InvoiceStatus, MatchStatus, PayableStatement,
                                      PayableStatementLine, StatementStatus)
from fc_market.extensions import db
from fc_market.integrity import FrozenRecord, StatusEnum, StatusType, TransitionError
from fc_market.reporting.models import Act, ReportVersion, VersionStatus
from tests.billing.helpers import PDF, lot, make_validated, uo

ROOT = Path(__file__).resolve().parents[2]


def postgresql():
    return db.engine.dialect.name == "postgresql"


@pytest.fixture
def certified(market, users):
    """CVL January 2025 (UO4 share only: 177 000,00 / 12 = 14 750,00 HT, 2 950,00 VAT,
    17 700,00 TTC), certified, and its invoice F-1 recorded."""
    cvl = lot("CVL")
    make_validated(cvl, "2025-01", [])
    st = service.refresh_statement(cvl, "2025-01")
    service.certify(st.id, users["finance"])
    inv = service.record_invoice(st, users["mandataire"], number="F-1", issued_on=date(2025, 3, 1),
                                 received_on=date(2025, 3, 3), amount_excl_tax="14750.00",
                                 vat="2950.00", amount_incl_tax="17700.00", file=("f.pdf", PDF),
                                 today=date(2025, 3, 3))
    db.session.commit()
    assert (st.total_excl_tax, st.vat, st.total_incl_tax) == (
        Decimal("14750.00"), Decimal("2950.00"), Decimal("17700.00"))
    return st, inv


def credit(inv, user, number, incl, excl=None, vat=None):
    incl = Decimal(incl)
    excl = Decimal(excl) if excl is not None else (incl / Decimal("1.2")).quantize(Decimal("0.01"))
    vat = Decimal(vat) if vat is not None else incl - excl
    return service.record_credit_note(inv, user, number=number, issued_on=date(2025, 3, 25),
                                      amount_excl_tax=excl, vat=vat, amount_incl_tax=incl,
                                      reason="Erreur de quantité", file=("av.pdf", PDF),
                                      today=date(2025, 3, 26))


# ----------------------------------------------------------------------- statuses

def test_every_status_column_is_an_enum_with_its_check_constraint(app):
    """Each status column holds a StatusEnum and its CHECK lists exactly the members."""
    seen = []
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if column.name in ("status", "verdict", "match_status"):
                assert isinstance(column.type, StatusType), f"{table.name}.{column.name}"
                enum = column.type.enum
                checks = [str(c.sqltext) for c in table.constraints
                          if isinstance(c, sa.CheckConstraint)
                          and str(c.sqltext).startswith(f"{column.name} IN (")]
                assert checks == [f"{column.name} IN ({enum.sql_values()})"], table.name
                seen.append(table.name)
    assert {"payable_statements", "invoices", "report_versions", "control_campaigns",
            "control_items", "site_changes", "double_financing_alerts", "job_runs"} <= set(seen)


def test_transitions_are_written_once_and_refuse_other_moves():
    assert StatementStatus.OPEN.next("certified") is StatementStatus.CERTIFIED
    with pytest.raises(TransitionError, match="« Service fait certifié » à « Provisoire »"):
        StatementStatus.CERTIFIED.next(StatementStatus.OPEN)
    with pytest.raises(TransitionError, match="« Acceptée » à « Rejetée » impossible"):
        InvoiceStatus.ACCEPTED.next(InvoiceStatus.REJECTED)
    assert VersionStatus.path(VersionStatus.DRAFT, VersionStatus.SUPERSEDED) == (
        VersionStatus.SUBMITTED, VersionStatus.REJECTED, VersionStatus.SUPERSEDED)
    with pytest.raises(TransitionError):
        VersionStatus.path(VersionStatus.VALIDATED, VersionStatus.DRAFT)
    assert VersionStatus.LABELS["submitted"] == "Déposé"
    # no "disputed" status any more: an interruption of the term is a record (0011_clock)
    assert InvoiceStatus.RECEIVED.allowed() == {InvoiceStatus.ACCEPTED, InvoiceStatus.REJECTED}
    with pytest.raises(ValueError):
        InvoiceStatus("disputed")


BARE = re.compile(r"""(status|verdict)\s*(==|!=)\s*["']|(status|verdict)\s+(not\s+)?in\s*[(\[{]\s*["']"""
                  r"""|["'](open|closed|certified|draft|submitted|validated|rejected|superseded|"""
                  r"""pending|approved|refused|withdrawn|received|accepted|disputed|confirmed|"""
                  r"""dismissed|running|done|failed|matched|mismatch)["']\s*(==|!=)""")


def test_no_status_is_compared_with_a_bare_string():
    offenders = []
    for folder, suffix in (("fc_market", ".py"), ("templates", ".html")):
        for path in (ROOT / folder).rglob(f"*{suffix}"):
            for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if BARE.search(text) and "CheckConstraint" not in text:
                    offenders.append(f"{path.relative_to(ROOT)}:{n}: {text.strip()}")
    assert offenders == []


def test_status_columns_load_back_as_their_enum(certified):
    st, inv = certified
    db.session.expire_all()
    st, inv = db.session.get(PayableStatement, st.id), db.session.get(Invoice, inv.id)
    assert st.status is StatementStatus.CERTIFIED and inv.match_status is MatchStatus.MATCHED
    assert isinstance(inv.status, StatusEnum) and inv.status == "received"


# ----------------------------------------------------------------- the flush guard

def test_a_certified_statement_cannot_be_changed_through_the_orm(certified):
    st, _ = certified
    st.total_excl_tax = Decimal("1.00")
    with pytest.raises(FrozenRecord, match="EL-.* : document figé, modification refusée .*total_excl_tax"):
        db.session.flush()
    db.session.rollback()
    st.status = StatementStatus.OPEN
    with pytest.raises(FrozenRecord, match="« Service fait certifié » à « Provisoire »"):
        db.session.flush()
    db.session.rollback()
    st.lines[0].amount = Decimal("1.00")
    with pytest.raises(FrozenRecord, match="ses lignes ne se modifient plus"):
        db.session.flush()
    db.session.rollback()
    db.session.add(PayableStatementLine(statement_id=st.id, position=9, kind="acts", uo_code="UO1",
                                        label="x", quantity=1, unit_price=1, gross_amount=1,
                                        revision_adjustment=0, amount=1))
    with pytest.raises(FrozenRecord, match="ses lignes ne s'ajoutent plus"):
        db.session.flush()
    db.session.rollback()
    db.session.delete(st)
    with pytest.raises(FrozenRecord, match="suppression refusée"):
        db.session.flush()
    db.session.rollback()
    assert db.session.get(PayableStatement, st.id).total_excl_tax == Decimal("14750.00")


def test_an_invoice_moves_by_its_transitions_only_and_keeps_its_amounts(certified, users):
    _, inv = certified
    inv.amount_incl_tax = Decimal("1.00")
    with pytest.raises(FrozenRecord, match="La facture F-1 : document figé.*amount_incl_tax"):
        db.session.flush()
    db.session.rollback()
    service.decide(inv.id, users["finance"], "accept")
    db.session.commit()
    inv.status = InvoiceStatus.REJECTED
    with pytest.raises(FrozenRecord, match="« Acceptée » à « Rejetée » impossible"):
        db.session.flush()
    db.session.rollback()
    inv.decision_comment = "Note de la direction financière"  # not frozen
    db.session.flush()
    db.session.delete(inv)
    with pytest.raises(FrozenRecord, match="suppression refusée"):
        db.session.flush()


def test_bulk_orm_updates_of_frozen_documents_are_refused(certified):
    st, inv = certified
    with pytest.raises(FrozenRecord, match="Modification en masse de invoices refusée"):
        db.session.execute(sa.update(Invoice).values(amount_incl_tax=Decimal("1.00")))
    with pytest.raises(FrozenRecord, match="Modification en masse de payable_statements"):
        db.session.execute(sa.delete(PayableStatement).where(PayableStatement.id == st.id))
    db.session.rollback()
    assert db.session.get(Invoice, inv.id).amount_incl_tax == Decimal("17700.00")


def test_a_submitted_version_and_its_acts_are_frozen(market):
    idf = lot("IDF")
    version = make_validated(idf, "2025-02", [("UO1", 3, 2)])
    db.session.commit()
    version.act_count = 99
    with pytest.raises(FrozenRecord, match="version 1 du reporting .* document figé.*act_count"):
        db.session.flush()
    db.session.rollback()
    act = db.session.scalars(sa.select(Act).where(Act.version_id == version.id)).first()
    act.proof_ref = "DS-altérée"
    with pytest.raises(FrozenRecord, match="ses actes ne se modifient plus"):
        db.session.flush()
    db.session.rollback()
    db.session.add(Act(version_id=version.id, lot_id=idf.id, beneficiary_id="BX",
                       uo_id=uo(idf.market_id, "UO1").id, act_date=date(2025, 2, 4), mode="visio"))
    with pytest.raises(FrozenRecord, match="ses actes ne s'ajoutent plus"):
        db.session.flush()
    db.session.rollback()
    version.decision_comment = "Commentaire ajouté après validation"  # FC's decision note
    version.status = VersionStatus.SUPERSEDED
    db.session.flush()
    assert db.session.get(ReportVersion, version.id).status == VersionStatus.SUPERSEDED


def test_a_settled_interest_record_is_frozen(certified, users):
    from fc_market.billing.models import InterestSettlement
    _, inv = certified
    service.add_ecb_rate(date(2024, 12, 18), Decimal("3.15"))
    service.decide(inv.id, users["finance"], "accept", today=date(2025, 3, 10))
    service.record_payment(inv, users["finance"], paid_on=date(2025, 5, 2), amount="17700.00",
                           today=date(2025, 5, 2))
    settlement = service.settle_interest(inv, users["finance"], paid_on=date(2025, 5, 20),
                                         today=date(2025, 5, 20))
    db.session.commit()
    settlement.interest = Decimal("0.01")
    with pytest.raises(FrozenRecord, match="règlement des intérêts .* document figé"):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.get(InterestSettlement, settlement.id))
    with pytest.raises(FrozenRecord, match="suppression refusée"):
        db.session.flush()


# ------------------------------------------------------- PostgreSQL: raw SQL refused

RAW_SQL = [
    ("UPDATE payable_statements SET total_excl_tax = 1 WHERE status = 'certified'", "modification"),
    ("UPDATE payable_statements SET status = 'open' WHERE status = 'certified'", "passage"),
    ("DELETE FROM payable_statements WHERE status = 'certified'", "suppression"),
    ("UPDATE payable_statement_lines SET amount = 1", "rattaché à un document figé"),
    ("DELETE FROM payable_statement_lines", "rattaché à un document figé"),
    ("UPDATE invoices SET amount_incl_tax = 1", "modification"),
    ("UPDATE invoices SET status = 'received'", "passage"),  # the invoice is accepted
    ("DELETE FROM invoices", "suppression"),
    ("UPDATE report_versions SET act_count = 0 WHERE status <> 'draft'", "modification"),
    ("UPDATE report_versions SET status = 'draft'", "passage"),
    ("UPDATE acts SET proof_ref = 'x'", "rattaché à un document figé"),
    ("DELETE FROM acts", "rattaché à un document figé"),
    ("INSERT INTO acts (version_id, lot_id, beneficiary_id, uo_id, act_date, mode) "
     "SELECT id, lot_id, 'BX', (SELECT id FROM units_of_work LIMIT 1), '2025-01-05', 'visio' "
     "FROM report_versions", "rattaché à un document figé"),
    ("UPDATE interest_settlements SET interest = 0", "figé"),
    ("DELETE FROM interest_settlements", "figé"),
]


def test_postgresql_triggers_refuse_raw_sql(certified, users):
    if not postgresql():
        pytest.skip("triggers are PostgreSQL's (SQLite relies on the flush guard)")
    st, inv = certified
    make_validated(lot("CVL"), "2025-02", [("UO1", 3, 1)])
    service.add_ecb_rate(date(2024, 12, 18), Decimal("3.15"))
    service.decide(inv.id, users["finance"], "accept", today=date(2025, 3, 10))
    service.record_payment(inv, users["finance"], paid_on=date(2025, 5, 2), amount="17700.00",
                           today=date(2025, 5, 2))
    service.settle_interest(inv, users["finance"], paid_on=date(2025, 5, 20), today=date(2025, 5, 20))
    db.session.commit()
    for sql, words in RAW_SQL:
        with db.engine.connect() as conn:
            with pytest.raises(DBAPIError, match=words):
                conn.execute(sa.text(sql))
            conn.rollback()
    with db.engine.begin() as conn:  # what stays writable still is
        conn.execute(sa.text("UPDATE invoices SET decision_comment = 'vu' WHERE id = :id"),
                     {"id": inv.id})
    db.session.expire_all()
    assert db.session.get(PayableStatement, st.id).total_excl_tax == Decimal("14750.00")


# ------------------------------------------------------------------ the proof

def alter(sql, table, **params):
    """Alter a row behind the application's back (the trigger disabled for the moment on
    PostgreSQL, as someone with the database owner's rights could)."""
    db.session.rollback()  # ALTER TABLE waits for every other transaction on the table
    with db.engine.begin() as conn:
        if postgresql():
            conn.execute(sa.text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        conn.execute(sa.text(sql), params)
        if postgresql():
            conn.execute(sa.text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))


def verify(app):
    return app.test_cli_runner().invoke(args=["billing", "verify"])


def test_chains_are_intact_then_name_the_first_altered_document(app, certified, users):
    st, inv = certified
    cvl = lot("CVL")
    make_validated(cvl, "2025-02", [])
    second = service.refresh_statement(cvl, "2025-02")
    service.certify(second.id, users["finance"])
    note = credit(inv, users["mandataire"], "AV-1", "120.00", "100.00", "20.00")
    db.session.commit()
    year = st.certified_at.year
    assert (st.number, second.number) == (f"EL-{year}-00001", f"EL-{year}-00002")
    assert (inv.ledger_position, note.ledger_position) == (1, 2)
    assert all(len(h) == 64 for h in (st.inalterable_hash, second.inalterable_hash,
                                      inv.inalterable_hash, note.inalterable_hash))
    result = verify(app)
    assert result.exit_code == 0, result.output
    assert f"États liquidatifs certifiés {year} : 2 document(s) vérifié(s), chaîne intègre." in result.output
    assert "Registre des factures et avoirs" in result.output and "Intégrité vérifiée" in result.output

    # one cent taken off the first statement's net amount, by SQL
    alter("UPDATE payable_statements SET amount_payable = amount_payable - 0.01 WHERE id = :id",
          "payable_statements", id=st.id)
    result = verify(app)
    assert result.exit_code == 1
    assert (f"premier document altéré : l'état EL-{year}-00001 (lot CVL, 2025-01) ; son contenu "
            "a été modifié") in result.output
    assert "Intégrité NON vérifiée : 1 chaîne(s) rompue(s)." in result.output

    # the credit note's amount changed by SQL: the ledger names it
    alter("UPDATE invoices SET amount_incl_tax = 12.00, vat = 2.00, amount_excl_tax = 10.00 "
          "WHERE id = :id", "invoices", id=note.id)
    result = verify(app)
    assert "premier document altéré : l’avoir AV-1 (lot CVL)" in result.output

    # a recomputed hash does not hide it: the next document's link breaks
    db.session.expire_all()
    changed = db.session.get(PayableStatement, st.id)
    forged = service.chain_hash(None, changed.hash_fields())
    alter("UPDATE payable_statements SET inalterable_hash = :h WHERE id = :id",
          "payable_statements", h=forged, id=st.id)
    result = verify(app)
    assert f"l'état EL-{year}-00002 (lot CVL, 2025-02)" in result.output


def test_a_renumbered_statement_is_named(app, certified):
    st, _ = certified
    alter("UPDATE payable_statements SET number = 'X-1' WHERE id = :id", "payable_statements",
          id=st.id)
    result = verify(app)
    assert result.exit_code == 1
    assert f"l'état n° {st.id} (lot CVL, 2025-01) ; son numéro « X-1 » n'est pas" in result.output


def test_a_deleted_last_document_breaks_the_chain(app, certified):
    st, _ = certified
    alter("DELETE FROM payable_statement_lines WHERE statement_id = :id", "payable_statement_lines",
          id=st.id)
    alter("DELETE FROM invoices", "invoices")
    alter("DELETE FROM payable_statements WHERE id = :id", "payable_statements", id=st.id)
    result = verify(app)
    assert result.exit_code == 1
    assert "le document n° 1 de la séquence manque (supprimé ?)" in result.output


# ------------------------------------------------------------- finding 4: the cap

def test_credit_notes_never_exceed_what_is_due(certified, users):
    _, inv = certified
    credit(inv, users["mandataire"], "AV-1", "17700.00", "14750.00", "2950.00")
    db.session.commit()
    with pytest.raises(service.BillingError, match=r"dépasse le montant restant dû .*0,00"):
        credit(inv, users["mandataire"], "AV-2", "120.00", "100.00", "20.00")
    db.session.rollback()
    assert service.credited_in_database(inv.id) == Decimal("17700.00")


def test_a_duplicate_number_written_meanwhile_is_a_conflict_and_leaves_no_file(app, certified, users,
                                                                               monkeypatch):
    """The unique (lot, number) refuses the insert: Conflict (the 409 page), no file kept."""
    import os
    _, inv = certified
    folder = app.config["UPLOAD_FOLDER"]

    def files():
        return sorted(f for _, _, names in os.walk(folder) for f in names)

    before = files()
    # the number check reads nothing (as when the other insert is not committed yet)
    real_scalar = db.session.scalar

    def blind(stmt, *args, **kwargs):
        if "invoices.number = " in str(stmt):
            return None
        return real_scalar(stmt, *args, **kwargs)

    monkeypatch.setattr(db.session, "scalar", blind)
    with pytest.raises(service.Conflict, match="« F-1 » vient d'être enregistré"):
        credit(inv, users["mandataire"], "F-1", "120.00", "100.00", "20.00")
    db.session.rollback()
    assert files() == before


def test_migration_installs_the_triggers_the_models_describe():
    """Migration 0010 holds a copy of the trigger statements; it must say what the models'
    rules say (a later change of the rules comes with a new migration and updates this)."""
    import importlib.util
    from fc_market.integrity import postgresql_triggers
    path = ROOT / "migrations" / "versions" / "0010_ledger.py"
    spec = importlib.util.spec_from_file_location("migration_0010", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # migration 0011_clock replaced the invoices' guard (no "disputed" status any more)
    path = ROOT / "migrations" / "versions" / "0011_clock.py"
    spec = importlib.util.spec_from_file_location("migration_0011", path)
    clock = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(clock)
    expected = [clock.GUARD_INVOICES if s.startswith("CREATE OR REPLACE FUNCTION fc_guard_invoices(")
                else s
                for s in module.TRIGGERS]
    assert expected == [s.strip() for s in postgresql_triggers()]
    assert clock.GUARD_INVOICES_0010 in module.TRIGGERS
