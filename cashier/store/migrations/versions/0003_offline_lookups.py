"""Offline lookups: customers and cards found by bucket and per-customer digest, never in clear.

The till no longer keeps a fast phone hash or card numbers (docs/protocol.md I): the customers the
service sent are dropped with their cards and the customer sync starts again from the beginning,
which brings them back with their lookups.  Customers registered on this till while offline are
kept; until the service has them they are found by name in the sale, not by phone.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08 05:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM customers WHERE NOT local")
    op.execute("DELETE FROM meta WHERE key = 'customers_cursor'")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index("ix_customers_phone_hash")
        batch_op.drop_column("phone_hash")
        batch_op.add_column(sa.Column("phone_bucket", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("phone_digest", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("active_until", sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_customers_phone_bucket"), ["phone_bucket"])
    op.drop_table("cards")
    op.create_table(
        "cards",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("cards", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cards_bucket"), ["bucket"])
        batch_op.create_index(batch_op.f("ix_cards_customer_id"), ["customer_id"])
    with op.batch_alter_table("rules", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lookup", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM customers WHERE NOT local")
    op.execute("DELETE FROM meta WHERE key = 'customers_cursor'")
    with op.batch_alter_table("rules", schema=None) as batch_op:
        batch_op.drop_column("lookup")
    op.drop_table("cards")
    op.create_table(
        "cards",
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("number"),
    )
    with op.batch_alter_table("cards", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cards_customer_id"), ["customer_id"])
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customers_phone_bucket"))
        batch_op.drop_column("active_until")
        batch_op.drop_column("phone_digest")
        batch_op.drop_column("phone_bucket")
        batch_op.add_column(sa.Column("phone_hash", sa.String(length=100), nullable=True))
        batch_op.create_index("ix_customers_phone_hash", ["phone_hash"])
