"""``flask --app fc_market billing facturx LOT PERIOD -o FILE.pdf``: the invoice to file."""
import sys

import click
import sqlalchemy as sa

from fc_market.billing.cli import billing_cli
from fc_market.extensions import db


@billing_cli.command("facturx")
@click.argument("lot_code")
@click.argument("period")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, writable=True),
              help="Fichier PDF Factur-X à écrire.")
@click.option("--rank", type=int, default=None,
              help="Rang de l'état (0 : état liquidatif, 1, 2… : rectificatifs ; défaut : le dernier certifié).")
@click.option("--number", help="Numéro de facture (défaut : FAC-LOT-AAAAMM).")
@click.option("--xml", "xml_output", type=click.Path(dir_okay=False, writable=True),
              help="Écrit aussi le XML CII seul dans ce fichier.")
def facturx(lot_code, period, output, rank, number, xml_output):
    """Écrit la facture Factur-X (profil EN 16931) attendue pour l'état certifié d'un mois."""
    from fc_market.billing.models import PayableStatement
    from fc_market.einvoice import build
    from fc_market.market.dates import parse_period
    from fc_market.market.models import Lot
    lot = db.session.scalar(sa.select(Lot).where(Lot.code == lot_code.upper()))
    if lot is None:
        click.echo(f"Lot « {lot_code} » inconnu.", err=True)
        sys.exit(2)
    try:
        parse_period(period)
    except ValueError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    stmt = sa.select(PayableStatement).where(PayableStatement.lot_id == lot.id,
                                             PayableStatement.period == period,
                                             PayableStatement.certified_at.is_not(None))
    if rank is not None:
        stmt = stmt.where(PayableStatement.rank == rank)
    statement = db.session.scalar(stmt.order_by(PayableStatement.rank.desc()).limit(1))
    if statement is None:
        click.echo(f"Aucun état liquidatif certifié pour le lot {lot.code} en {period}"
                   + (f" (rang {rank})" if rank is not None else "") + ".", err=True)
        sys.exit(1)
    try:
        expected = build.expected_invoice(statement, number=number)
        pdf = build.facturx_pdf(expected, statement)
    except build.InvoiceBuildError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    with open(output, "wb") as fh:
        fh.write(pdf)
    if xml_output:
        with open(xml_output, "wb") as fh:
            fh.write(build.cii_xml(expected))
    kind = "Avoir" if expected.credit_note else "Facture"
    click.echo(f"{output} : {kind} {expected.number} pour {statement.title}, "
               f"{expected.data['BT-112']} EUR TTC (XML CII conforme au XSD EN 16931).")


def register(app):
    """The command joins the ``billing`` group, registered by the billing module."""
