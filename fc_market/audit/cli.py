"""``flask --app fc_market audit figures [--json]``: the screens' totals recomputed
independently (:mod:`fc_market.audit.figures`); exit code 1 on any disagreement."""
import json
import sys

import click
from flask.cli import AppGroup

from fc_market.extensions import db

audit_cli = AppGroup("audit", help="Contrôles de cohérence des chiffres affichés.")


@audit_cli.command("figures")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON pour les scripts.")
@click.option("--date", "on", type=click.DateTime(["%Y-%m-%d"]),
              help="Date de lecture (défaut : aujourd'hui).")
def figures(as_json, on):
    """Recalcule les totaux affichés (volumes, états, finances, factures, couverture) à partir
    des actes, états, factures, paiements et sites, et liste chaque désaccord."""
    from fc_market.audit import figures as audit
    result = audit.run(on.date() if on else None)
    audit.store(result, source="cli")
    db.session.commit()
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        click.echo(audit.summary_fr(result))
    if not result["ok"]:
        sys.exit(1)


def register(app):
    app.cli.add_command(audit_cli)
