from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from fc_market.extensions import db
from fc_market.models_base import utcnow


class JobRun(db.Model):
    """One run of a scheduled job for one slot; the unique key makes a slot run once,
    however many scheduler processes or web workers try."""
    __tablename__ = "job_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(sa.String(64))
    #: The slot, e.g. "2026-11-23" for a daily job
    run_key: Mapped[str] = mapped_column(sa.String(64))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(sa.String(8), default="running")
    detail: Mapped[str | None] = mapped_column(sa.Text)

    __table_args__ = (sa.UniqueConstraint("job", "run_key"),
                      sa.CheckConstraint("status IN ('running', 'done', 'failed')", name="status"))
