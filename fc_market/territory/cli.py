"""``flask --app fc_market territory …``: coverage of the lots."""
import json
from datetime import date

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from fc_market.extensions import db
from fc_market.market.models import Lot

territory_cli = AppGroup("territory", help="Sites et maillage territorial.")


@territory_cli.command("coverage")
@click.argument("lot_code", required=False)
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON pour les scripts.")
@click.option("--date", "on", type=click.DateTime(["%Y-%m-%d"]), help="Sites ouverts à cette date.")
def coverage(lot_code, as_json, on):
    """Population couverte, population totale, part et dix plus grandes zones blanches (communes) par lot."""
    from fc_market.territory import service
    stmt = sa.select(Lot).order_by(Lot.number)
    if lot_code:
        stmt = stmt.where(Lot.code == lot_code.upper())
    lots = db.session.scalars(stmt).all()
    if not lots:
        raise click.UsageError(f"Lot « {lot_code} » inconnu." if lot_code else "Aucun lot chargé.")
    covs = service.all_coverage(lots, on.date() if on else date.today())
    rows = [service.coverage_json(covs[lot.id]) for lot in lots]
    if as_json:
        click.echo(json.dumps(rows if not lot_code else rows[0], ensure_ascii=False, indent=2))
        return
    for r in rows:
        click.echo(f"{r['lot']:<4} {r['name']:<28} {r['covered_population']:>10,} / "
                   f"{r['total_population']:>10,} hab. {r['share']:>7.1%}  "
                   f"(à {r['radius_km']:g} km de : {' '.join(r['site_kinds'])} ; "
                   f"avec permanences {r['with_permanences']['share']:.1%})".replace(",", " "))
        for z in r["largest_uncovered"]:
            km = (f" ; site le plus proche à {z['nearest_site_km']:g} km".replace(".", ",")
                  if z["nearest_site_km"] is not None else "")
            pop = f"{z['population']:,}".replace(",", "\u202f")
            click.echo(f"       zone blanche : {z['insee']} {z['name']} ({pop} hab.){km}")


def register(app):
    app.cli.add_command(territory_cli)
