"""Offline lookup digests: what /sync/customers sends instead of a fast phone hash and card numbers.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08 05:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "offline_lookups",
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value_mac", sa.String(length=64), nullable=False),
        sa.Column("scheme", sa.String(length=64), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "kind", "value_mac", "scheme"),
    )


def downgrade() -> None:
    op.drop_table("offline_lookups")
