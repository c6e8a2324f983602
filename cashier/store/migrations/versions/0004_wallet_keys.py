"""Wallet keys: the till keeps the accepted keys (a rotation needs an endorsement it checks) and
each customer's withdrawal time.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08 06:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rules", schema=None) as batch_op:
        batch_op.add_column(sa.Column("wallet_keys", sa.JSON(), nullable=True))
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("wallet_not_before", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("wallet_not_before")
    with op.batch_alter_table("rules", schema=None) as batch_op:
        batch_op.drop_column("wallet_keys")
