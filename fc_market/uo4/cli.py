"""``flask --app fc_market uo4 …``: the lot's UO4 template and the import of a filled file.

``uo4 import`` acts as a user recorded in the audit log (``--as EMAIL``, by default the
lot's first active mandataire account, as ``reporting import``).  Exit codes: 0 accepted,
1 refused (nothing written), 2 bad arguments.
"""
import json
import os
import sys

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from fc_market.extensions import db
from fc_market.market.models import Lot
from fc_market.unit_of_work import doom

uo4_cli = AppGroup("uo4", help="UO4 : plan prévisionnel et bilan d'utilisation (modèle Excel, import).")
KINDS = click.Choice(["plan", "statement"])


def _fail(message, code=2):
    click.echo(message, err=True)
    sys.exit(code)


def _lot(code):
    lot = db.session.scalar(sa.select(Lot).where(Lot.code == code.upper()))
    if lot is None:
        _fail(f"Lot « {code} » inconnu.")
    return lot


def _default_kind(year):
    from fc_market.reporting.service import paris_today
    return "statement" if year < paris_today().year else "plan"


@uo4_cli.command("template")
@click.argument("lot_code", metavar="LOT")
@click.argument("year", metavar="YEAR", type=int)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, writable=True),
              help="Fichier .xlsx à écrire.")
@click.option("--kind", type=KINDS, help="plan ou statement (défaut : bilan pour une année "
              "passée, plan sinon).")
def template(lot_code, year, output, kind):
    """Écrit le modèle Excel UO4 du lot pour l'année."""
    from fc_market.uo4.service import Uo4Error, check_year
    from fc_market.uo4.workbook import build_template
    lot = _lot(lot_code)
    kind = kind or _default_kind(year)
    try:
        check_year(lot, year)
        data = build_template(lot, year, kind)
    except Uo4Error as exc:
        _fail(exc.message)
    with open(output, "wb") as fh:
        fh.write(data)
    what = "plan prévisionnel" if kind == "plan" else "bilan d'utilisation"
    click.echo(f"Modèle UO4 ({what} {year}) du lot {lot.code} écrit dans {output}.")


@uo4_cli.command("import")
@click.argument("lot_code", metavar="LOT")
@click.argument("year", metavar="YEAR", type=int)
@click.argument("path", metavar="FILE", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Résultat en JSON.")
@click.option("--kind", type=KINDS, help="plan ou statement (défaut : d'après la feuille du fichier).")
@click.option("--as", "email", help="Compte au nom duquel importer (défaut : le mandataire du lot).")
@click.option("--submit/--draft", default=False, show_default=True,
              help="Déposer aussitôt (un bilan exige ses justificatifs) ou laisser en brouillon.")
def import_(lot_code, year, path, as_json, kind, email, submit):
    """Contrôle et importe un fichier ; code de sortie 0 si accepté, 1 si refusé."""
    from fc_market.reporting.service import ReportingError, acting_user
    from fc_market.uo4 import service
    lot = _lot(lot_code)
    try:
        user = acting_user(lot, email)
    except ReportingError as exc:
        _fail(exc.message)
    with open(path, "rb") as fh:
        data = fh.read()
    kind = kind or _kind_of(data) or _default_kind(year)
    result = service.import_file(lot, year, kind, data, user=user,
                                 file_name=os.path.basename(path), submit=submit)
    if not result.accepted:
        doom("uo4 import refused")  # the command's unit of work keeps nothing of it
    if as_json:
        payload = result.as_json()
        payload["user"] = user.email
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    elif result.accepted:
        v = result.version
        click.echo(f"Accepté ({user.email}) : version {v.number} ({v.status_label}), "
                   f"{len(v.lines)} ligne(s), total {v.total} €.")
    else:
        click.echo(f"Refusé : {len(result.errors)} erreur(s), rien n'a été enregistré.", err=True)
        for issue in result.errors:
            click.echo(f"  ERREUR {issue.where} : {issue.message}", err=True)
    sys.exit(0 if result.accepted else 1)


def _kind_of(data):
    """plan or statement from the lines sheet's name, without trusting the file further
    (the import checks it entirely)."""
    from fc_market.excel.reader import open_checked
    from fc_market.excel.safety import WorkbookError
    try:
        with open_checked(data) as book:
            names = book.sheet_names
    except WorkbookError:
        return None
    if "Bilan" in names:
        return "statement"
    if "Plan" in names:
        return "plan"
    return None


def register(app):
    app.cli.add_command(uo4_cli)
