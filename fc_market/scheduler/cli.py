from datetime import datetime, timedelta
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


def missed_fire_times(jobs, now, hours):
    """{job name: its latest scheduled time in (now − hours, now]}: the slots a scheduler
    that was not running would have fired (each runs at most once, see ``run_once``)."""
    from apscheduler.triggers.cron import CronTrigger
    since = now - timedelta(hours=hours)
    out = {}
    for job in jobs.values():
        trigger = CronTrigger(timezone=now.tzinfo, **job.cron)
        latest, fire = None, trigger.get_next_fire_time(None, since)
        while fire is not None and fire <= now:
            latest = fire
            fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
        if latest is not None and latest > since:
            out[job.name] = latest
    return out


def catch_up(hours, now=None):
    """Run the slots missed in the last ``hours`` (at most once each); returns the runs."""
    tz = ZoneInfo(current_app.config["SCHEDULER_TIMEZONE"])
    now = now or datetime.now(tz)
    runs = []
    for name, when in sorted(missed_fire_times(load_jobs(), now, hours).items(),
                             key=lambda item: item[1]):
        run = run_once(name, when)
        if run is not None:
            runs.append(run)
            click.echo(f"Rattrapage {name} ({when:%d/%m/%Y %H:%M}) : {run.status}.")
    return runs


@manages_units  # run_once opens the units: the slot's claim, the job, its outcome
@scheduler_cli.command("catch-up")
@click.option("--hours", default=24, show_default=True, help="Fenêtre de rattrapage (heures).")
@click.option("--at", "at", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M"]),
              help="Instant de référence (défaut : maintenant).")
def catch_up_command(hours, at):
    """Exécute une fois les créneaux manqués des dernières heures (planificateur arrêté)."""
    tz = ZoneInfo(current_app.config["SCHEDULER_TIMEZONE"])
    catch_up(hours, at.replace(tzinfo=tz) if at else None)


@manages_units
@scheduler_cli.command("run")
@click.option("--catch-up", "catch_up_hours", type=int, default=0,
              help="Au démarrage, exécuter les créneaux manqués des N dernières heures.")
def run_scheduler(catch_up_hours):
    """Lance le planificateur (bloquant)."""
    from apscheduler.schedulers.blocking import BlockingScheduler
    app = current_app._get_current_object()
    tz = app.config["SCHEDULER_TIMEZONE"]
    if catch_up_hours:
        catch_up(catch_up_hours)
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
