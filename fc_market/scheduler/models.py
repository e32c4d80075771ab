from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from fc_market.extensions import db
from fc_market.integrity import StatusEnum, status_column
from fc_market.models_base import utcnow


class RunStatus(StatusEnum):
    RUNNING = "running", "En cours"
    DONE = "done", "Terminé"
    FAILED = "failed", "En échec"

    @classmethod
    def moves(cls):
        return {cls.RUNNING: {cls.DONE, cls.FAILED}}


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
    status: Mapped[RunStatus] = status_column(RunStatus, 8, default=RunStatus.RUNNING)
    detail: Mapped[str | None] = mapped_column(sa.Text)

    __table_args__ = (sa.UniqueConstraint("job", "run_key"),
                      RunStatus.check_constraint())
