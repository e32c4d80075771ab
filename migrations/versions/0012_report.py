"""Contract terms: the contract file's extra keys stored with each lot's contract.

``lot_contracts.extra_terms`` (JSON) holds the validated extra keys of the contract file
(coverage radius and site kinds, revision coefficient decimals, VAT treatment of penalties,
UO display order, non-conformity reasons, steering horizons, volume-change thresholds…),
read through ``fc_market.market.terms.lot_terms``.  Existing contracts keep NULL, which
reads every key at its default (the value the code used before); the next
``flask market load`` fills it.

Revision ID: 0012_report
Revises: 0007_merge_heads
"""
import sqlalchemy as sa
from alembic import op

revision = '0012_report'
down_revision = '0007_merge_heads'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("lot_contracts") as batch:
        batch.add_column(sa.Column("extra_terms", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("lot_contracts") as batch:
        batch.drop_column("extra_terms")
