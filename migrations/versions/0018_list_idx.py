"""Lists at market scale (issue 16): the indexes the paginated lists and the review page read

Revision ID: 0018_list_idx
Revises: 0017_dsfr2
Create Date: 2026-12-02 02:40:00

* ``acts (version_id, uo_id)`` replaces ``acts (version_id)``: a version's acts as before,
  and their count by UO from the index alone (the review page of a version counts twelve
  months of its lot and the month of every lot: ~200,000 acts at market scale);
* ``audit_entries (action, at)``: the audit log filtered on an action (and dates) or
  sorted by action;
* the audit log's search (a summary containing the text, an object's number, an author's
  address): ``audit_entries (object_id)``, ``audit_entries (user_id)`` and, on PostgreSQL,
  a trigram index on ``lower(summary)`` (extension pg_trgm, trusted: the database owner
  creates it).
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0018_list_idx'
down_revision = '0017_dsfr2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('acts', schema=None) as batch_op:
        batch_op.create_index('ix_acts_version_uo', ['version_id', 'uo_id'], unique=False)
        batch_op.drop_index(batch_op.f('ix_acts_version_id'))
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.create_index('ix_audit_entries_action_at', ['action', 'at'], unique=False)
        batch_op.create_index('ix_audit_entries_object_id', ['object_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_entries_user_id'), ['user_id'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        op.execute('CREATE INDEX ix_audit_entries_summary_trgm ON audit_entries '
                   'USING gin (lower(summary) gin_trgm_ops)')


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP INDEX IF EXISTS ix_audit_entries_summary_trgm')
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_entries_user_id'))
        batch_op.drop_index('ix_audit_entries_object_id')
        batch_op.drop_index('ix_audit_entries_action_at')
    with op.batch_alter_table('acts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_acts_version_id'), ['version_id'], unique=False)
        batch_op.drop_index('ix_acts_version_uo')
