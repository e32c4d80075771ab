"""The audit log: who did what, when, on which object, with the changed values."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fc_market.extensions import db
from fc_market.models_base import utcnow


class AuditEntry(db.Model):
    __tablename__ = "audit_entries"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    #: The acting user; empty for the system (scheduled jobs, command line)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    #: Name of the actor when not a user (e.g. "cli", "scheduler")
    actor: Mapped[str | None] = mapped_column(sa.String(64))
    action: Mapped[str] = mapped_column(sa.String(64))
    object_type: Mapped[str] = mapped_column(sa.String(64))
    object_id: Mapped[str | None] = mapped_column(sa.String(64))
    #: Lot concerned, so a lot's history can be read on its own
    lot_id: Mapped[int | None] = mapped_column(sa.ForeignKey("lots.id"), index=True)
    summary: Mapped[str] = mapped_column(sa.String(500))
    #: {"field": [old, new], ...} or any JSON detail
    changes: Mapped[dict | None] = mapped_column(sa.JSON)

    user = relationship("User")
    lot = relationship("Lot")

    __table_args__ = (sa.Index("ix_audit_entries_object", "object_type", "object_id"),
                      # the log filtered on an action (and dates), or sorted by action
                      sa.Index("ix_audit_entries_action_at", "action", "at"),
                      # the log's search: an object's number, whatever its type
                      sa.Index("ix_audit_entries_object_id", "object_id"))


#: The log's search in the summaries (``lower(summary) LIKE '%…%'``) read from a trigram
#: index (PostgreSQL's pg_trgm extension, created with the schema); SQLite scans
sa.Index("ix_audit_entries_summary_trgm", sa.func.lower(AuditEntry.summary).label("lower_summary"),
         postgresql_using="gin", postgresql_ops={"lower_summary": "gin_trgm_ops"}
         ).ddl_if(dialect="postgresql")
sa.event.listen(db.metadata, "before_create",
                sa.DDL("CREATE EXTENSION IF NOT EXISTS pg_trgm").execute_if(dialect="postgresql"))


class FiguresAudit(db.Model):
    """One run of ``audit figures``: the screens' totals recomputed independently from the
    acts, statements, invoices, payments and sites.  The latest row is shown to finance and
    administrators."""
    __tablename__ = "figures_audits"
    id: Mapped[int] = mapped_column(primary_key=True)
    ran_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: True when no disagreement was found
    ok: Mapped[bool] = mapped_column(default=False)
    #: Number of figures compared
    checked: Mapped[int] = mapped_column(default=0)
    disagreement_count: Mapped[int] = mapped_column(default=0)
    #: {"checks": {name: count}, "disagreements": [{"check", "where", "what", "shown", "expected"}]}
    result: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    #: cli or scheduler
    source: Mapped[str] = mapped_column(sa.String(12), default="cli")
