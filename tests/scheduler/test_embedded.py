"""The jobs run under the README's run command: `make run` starts a scheduler beside the
development server (and stops it with it), catching up the slots it missed."""
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from fc_market.extensions import db
from fc_market.scheduler import registry
from fc_market.scheduler.cli import missed_fire_times
from fc_market.scheduler.models import JobRun

PARIS = ZoneInfo("Europe/Paris")


def test_missed_fire_times_are_the_latest_slot_of_each_job_in_the_window(app):
    jobs = registry.load_jobs()
    now = datetime(2025, 4, 10, 9, 4, tzinfo=PARIS)
    missed = missed_fire_times(jobs, now, 24)
    assert missed["reporting.deadlines"] == datetime(2025, 4, 10, 7, 0, tzinfo=PARIS)
    assert missed["steering.flags"] == datetime(2025, 4, 10, 2, 30, tzinfo=PARIS)
    assert missed["notifications.send_emails"] == datetime(2025, 4, 10, 9, 0, tzinfo=PARIS)
    # every minute (issue 16: « Recalculer maintenant » shows its progress lot by lot)
    assert missed["steering.refresh"] == datetime(2025, 4, 10, 9, 4, tzinfo=PARIS)
    assert "steering.pack" not in missed  # the 15th at 06:00: not in the last 24 hours
    assert missed_fire_times(jobs, datetime(2025, 4, 15, 6, 0, tzinfo=PARIS), 1)["steering.pack"] \
        == datetime(2025, 4, 15, 6, 0, tzinfo=PARIS)


def test_catch_up_runs_each_missed_slot_once(app, market):
    runner = app.test_cli_runner()
    args = ["scheduler", "catch-up", "--hours", "6", "--at", "2025-04-10T09:04"]
    first = runner.invoke(args=args)
    assert first.exit_code == 0, first.output
    assert "Rattrapage reporting.deadlines (10/04/2025 07:00) : done." in first.output
    runs = {(r.job, r.run_key) for r in db.session.scalars(sa.select(JobRun))}
    assert ("reporting.deadlines", "2025-04-10") in runs
    assert ("steering.refresh", "2025-04-10T09:04") in runs
    assert not any(job == "steering.flags" for job, _ in runs)  # 02:30 is more than 6 hours ago
    again = runner.invoke(args=args)
    assert again.exit_code == 0 and "Rattrapage" not in again.output  # every slot already ran


def test_make_run_starts_and_stops_the_scheduler_with_the_server():
    makefile = (Path(__file__).parents[2] / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\nrun: install\n", 1)[1].split("\n\n", 1)[0]
    assert "scheduler run --catch-up 24 & scheduler=$$!" in recipe
    assert "trap 'kill $$scheduler" in recipe and "EXIT INT TERM" in recipe
    assert recipe.rstrip().endswith("$(FLASK) run --host $(HOST) --port $(PORT)")
