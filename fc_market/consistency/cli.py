"""``flask --app fc_market audit figures [--json]``: the screens' totals recomputed
independently (:mod:`fc_market.consistency.figures`); exit code 1 on any disagreement."""
import json
import sys

import click
from flask.cli import AppGroup

audit_cli = AppGroup("audit", help="Contrôles de cohérence des chiffres affichés.")


@audit_cli.command("figures")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON pour les scripts.")
@click.option("--date", "on", type=click.DateTime(["%Y-%m-%d"]),
              help="Date de lecture (défaut : aujourd'hui).")
def figures(as_json, on):
    """Recalcule les totaux affichés (volumes, états, finances, factures, couverture) à partir
    des actes, états, factures, paiements et sites, et liste chaque désaccord."""
    from fc_market.consistency import figures as audit
    from fc_market.unit_of_work import doom, independent_session
    result = audit.run(on.date() if on else None)
    # the audit only reads: end that read now and write its result on its own, so it is kept
    # whatever the exit code (1 on a disagreement rolls the command's unit back)
    doom("audit des chiffres : lecture seule")
    with independent_session() as other:
        audit.store(result, source="cli", session=other)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        click.echo(audit.summary_fr(result))
    if not result["ok"]:
        sys.exit(1)


def register(app):
    app.cli.add_command(audit_cli)
