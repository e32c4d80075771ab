"""ledger: what is certified stays certified, and the proof of it

* payable_statements.inalterable_hash: SHA-256 chained along the yearly sequence of
  certified statements;
* invoices.ledger_year / ledger_position / inalterable_hash: the ledger of received invoices
  and credit notes (gapless per year) and its chained hash;
* PostgreSQL only: triggers refusing, through any SQL, a change of a certified payable
  statement or its lines, of an issued invoice or credit note (beyond its status moves and
  decision notes), of a submitted report version or its acts and figures, and any change of
  a settled interest record, with every status move checked against the application's.

The trigger statements are a frozen copy of ``fc_market.integrity.postgresql_triggers()``
at this revision.  Documents certified or recorded before this revision have no hash:
``flask billing verify`` names them.

Revision ID: 0010_ledger
Revises: 0016_fx
"""
from alembic import op
import sqlalchemy as sa


revision = '0010_ledger'
down_revision = '0016_fx'  # chained after main's last revision (was 0007_merge_heads)
branch_labels = None
depends_on = None

GUARDED_TABLES = ("payable_statements", "payable_statement_lines", "invoices",
                  "interest_settlements", "report_versions", "acts", "lot_figures")

TRIGGERS = (
    """CREATE OR REPLACE FUNCTION fc_guard_payable_statements() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF OLD.status = 'certified' THEN
      RAISE EXCEPTION 'fc_market: % % figé(e), suppression refusée', TG_TABLE_NAME, OLD.id
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN OLD;
  END IF;
  IF NEW.status IS DISTINCT FROM OLD.status AND NOT ((OLD.status = 'open' AND NEW.status = 'certified')) THEN
    RAISE EXCEPTION 'fc_market: % %, passage de % à % refusé', TG_TABLE_NAME, OLD.id,
      OLD.status, NEW.status USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  IF OLD.status = 'certified' AND ROW(NEW.id, NEW.lot_id, NEW.period, NEW.rank, NEW.number, NEW.adjusts_id, NEW.report_version_id, NEW.days_late, NEW.revision_coefficient, NEW.index_value_id, NEW.subtotal, NEW.penalties, NEW.withholdings, NEW.total_excl_tax, NEW.vat_rate, NEW.vat, NEW.total_incl_tax, NEW.penalties_deducted_incl_tax, NEW.amount_payable, NEW.unabsorbed, NEW.snapshot::jsonb, NEW.computed_at, NEW.certified_at, NEW.certified_by_id, NEW.inalterable_hash)
      IS DISTINCT FROM ROW(OLD.id, OLD.lot_id, OLD.period, OLD.rank, OLD.number, OLD.adjusts_id, OLD.report_version_id, OLD.days_late, OLD.revision_coefficient, OLD.index_value_id, OLD.subtotal, OLD.penalties, OLD.withholdings, OLD.total_excl_tax, OLD.vat_rate, OLD.vat, OLD.total_incl_tax, OLD.penalties_deducted_incl_tax, OLD.amount_payable, OLD.unabsorbed, OLD.snapshot::jsonb, OLD.computed_at, OLD.certified_at, OLD.certified_by_id, OLD.inalterable_hash) THEN
    RAISE EXCEPTION 'fc_market: % % figé(e), modification refusée', TG_TABLE_NAME, OLD.id
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END $$""",
    "DROP TRIGGER IF EXISTS fc_guard_payable_statements ON payable_statements",
    "CREATE TRIGGER fc_guard_payable_statements BEFORE UPDATE OR DELETE ON payable_statements FOR EACH ROW EXECUTE FUNCTION fc_guard_payable_statements()",
    """CREATE OR REPLACE FUNCTION fc_guard_payable_statement_lines() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- a transition table exists only for its events: test TG_OP first, then read it
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    IF EXISTS (SELECT 1 FROM old_rows r JOIN payable_statements p ON p.id = r.statement_id WHERE p.status = 'certified') THEN
      RAISE EXCEPTION 'fc_market: % refusé sur %, rattaché à un document figé', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    IF EXISTS (SELECT 1 FROM new_rows r JOIN payable_statements p ON p.id = r.statement_id WHERE p.status = 'certified') THEN
      RAISE EXCEPTION 'fc_market: % refusé sur %, rattaché à un document figé', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
  END IF;
  RETURN NULL;
END $$""",
    "DROP TRIGGER IF EXISTS fc_guard_payable_statement_lines_insert ON payable_statement_lines",
    "CREATE TRIGGER fc_guard_payable_statement_lines_insert AFTER INSERT ON payable_statement_lines REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION fc_guard_payable_statement_lines()",
    "DROP TRIGGER IF EXISTS fc_guard_payable_statement_lines_update ON payable_statement_lines",
    "CREATE TRIGGER fc_guard_payable_statement_lines_update AFTER UPDATE ON payable_statement_lines REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION fc_guard_payable_statement_lines()",
    "DROP TRIGGER IF EXISTS fc_guard_payable_statement_lines_delete ON payable_statement_lines",
    "CREATE TRIGGER fc_guard_payable_statement_lines_delete AFTER DELETE ON payable_statement_lines REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION fc_guard_payable_statement_lines()",
    """CREATE OR REPLACE FUNCTION fc_guard_invoices() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF TRUE THEN
      RAISE EXCEPTION 'fc_market: % % figé(e), suppression refusée', TG_TABLE_NAME, OLD.id
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN OLD;
  END IF;
  IF NEW.status IS DISTINCT FROM OLD.status AND NOT ((OLD.status = 'received' AND NEW.status = 'accepted') OR (OLD.status = 'received' AND NEW.status = 'disputed') OR (OLD.status = 'received' AND NEW.status = 'rejected') OR (OLD.status = 'disputed' AND NEW.status = 'accepted') OR (OLD.status = 'disputed' AND NEW.status = 'rejected')) THEN
    RAISE EXCEPTION 'fc_market: % %, passage de % à % refusé', TG_TABLE_NAME, OLD.id,
      OLD.status, NEW.status USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  IF TRUE AND ROW(NEW.lot_id, NEW.statement_id, NEW.kind, NEW.corrects_id, NEW.number, NEW.issued_on, NEW.received_on, NEW.amount_excl_tax, NEW.vat, NEW.amount_incl_tax, NEW.deductions, NEW.invoiced_lines::jsonb, NEW.match_status, NEW.file_key, NEW.file_mimetype, NEW.file_sha256, NEW.file_name, NEW.structured_format, NEW.recorded_at, NEW.recorded_by_id, NEW.ledger_year, NEW.ledger_position, NEW.inalterable_hash)
      IS DISTINCT FROM ROW(OLD.lot_id, OLD.statement_id, OLD.kind, OLD.corrects_id, OLD.number, OLD.issued_on, OLD.received_on, OLD.amount_excl_tax, OLD.vat, OLD.amount_incl_tax, OLD.deductions, OLD.invoiced_lines::jsonb, OLD.match_status, OLD.file_key, OLD.file_mimetype, OLD.file_sha256, OLD.file_name, OLD.structured_format, OLD.recorded_at, OLD.recorded_by_id, OLD.ledger_year, OLD.ledger_position, OLD.inalterable_hash) THEN
    RAISE EXCEPTION 'fc_market: % % figé(e), modification refusée', TG_TABLE_NAME, OLD.id
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END $$""",
    "DROP TRIGGER IF EXISTS fc_guard_invoices ON invoices",
    "CREATE TRIGGER fc_guard_invoices BEFORE UPDATE OR DELETE ON invoices FOR EACH ROW EXECUTE FUNCTION fc_guard_invoices()",
    """CREATE OR REPLACE FUNCTION fc_guard_interest_settlements() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'fc_market: % % figé(e), % refusé', TG_TABLE_NAME, OLD.id, TG_OP
    USING ERRCODE = 'integrity_constraint_violation';
END $$""",
    "DROP TRIGGER IF EXISTS fc_guard_interest_settlements ON interest_settlements",
    "CREATE TRIGGER fc_guard_interest_settlements BEFORE UPDATE OR DELETE ON interest_settlements FOR EACH ROW EXECUTE FUNCTION fc_guard_interest_settlements()",
    """CREATE OR REPLACE FUNCTION fc_guard_report_versions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF OLD.status <> 'draft' THEN
      RAISE EXCEPTION 'fc_market: % % figé(e), suppression refusée', TG_TABLE_NAME, OLD.id
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN OLD;
  END IF;
  IF NEW.status IS DISTINCT FROM OLD.status AND NOT ((OLD.status = 'draft' AND NEW.status = 'submitted') OR (OLD.status = 'submitted' AND NEW.status = 'rejected') OR (OLD.status = 'submitted' AND NEW.status = 'validated') OR (OLD.status = 'validated' AND NEW.status = 'superseded') OR (OLD.status = 'rejected' AND NEW.status = 'superseded')) THEN
    RAISE EXCEPTION 'fc_market: % %, passage de % à % refusé', TG_TABLE_NAME, OLD.id,
      OLD.status, NEW.status USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  IF OLD.status <> 'draft' AND ROW(NEW.id, NEW.report_id, NEW.lot_id, NEW.number, NEW.source, NEW.file_name, NEW.file_sha256, NEW.created_at, NEW.created_by_id, NEW.submitted_at, NEW.submitted_by_id, NEW.days_late, NEW.act_count, NEW.warnings::jsonb, NEW.warning_count, NEW.supersedes_id)
      IS DISTINCT FROM ROW(OLD.id, OLD.report_id, OLD.lot_id, OLD.number, OLD.source, OLD.file_name, OLD.file_sha256, OLD.created_at, OLD.created_by_id, OLD.submitted_at, OLD.submitted_by_id, OLD.days_late, OLD.act_count, OLD.warnings::jsonb, OLD.warning_count, OLD.supersedes_id) THEN
    RAISE EXCEPTION 'fc_market: % % figé(e), modification refusée', TG_TABLE_NAME, OLD.id
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END $$""",
    "DROP TRIGGER IF EXISTS fc_guard_report_versions ON report_versions",
    "CREATE TRIGGER fc_guard_report_versions BEFORE UPDATE OR DELETE ON report_versions FOR EACH ROW EXECUTE FUNCTION fc_guard_report_versions()",
    """CREATE OR REPLACE FUNCTION fc_guard_acts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- a transition table exists only for its events: test TG_OP first, then read it
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    IF EXISTS (SELECT 1 FROM old_rows r JOIN report_versions p ON p.id = r.version_id WHERE p.status <> 'draft') THEN
      RAISE EXCEPTION 'fc_market: % refusé sur %, rattaché à un document figé', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    IF EXISTS (SELECT 1 FROM new_rows r JOIN report_versions p ON p.id = r.version_id WHERE p.status <> 'draft') THEN
      RAISE EXCEPTION 'fc_market: % refusé sur %, rattaché à un document figé', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
  END IF;
  RETURN NULL;
END $$""",
    "DROP TRIGGER IF EXISTS fc_guard_acts_insert ON acts",
    "CREATE TRIGGER fc_guard_acts_insert AFTER INSERT ON acts REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION fc_guard_acts()",
    "DROP TRIGGER IF EXISTS fc_guard_acts_update ON acts",
    "CREATE TRIGGER fc_guard_acts_update AFTER UPDATE ON acts REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION fc_guard_acts()",
    "DROP TRIGGER IF EXISTS fc_guard_acts_delete ON acts",
    "CREATE TRIGGER fc_guard_acts_delete AFTER DELETE ON acts REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION fc_guard_acts()",
    """CREATE OR REPLACE FUNCTION fc_guard_lot_figures() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- a transition table exists only for its events: test TG_OP first, then read it
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    IF EXISTS (SELECT 1 FROM old_rows r JOIN report_versions p ON p.id = r.version_id WHERE p.status <> 'draft') THEN
      RAISE EXCEPTION 'fc_market: % refusé sur %, rattaché à un document figé', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    IF EXISTS (SELECT 1 FROM new_rows r JOIN report_versions p ON p.id = r.version_id WHERE p.status <> 'draft') THEN
      RAISE EXCEPTION 'fc_market: % refusé sur %, rattaché à un document figé', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
  END IF;
  RETURN NULL;
END $$""",
    "DROP TRIGGER IF EXISTS fc_guard_lot_figures_insert ON lot_figures",
    "CREATE TRIGGER fc_guard_lot_figures_insert AFTER INSERT ON lot_figures REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION fc_guard_lot_figures()",
    "DROP TRIGGER IF EXISTS fc_guard_lot_figures_update ON lot_figures",
    "CREATE TRIGGER fc_guard_lot_figures_update AFTER UPDATE ON lot_figures REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION fc_guard_lot_figures()",
    "DROP TRIGGER IF EXISTS fc_guard_lot_figures_delete ON lot_figures",
    "CREATE TRIGGER fc_guard_lot_figures_delete AFTER DELETE ON lot_figures REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION fc_guard_lot_figures()",
)


def upgrade():
    with op.batch_alter_table('payable_statements', schema=None) as batch_op:
        batch_op.add_column(sa.Column('inalterable_hash', sa.String(length=64), nullable=True))
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ledger_year', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('ledger_position', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('inalterable_hash', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_invoices_ledger_year_ledger_position'),
                                          ['ledger_year', 'ledger_position'])
    if op.get_bind().dialect.name == 'postgresql':
        for statement in TRIGGERS:
            op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        for table in GUARDED_TABLES:
            op.execute(f"DROP FUNCTION IF EXISTS fc_guard_{table}() CASCADE")
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_invoices_ledger_year_ledger_position'),
                                 type_='unique')
        batch_op.drop_column('inalterable_hash')
        batch_op.drop_column('ledger_position')
        batch_op.drop_column('ledger_year')
    with op.batch_alter_table('payable_statements', schema=None) as batch_op:
        batch_op.drop_column('inalterable_hash')
