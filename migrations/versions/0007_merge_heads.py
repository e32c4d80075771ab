"""Merge the three branches that descended from 0001 (reporting, territory/steering,
controls/billing) into one history, so the plain ``flask db upgrade`` and ``flask db
revision`` work.  No schema change.

Revision ID: 0007_merge_heads
Revises: 0002_reporting, 0003_territory_steering, 0006_lot_manager
"""

revision = '0007_merge_heads'
down_revision = ('0002_reporting', '0003_territory_steering', '0006_lot_manager')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
