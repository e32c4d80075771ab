from datetime import date, datetime

import sqlalchemy as sa

from fc_market.extensions import db
from fc_market.scheduler import registry
from fc_market.scheduler.models import JobRun


def test_a_slot_runs_once_and_a_failed_slot_is_retried(app):
    calls = []

    @registry.job("test.counter", cron={"hour": 1})
    def counter(today):
        calls.append(today)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return "ok"

    try:
        at = datetime(2026, 3, 10, 6, 0)
        failed = registry.run_once("test.counter", at)
        assert failed.status == "failed" and "boom" in failed.detail
        done = registry.run_once("test.counter", at)
        assert done.status == "done" and done.detail == "ok"
        assert registry.run_once("test.counter", at) is None  # the slot already ran
        assert calls == [date(2026, 3, 10), date(2026, 3, 10)]
        registry.run_once("test.counter", datetime(2026, 3, 11, 6, 0))
        assert len(calls) == 3
        assert db.session.scalar(sa.select(sa.func.count()).select_from(JobRun)) == 2
    finally:
        registry.JOBS.pop("test.counter")


def test_another_process_holding_the_slot_wins(app):
    @registry.job("test.held", cron={"hour": 1})
    def held(today):
        raise AssertionError("must not run")

    try:
        db.session.add(JobRun(job="test.held", run_key="2026-03-10", status="running"))
        db.session.commit()
        assert registry.run_once("test.held", datetime(2026, 3, 10, 6)) is None
    finally:
        registry.JOBS.pop("test.held")


def test_scheduler_cli_lists_jobs(app):
    result = app.test_cli_runner().invoke(args=["scheduler", "list"])
    assert result.exit_code == 0 and "notifications.send_emails" in result.output
