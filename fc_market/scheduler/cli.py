from datetime import datetime
from zoneinfo import ZoneInfo

import click
from flask import current_app
from flask.cli import AppGroup

from fc_market.scheduler.models import RunStatus
from fc_market.scheduler.registry import load_jobs, run_once
from fc_market.unit_of_work import manages_units

scheduler_cli = AppGroup("scheduler", help="Tâches planifiées (un seul processus par déploiement).")


@scheduler_cli.command("list")
def list_jobs():
    """Liste les tâches planifiées."""
    for job in load_jobs().values():
        click.echo(f"{job.name:<32} {job.cron}  {job.description}")


@manages_units  # run_once opens the units: the slot's claim, the job, its outcome
@scheduler_cli.command("run-job")
@click.argument("name")
@click.option("--at", "at", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M"]),
              help="Date du créneau (défaut : maintenant).")
def run_job(name, at):
    """Exécute une tâche pour un créneau, si ce créneau n'a pas déjà tourné."""
    jobs = load_jobs()
    if name not in jobs:
        raise click.UsageError(f"Tâche inconnue « {name} » ; voir « scheduler list ».")
    tz = ZoneInfo(current_app.config["SCHEDULER_TIMEZONE"])
    now = at.replace(tzinfo=tz) if at else datetime.now(tz)
    run = run_once(name, now)
    if run is None:
        click.echo(f"{name} : créneau déjà exécuté, rien à faire.")
    else:
        click.echo(f"{name} : {run.status}. {run.detail or ''}")
        if run.status == RunStatus.FAILED:
            raise SystemExit(1)


@manages_units
@scheduler_cli.command("run")
def run_scheduler():
    """Lance le planificateur (bloquant)."""
    from apscheduler.schedulers.blocking import BlockingScheduler
    app = current_app._get_current_object()
    tz = app.config["SCHEDULER_TIMEZONE"]
    scheduler = BlockingScheduler(timezone=tz)
    for job in load_jobs().values():
        def fire(name=job.name):
            with app.app_context():
                run_once(name)
        scheduler.add_job(fire, "cron", id=job.name, name=job.name, coalesce=True,
                          max_instances=1, misfire_grace_time=3600, **job.cron)
    click.echo(f"Planificateur démarré ({len(scheduler.get_jobs())} tâches, fuseau {tz}).")
    scheduler.start()


def register(app):
    app.cli.add_command(scheduler_cli)
