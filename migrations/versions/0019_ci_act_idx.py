"""Control items: an index on ``act_id``, the key referencing ``acts``

Revision ID: 0019_ci_act_idx
Revises: 0018_list_idx
Create Date: 2026-12-02 06:40:00

PostgreSQL checks the foreign key ``control_items.act_id → acts.id`` for every act deleted
(a draft's acts replaced by a new file, an act removed in the web form): without an index on
``control_items (act_id)`` — the unique ``(campaign_id, act_id)`` does not lead with it —
each check reads the whole table.  Measured on PostgreSQL 15 (issue 16): deleting a
20,000-act draft took 0.66 s with no control item in the database, 4.96 s with 2,000 and
21.1 s with 10,000 (a few years of campaigns over 18 lots); with the index, 0.68 s with
10,000.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0019_ci_act_idx'
down_revision = '0018_list_idx'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('control_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_control_items_act_id'), ['act_id'], unique=False)


def downgrade():
    with op.batch_alter_table('control_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_control_items_act_id'))
