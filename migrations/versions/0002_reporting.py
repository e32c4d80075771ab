"""reporting: import journal, double-financing alerts, warning count of versions

Revision ID: 0002_reporting
Revises: 0001_foundation
Create Date: 2026-11-23 18:16:28.867322

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002_reporting'
down_revision = '0001_foundation'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('double_financing_alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('beneficiary_id', sa.String(length=64), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('lot_id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('uo_code', sa.String(length=8), nullable=False),
    sa.Column('act_date', sa.Date(), nullable=False),
    sa.Column('other_lot_id', sa.Integer(), nullable=False),
    sa.Column('other_version_id', sa.Integer(), nullable=False),
    sa.Column('other_uo_code', sa.String(length=8), nullable=False),
    sa.Column('other_act_date', sa.Date(), nullable=False),
    sa.Column('window_months', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('version_counter', sa.Integer(), nullable=False),
    sa.CheckConstraint("status IN ('open', 'confirmed', 'dismissed')", name=op.f('ck_double_financing_alerts_status')),
    sa.CheckConstraint('lot_id <> other_lot_id', name=op.f('ck_double_financing_alerts_two_lots')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_double_financing_alerts_decided_by_id_users')),
    sa.ForeignKeyConstraint(['lot_id'], ['lots.id'], name=op.f('fk_double_financing_alerts_lot_id_lots')),
    sa.ForeignKeyConstraint(['other_lot_id'], ['lots.id'], name=op.f('fk_double_financing_alerts_other_lot_id_lots')),
    sa.ForeignKeyConstraint(['other_version_id'], ['report_versions.id'], name=op.f('fk_double_financing_alerts_other_version_id_report_versions')),
    sa.ForeignKeyConstraint(['version_id'], ['report_versions.id'], name=op.f('fk_double_financing_alerts_version_id_report_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_double_financing_alerts')),
    sa.UniqueConstraint('key', name=op.f('uq_double_financing_alerts_key'))
    )
    with op.batch_alter_table('double_financing_alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_double_financing_alerts_beneficiary_id'), ['beneficiary_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_double_financing_alerts_lot_id'), ['lot_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_double_financing_alerts_other_lot_id'), ['other_lot_id'], unique=False)

    op.create_table('report_imports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lot_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=True),
    sa.Column('file_sha256', sa.String(length=64), nullable=True),
    sa.Column('file_size', sa.Integer(), nullable=True),
    sa.Column('accepted', sa.Boolean(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=True),
    sa.Column('row_count', sa.Integer(), nullable=False),
    sa.Column('error_count', sa.Integer(), nullable=False),
    sa.Column('warning_count', sa.Integer(), nullable=False),
    sa.Column('errors', sa.JSON(), nullable=True),
    sa.Column('warnings', sa.JSON(), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=True),
    sa.CheckConstraint("channel IN ('web', 'cli')", name=op.f('ck_report_imports_channel')),
    sa.CheckConstraint('NOT accepted OR error_count = 0', name=op.f('ck_report_imports_accepted_clean')),
    sa.ForeignKeyConstraint(['lot_id'], ['lots.id'], name=op.f('fk_report_imports_lot_id_lots')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_report_imports_user_id_users')),
    sa.ForeignKeyConstraint(['version_id'], ['report_versions.id'], name=op.f('fk_report_imports_version_id_report_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_imports'))
    )
    with op.batch_alter_table('report_imports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_imports_lot_id'), ['lot_id'], unique=False)
        batch_op.create_index('ix_report_imports_lot_period', ['lot_id', 'period'], unique=False)

    with op.batch_alter_table('report_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('warning_count', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    with op.batch_alter_table('report_versions', schema=None) as batch_op:
        batch_op.drop_column('warning_count')

    with op.batch_alter_table('report_imports', schema=None) as batch_op:
        batch_op.drop_index('ix_report_imports_lot_period')
        batch_op.drop_index(batch_op.f('ix_report_imports_lot_id'))

    op.drop_table('report_imports')
    with op.batch_alter_table('double_financing_alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_double_financing_alerts_other_lot_id'))
        batch_op.drop_index(batch_op.f('ix_double_financing_alerts_lot_id'))
        batch_op.drop_index(batch_op.f('ix_double_financing_alerts_beneficiary_id'))

    op.drop_table('double_financing_alerts')
