"""Command-line interface: ``flask --app fc_market <group> <command>``.

Commands are thin: they call the same service functions as the views.  Domain modules
add their own group in ``fc_market/<module>/cli.py`` with ``register(app)``.
"""
import json
import sys
from datetime import date

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from fc_market.extensions import db

market_cli = AppGroup("market", help="Le marché : lots, contrats, prix.")
demo_cli = AppGroup("demo", help="Données de démonstration.")
users_cli = AppGroup("users", help="Comptes utilisateurs.")


def fail(message, code=1):
    click.echo(message, err=True)
    sys.exit(code)


@market_cli.command("load")
@click.argument("path", type=click.Path(dir_okay=False))
def market_load(path):
    """Charge ou met à jour un fichier de marché (idempotent)."""
    from fc_market.market.contract_file import ContractFileError, load_file
    try:
        report = load_file(path, user=None)
    except ContractFileError as exc:
        lines = "\n".join(f"  - {key} : {message}" for key, message in exc.errors)
        fail(f"Fichier refusé, rien n'a été chargé ({len(exc.errors)} problème(s)) :\n{lines}")
    click.echo(report.summary_fr())
    for warning in report.warnings:
        click.echo(f"Attention : {warning}", err=True)


@market_cli.command("lots")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON pour les scripts.")
@click.option("--date", "on", type=click.DateTime(["%Y-%m-%d"]), help="Prix en vigueur à cette date.")
def market_lots(as_json, on):
    """Liste les lots avec titulaire, mandataire, dates et prix en vigueur."""
    from fc_market.market.service import lots_json
    rows = lots_json(on.date() if on else None)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for r in rows:
        prices = ", ".join(f"{k} {v}" for k, v in r["prices"].items())
        click.echo(f"{r['code']:<4} {r['name']:<28} {r['operator'] or '-':<50} {prices}")


@demo_cli.command("seed")
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), help="Date de référence (défaut : aujourd'hui).")
@click.option("--scale", type=click.FloatRange(0, 1, min_open=True), default=1.0, show_default=True,
              help="Part des volumes d'actes à générer (la démonstration : 1).")
@click.option("--lots", "lot_codes", help="Codes des seuls lots à peupler, séparés par des virgules "
              "(défaut : tous).")
def demo_seed(today, scale, lot_codes):
    """Construit un marché synthétique déterministe sur le fichier de marché chargé."""
    from fc_market.demo.seed import SeedError, run
    codes = [code.strip() for code in lot_codes.split(",") if code.strip()] if lot_codes else None
    try:
        summary = run(today.date() if today else date.today(), scale=scale, lot_codes=codes)
    except SeedError as exc:
        fail(str(exc))
    click.echo(summary)


@demo_cli.command("logins")
def demo_logins():
    """Affiche un identifiant de démonstration par profil."""
    from fc_market.demo.seed import logins_text
    click.echo(logins_text())


@users_cli.command("create")
@click.argument("email")
@click.option("--name", required=True)
@click.option("--role", type=click.Choice(["manager", "finance", "mandataire", "admin"]), required=True)
@click.option("--lot", "lot_code", help="Code du lot (mandataire uniquement).")
@click.password_option()
def users_create(email, name, role, lot_code, password):
    """Crée un compte."""
    from fc_market.auth.service import create_user
    from fc_market.market.models import Lot
    lot = None
    if lot_code:
        lot = db.session.scalar(sa.select(Lot).where(Lot.code == lot_code))
        if lot is None:
            fail(f"Lot « {lot_code} » inconnu.")
    try:
        create_user(email, name, role, password, lot)
    except ValueError as exc:
        fail(str(exc))
    click.echo(f"Compte {email} créé.")


def register_cli(app):
    """Our command groups, each command one unit of work (``unit_of_work.wrap_cli``)."""
    from fc_market.domains import submodules
    from fc_market.unit_of_work import wrap_cli
    for group in (market_cli, demo_cli, users_cli):
        app.cli.add_command(wrap_cli(group))
    # each domain module's ``cli.register(app)``
    for cli in submodules("cli"):
        cli.register(app)
    for name, command in app.cli.commands.items():
        if name != "db":
            wrap_cli(command)
