"""``flask --app fc_market reporting …``: the lot's template and the import of a filled file.

``reporting import`` acts as a user, recorded in the audit log and the import journal:
``--as EMAIL`` (a mandataire of the lot, or an FC manager/administrator importing on the
lot's behalf); by default the lot's first active mandataire account.  The audit entry also
says the import came from the command line.
"""
import json
import os
import sys
from datetime import date

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from fc_market.extensions import db
from fc_market.market.models import Lot

reporting_cli = AppGroup("reporting", help="Reporting mensuel : modèle Excel et import.")


def _fail(message, code=1):
    click.echo(message, err=True)
    sys.exit(code)


def _lot(code):
    lot = db.session.scalar(sa.select(Lot).where(Lot.code == code.upper()))
    if lot is None:
        _fail(f"Lot « {code} » inconnu.", 2)
    return lot


@reporting_cli.command("template")
@click.argument("lot_code", metavar="LOT")
@click.argument("period", metavar="PERIOD")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, writable=True),
              help="Fichier .xlsx à écrire.")
def template(lot_code, period, output):
    """Écrit le modèle Excel du lot pour la période (AAAA-MM)."""
    from fc_market.reporting import service
    from fc_market.reporting.checks import Rules
    from fc_market.reporting.workbook import build_template
    lot = _lot(lot_code)
    try:
        service.check_period(lot, period)
    except ValueError as exc:
        _fail(str(exc), 2)
    data = build_template(lot, period, Rules.load(lot, period), service.deadline(lot, period))
    with open(output, "wb") as fh:
        fh.write(data)
    click.echo(f"Modèle du lot {lot.code} pour {period} écrit dans {output}.")


@reporting_cli.command("import")
@click.argument("lot_code", metavar="LOT")
@click.argument("period", metavar="PERIOD")
@click.argument("path", metavar="FILE", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Résultat en JSON (comptes, erreurs, avertissements).")
@click.option("--as", "email", help="Compte au nom duquel importer (défaut : le mandataire du lot).")
@click.option("--submit/--draft", default=True, show_default=True,
              help="Déposer le rapport (défaut) ou le laisser en brouillon.")
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), help="Date du dépôt (retard).")
def import_(lot_code, period, path, as_json, email, submit, today):
    """Contrôle et importe un fichier ; code de sortie 0 si accepté, 1 si refusé."""
    from fc_market.reporting import service
    lot = _lot(lot_code)
    try:
        user = service.acting_user(lot, email)
    except service.ReportingError as exc:
        _fail(exc.message, 2)
    with open(path, "rb") as fh:
        data = fh.read()
    result = service.import_file(lot, period, data, user=user, file_name=os.path.basename(path),
                                 channel="cli", submit=submit,
                                 today=today.date() if today else None)
    if as_json:
        payload = result.as_json()
        payload["user"] = user.email
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2, default=_default))
    else:
        _print(result, user)
    sys.exit(0 if result.accepted else 1)


def _default(value):
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _print(result, user):
    if result.accepted:
        click.echo(f"Accepté ({user.email}) : version {result.version_number} "
                   f"({result.status}), {result.act_count} acte(s) "
                   f"{dict(result.counts)}, {result.warning_count} avertissement(s).")
    else:
        click.echo(f"Refusé : {result.error_count} erreur(s), rien n'a été enregistré.", err=True)
    for issue in result.errors:
        click.echo(f"  ERREUR {issue.where} : {issue.message}", err=True)
    for issue in result.warnings[:200]:
        click.echo(f"  avertissement {issue.where} : {issue.message}")


def register(app):
    app.cli.add_command(reporting_cli)
