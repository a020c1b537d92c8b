"""order lifecycle enforced in the database; ledger claims per task try

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 14:40:00

- ``order_transitions`` holds the allowed (old, new) status pairs of hub/lifecycle.py, filled here
  from that declaration (a test compares the two; a later change of the declaration needs a
  migration that refills the table).
- ``orders.status`` gets a CHECK over the known states, and a trigger refuses any update to a status
  pair the table does not hold, on SQLite and PostgreSQL alike.
- ``ledger.claimed_by`` names one try of one task of one run (dag.task[map]#try@run), so it widens.
"""

import sqlalchemy as sa
from alembic import op

from hub.lifecycle import transition_pairs
from hub.schema import STATUS_CHECK

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SQLITE_TRIGGER = """
CREATE TRIGGER orders_status_transition BEFORE UPDATE OF status ON orders
FOR EACH ROW WHEN NEW.status <> OLD.status AND NOT EXISTS (
    SELECT 1 FROM order_transitions t WHERE t.from_state = OLD.status AND t.to_state = NEW.status
)
BEGIN
    SELECT RAISE(ABORT, 'illegal order status transition (hub/lifecycle.py TRANSITIONS)');
END
"""

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION orders_status_transition() RETURNS trigger AS $$
BEGIN
    IF NEW.status <> OLD.status AND NOT EXISTS (
        SELECT 1 FROM order_transitions t WHERE t.from_state = OLD.status AND t.to_state = NEW.status
    ) THEN
        RAISE EXCEPTION 'illegal order status transition % -> % of order %/% (hub/lifecycle.py TRANSITIONS)',
            OLD.status, NEW.status, OLD.source, OLD.crm_order_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql
"""

PG_TRIGGER = """
CREATE TRIGGER orders_status_transition BEFORE UPDATE OF status ON orders
FOR EACH ROW EXECUTE FUNCTION orders_status_transition()
"""


def upgrade() -> None:
    transitions = op.create_table(
        "order_transitions",
        sa.Column("from_state", sa.String(length=16), nullable=False),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("from_state", "to_state", name=op.f("pk_order_transitions")),
    )
    op.bulk_insert(transitions, [{"from_state": old, "to_state": new} for old, new in transition_pairs()])
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_check_constraint("status", sa.text(STATUS_CHECK))
    with op.batch_alter_table("ledger", schema=None) as batch_op:
        batch_op.alter_column(
            "claimed_by",
            existing_type=sa.String(length=200),
            type_=sa.String(length=400),
            comment="the task try holding the claim: dag.task[map]#try@run",
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute(PG_TRIGGER)
    else:
        op.execute(SQLITE_TRIGGER)


def downgrade() -> None:
    op.execute(
        "DROP TRIGGER IF EXISTS orders_status_transition"
        + (" ON orders" if op.get_bind().dialect.name == "postgresql" else "")
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS orders_status_transition()")
    with op.batch_alter_table("ledger", schema=None) as batch_op:
        batch_op.alter_column("claimed_by", existing_type=sa.String(length=400), type_=sa.String(length=200))
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint("ck_orders_status", type_="check")
    op.drop_table("order_transitions")
