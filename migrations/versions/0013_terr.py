"""Coverage terms of a lot's contract: the radius of the access rule and the site kinds
that count (contract file ``[defaults.territory]``; existing lots get 30 km and permanent
sites, the values every screen used until now).

Revision ID: 0013_terr
Revises: 0007_merge_heads
"""
import sqlalchemy as sa
from alembic import op

revision = '0013_terr'
down_revision = '0007_merge_heads'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('lot_contracts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('coverage_radius_km', sa.Numeric(precision=6, scale=2),
                                      server_default='30', nullable=False))
        batch_op.add_column(sa.Column('coverage_site_kinds', sa.JSON(),
                                      server_default='["permanent"]', nullable=False))
        batch_op.create_check_constraint(batch_op.f('ck_lot_contracts_coverage_radius'),
                                         'coverage_radius_km > 0')


def downgrade():
    with op.batch_alter_table('lot_contracts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_lot_contracts_coverage_radius'), type_='check')
        batch_op.drop_column('coverage_site_kinds')
        batch_op.drop_column('coverage_radius_km')
