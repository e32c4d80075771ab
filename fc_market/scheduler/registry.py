"""Scheduled jobs.

Modules declare jobs in ``fc_market/<module>/jobs.py`` with :func:`job`; the scheduler
process (``flask --app fc_market scheduler run``, one per deployment) runs them with
APScheduler.  :func:`run_once` records each slot in ``job_runs`` under a unique key, so a
slot runs once even if two schedulers run by mistake, and a failed slot can be retried.
"""
import logging
import traceback
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from fc_market.domains import submodules
from fc_market.extensions import db
from fc_market.models_base import utcnow
from fc_market.scheduler.models import JobRun, RunStatus
from fc_market.unit_of_work import unit

log = logging.getLogger(__name__)


@dataclass
class Job:
    name: str
    func: object
    #: APScheduler cron fields, e.g. {"hour": 6, "minute": 0}
    cron: dict
    #: strftime pattern of the slot key: one run per day by default
    slot: str = "%Y-%m-%d"
    description: str = ""


JOBS = {}


def job(name, *, cron, slot="%Y-%m-%d", description=""):
    """Declare ``func(today: date)`` as a scheduled job."""
    def decorator(func):
        JOBS[name] = Job(name, func, cron, slot, description or (func.__doc__ or "").strip())
        return func
    return decorator


def load_jobs():
    # importing a module's jobs.py declares its jobs
    for _ in submodules("jobs"):
        pass
    return JOBS


def run_once(name, now=None, run_key=None):
    """Run job ``name`` for the slot of ``now`` unless that slot already ran; returns the
    JobRun, or None when another process holds the slot."""
    load_jobs()
    spec = JOBS[name]
    now = now or datetime.now(ZoneInfo("Europe/Paris"))
    key = run_key or now.strftime(spec.slot)
    try:
        with unit():  # the slot's claim, committed before the job starts
            previous = db.session.scalar(sa.select(JobRun).where(JobRun.job == name,
                                                                 JobRun.run_key == key))
            if previous is not None:
                if previous.status != RunStatus.FAILED:
                    return None
                db.session.delete(previous)  # retry a failed slot
                db.session.flush()
            run = JobRun(job=name, run_key=key)
            db.session.add(run)
    except IntegrityError:
        return None
    run_id = run.id
    try:
        with unit():  # the job: all of it or nothing
            result = spec.func(now.date() if hasattr(now, "date") else now)
        status, detail = RunStatus.DONE, (str(result)[:2000] if result is not None else None)
    except Exception:
        log.exception("job %s (%s) failed", name, key)
        status, detail = RunStatus.FAILED, traceback.format_exc()[-2000:]
    with unit():  # its outcome
        run = db.session.get(JobRun, run_id)
        run.status, run.detail, run.finished_at = status, detail, utcnow()
    return run
