"""billing: the payment clock of the Code de la commande publique (interruption, not
suspension), the receipt date entered by finance, the last result of ``audit figures``

Revision ID: 0011_clock
Revises: 0015_uo4 (written on 0007_merge_heads; chained after main's last revision)
Create Date: 2026-12-01 23:40:00

How the existing disputes are migrated.  Until now finance could "dispute" an invoice:
status ``disputed``, the clock *suspended* from ``suspended_from`` (the day of the dispute)
to ``suspended_until`` (the day of the final decision), motive in ``dispute_reason``.  The
law knows no suspension: it is one *interruption* (R. 2192-27 to R. 2192-29).  Each invoice
with a ``suspended_from`` becomes one ``invoice_interruptions`` row:

* ``notified_on`` = ``suspended_from`` (the dispute was notified to the mandataire that day);
* ``reasons`` = ``dispute_reason`` (or "Motif non renseigné" when it was empty);
* ``documents_expected`` = "Pièces demandées lors de la contestation (reprise de
  l'historique) : voir les motifs." — the former model did not record them;
* ``documents_received_on`` = ``suspended_until`` (the decision closed the dispute, so the
  documents are taken as received that day), NULL while the dispute was still open;
* ``from_dispute`` = true, ``recorded_by_id`` = ``decided_by_id``, ``closed_at`` = the
  decision time when closed.

An invoice still ``disputed`` becomes ``received`` (awaiting decision) with its interruption
open: its term stays stopped until finance records the receipt of the documents.  Its due
date is then the new term's (30 days or the balance if longer), not the former "balance
resumes" date.  The ``dispute_reason``/``suspended_*`` columns and the ``disputed`` status
are dropped; on PostgreSQL the invoices' guard trigger (0010_ledger) is set aside for that
data move and replaced by one whose status moves no longer know "disputed".  The downgrade
puts the interruptions back as suspensions (open ones as ``disputed`` invoices), restores
0010's guard and drops the new tables.

The receipt date: ``invoices.received_on`` (declared at recording, by default the upload
day) stays frozen with the invoice; finance enters the real receipt, the Chorus Pro deposit
date, in the new ``chorus_received_on`` (with who and when), and the clock runs from it.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011_clock'
down_revision = '0015_uo4'
branch_labels = None
depends_on = None

#: PostgreSQL guard of invoices (migration 0010_ledger), frozen copy of
#: ``fc_market.integrity.postgresql_triggers()`` at this revision: the status moves no longer
#: know "disputed".  The downgrade puts back 0010's moves.
GUARD_INVOICES = """CREATE OR REPLACE FUNCTION fc_guard_invoices() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF TRUE THEN
      RAISE EXCEPTION 'fc_market: % % figé(e), suppression refusée', TG_TABLE_NAME, OLD.id
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN OLD;
  END IF;
  IF NEW.status IS DISTINCT FROM OLD.status AND NOT ((OLD.status = 'received' AND NEW.status = 'accepted') OR (OLD.status = 'received' AND NEW.status = 'rejected')) THEN
    RAISE EXCEPTION 'fc_market: % %, passage de % à % refusé', TG_TABLE_NAME, OLD.id,
      OLD.status, NEW.status USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  IF TRUE AND ROW(NEW.lot_id, NEW.statement_id, NEW.kind, NEW.corrects_id, NEW.number, NEW.issued_on, NEW.received_on, NEW.amount_excl_tax, NEW.vat, NEW.amount_incl_tax, NEW.deductions, NEW.invoiced_lines::jsonb, NEW.match_status, NEW.file_key, NEW.file_mimetype, NEW.file_sha256, NEW.file_name, NEW.structured_format, NEW.recorded_at, NEW.recorded_by_id, NEW.ledger_year, NEW.ledger_position, NEW.inalterable_hash)
      IS DISTINCT FROM ROW(OLD.lot_id, OLD.statement_id, OLD.kind, OLD.corrects_id, OLD.number, OLD.issued_on, OLD.received_on, OLD.amount_excl_tax, OLD.vat, OLD.amount_incl_tax, OLD.deductions, OLD.invoiced_lines::jsonb, OLD.match_status, OLD.file_key, OLD.file_mimetype, OLD.file_sha256, OLD.file_name, OLD.structured_format, OLD.recorded_at, OLD.recorded_by_id, OLD.ledger_year, OLD.ledger_position, OLD.inalterable_hash) THEN
    RAISE EXCEPTION 'fc_market: % % figé(e), modification refusée', TG_TABLE_NAME, OLD.id
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END $$"""
GUARD_INVOICES_0010 = GUARD_INVOICES.replace(
    "(OLD.status = 'received' AND NEW.status = 'accepted') OR (OLD.status = 'received' AND NEW.status = 'rejected')",
    "(OLD.status = 'received' AND NEW.status = 'accepted') OR (OLD.status = 'received' AND NEW.status = 'disputed') OR (OLD.status = 'received' AND NEW.status = 'rejected') OR (OLD.status = 'disputed' AND NEW.status = 'accepted') OR (OLD.status = 'disputed' AND NEW.status = 'rejected')")

MIGRATED_DOCUMENTS = ("Pièces demandées lors de la contestation (reprise de l'historique) : "
                      "voir les motifs.")


def upgrade():
    op.create_table(
        'invoice_interruptions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('invoice_id', sa.Integer(), nullable=False),
        sa.Column('notified_on', sa.Date(), nullable=False),
        sa.Column('reasons', sa.Text(), nullable=False),
        sa.Column('documents_expected', sa.Text(), nullable=False),
        sa.Column('documents_received_on', sa.Date(), nullable=True),
        sa.Column('from_dispute', sa.Boolean(), nullable=False),
        sa.Column('recorded_at', sa.DateTime(), nullable=False),
        sa.Column('recorded_by_id', sa.Integer(), nullable=True),
        sa.Column('closed_at', sa.DateTime(), nullable=True),
        sa.Column('closed_by_id', sa.Integer(), nullable=True),
        sa.CheckConstraint('documents_received_on IS NULL OR documents_received_on >= notified_on',
                           name=op.f('ck_invoice_interruptions_dates')),
        sa.ForeignKeyConstraint(['closed_by_id'], ['users.id'],
                                name=op.f('fk_invoice_interruptions_closed_by_id_users')),
        sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'],
                                name=op.f('fk_invoice_interruptions_invoice_id_invoices')),
        sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'],
                                name=op.f('fk_invoice_interruptions_recorded_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_invoice_interruptions')),
        sa.UniqueConstraint('invoice_id', name=op.f('uq_invoice_interruptions_invoice_id')),
    )
    op.create_table(
        'interruption_documents',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('interruption_id', sa.Integer(), nullable=False),
        sa.Column('file_key', sa.String(length=80), nullable=False),
        sa.Column('file_mimetype', sa.String(length=40), nullable=False),
        sa.Column('file_sha256', sa.String(length=64), nullable=False),
        sa.Column('file_name', sa.String(length=200), nullable=False),
        sa.Column('comment', sa.String(length=500), nullable=True),
        sa.Column('uploaded_at', sa.DateTime(), nullable=False),
        sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['interruption_id'], ['invoice_interruptions.id'],
                                name=op.f('fk_interruption_documents_interruption_id_invoice_interruptions')),
        sa.ForeignKeyConstraint(['uploaded_by_id'], ['users.id'],
                                name=op.f('fk_interruption_documents_uploaded_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_interruption_documents')),
        sa.UniqueConstraint('file_key', name=op.f('uq_interruption_documents_file_key')),
    )
    with op.batch_alter_table('interruption_documents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_interruption_documents_interruption_id'),
                              ['interruption_id'], unique=False)
    op.create_table(
        'figures_audits',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('ran_at', sa.DateTime(), nullable=False),
        sa.Column('ok', sa.Boolean(), nullable=False),
        sa.Column('checked', sa.Integer(), nullable=False),
        sa.Column('disagreement_count', sa.Integer(), nullable=False),
        sa.Column('result', sa.JSON(), nullable=False),
        sa.Column('source', sa.String(length=12), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_figures_audits')),
    )

    # the existing disputes become interruptions (see the docstring), in SQL so the dates
    # never travel through Python as text
    conn = op.get_bind()
    postgresql = conn.dialect.name == "postgresql"
    if postgresql:  # "disputed" → "received" is no move of the 0010 guard: this is a migration
        conn.execute(sa.text("ALTER TABLE invoices DISABLE TRIGGER fc_guard_invoices"))
    conn.execute(sa.text(
        "INSERT INTO invoice_interruptions (invoice_id, notified_on, reasons, documents_expected, "
        "documents_received_on, from_dispute, recorded_at, recorded_by_id, closed_at, closed_by_id) "
        "SELECT id, suspended_from, COALESCE(NULLIF(TRIM(dispute_reason), ''), 'Motif non renseigné'), "
        ":documents, suspended_until, :yes, recorded_at, decided_by_id, "
        "CASE WHEN suspended_until IS NOT NULL THEN decided_at END, "
        "CASE WHEN suspended_until IS NOT NULL THEN decided_by_id END "
        "FROM invoices WHERE suspended_from IS NOT NULL ORDER BY id"),
        {"documents": MIGRATED_DOCUMENTS, "yes": True})
    conn.execute(sa.text("UPDATE invoices SET status = 'received' WHERE status = 'disputed'"))
    if postgresql:
        conn.execute(sa.text(GUARD_INVOICES))
        conn.execute(sa.text("ALTER TABLE invoices ENABLE TRIGGER fc_guard_invoices"))

    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('chorus_received_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('receipt_entered_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('receipt_entered_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_invoices_receipt_entered_by_id_users'), 'users',
                                    ['receipt_entered_by_id'], ['id'])
        batch_op.create_check_constraint(
            batch_op.f('ck_invoices_chorus_received'),
            'chorus_received_on IS NULL OR chorus_received_on >= issued_on')
        batch_op.drop_constraint(batch_op.f('ck_invoices_suspension'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_invoices_status'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_invoices_status'),
                                         "status IN ('received', 'accepted', 'rejected')")
        batch_op.drop_column('suspended_until')
        batch_op.drop_column('suspended_from')
        batch_op.drop_column('dispute_reason')


def downgrade():
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dispute_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('suspended_from', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('suspended_until', sa.Date(), nullable=True))
        batch_op.drop_constraint(batch_op.f('ck_invoices_status'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_invoices_status'),
                                         "status IN ('received', 'accepted', 'disputed', 'rejected')")
        batch_op.create_check_constraint(batch_op.f('ck_invoices_suspension'),
                                         'suspended_until IS NULL OR suspended_from IS NOT NULL')
        batch_op.drop_constraint(batch_op.f('fk_invoices_receipt_entered_by_id_users'),
                                 type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('ck_invoices_chorus_received'), type_='check')
        batch_op.drop_column('receipt_entered_by_id')
        batch_op.drop_column('receipt_entered_at')
        batch_op.drop_column('chorus_received_on')
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text(GUARD_INVOICES_0010))
    conn.execute(sa.text(
        "UPDATE invoices SET "
        "suspended_from = (SELECT x.notified_on FROM invoice_interruptions x WHERE x.invoice_id = invoices.id), "
        "suspended_until = (SELECT x.documents_received_on FROM invoice_interruptions x "
        "WHERE x.invoice_id = invoices.id), "
        "dispute_reason = (SELECT x.reasons FROM invoice_interruptions x WHERE x.invoice_id = invoices.id) "
        "WHERE id IN (SELECT invoice_id FROM invoice_interruptions)"))
    conn.execute(sa.text(
        "UPDATE invoices SET status = 'disputed' WHERE status = 'received' AND id IN "
        "(SELECT invoice_id FROM invoice_interruptions WHERE documents_received_on IS NULL)"))
    op.drop_table('figures_audits')
    with op.batch_alter_table('interruption_documents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_interruption_documents_interruption_id'))
    op.drop_table('interruption_documents')
    op.drop_table('invoice_interruptions')
