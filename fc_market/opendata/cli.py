"""``flask --app fc_market opendata decp|ocds -o FILE``: the market's open data."""
import sys

import click
from flask.cli import AppGroup


opendata_cli = AppGroup("opendata", help="Données ouvertes du marché (DECP v2, OCDS 1.1).")


def _produce(kind, output):
    from fc_market.opendata import service
    try:
        export = service.produce(kind)
    except service.PublicationError as exc:
        for problem in exc.problems:
            click.echo(f"- {problem}", err=True)
        click.echo("Aucun fichier écrit.", err=True)
        sys.exit(1)
    with open(output, "w", encoding="utf-8") as fh:
        fh.write(export.content)
    summary = ", ".join(f"{v} {k}" for k, v in export.summary.items())
    click.echo(f"{output} : {export.size} octets ({summary}), valide contre son schéma.")


@opendata_cli.command("decp")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, writable=True),
              help="Fichier JSON à écrire.")
def decp_command(output):
    """Écrit les données essentielles des 18 marchés de lot au format DECP v2 (marches)."""
    _produce("decp", output)


@opendata_cli.command("ocds")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, writable=True),
              help="Fichier JSON à écrire.")
def ocds_command(output):
    """Écrit le paquet de publications OCDS 1.1 (attribution, contrat, avenants, exécution)."""
    _produce("ocds", output)


def register(app):
    app.cli.add_command(opendata_cli)
