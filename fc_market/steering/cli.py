"""``flask --app fc_market steering …``: flags, aggregates, packs."""
import json
from datetime import date

import click
from flask.cli import AppGroup

from fc_market.extensions import db

steering_cli = AppGroup("steering", help="Pilotage : indicateurs et signalements.")


@steering_cli.command("flags")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON pour les scripts.")
@click.option("--all", "everything", is_flag=True, help="Inclure les signalements levés.")
def flags(as_json, everything):
    """Les signalements ouverts (règle, lot, valeur, seuil, depuis, tendance)."""
    from fc_market.steering import service
    rows = db.session.scalars(service.flags_query(open_only=not everything)).all()
    data = service.flags_json(rows)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for f in data:
        click.echo(f"{f['lot']:<4} {f['rule']:<32} valeur {f['value']:<10g} seuil {f['threshold']:<8g} "
                   f"depuis le {f['opened_on']} ({f['trend']})")
    click.echo(f"{len(data)} signalement(s).")


@steering_cli.command("rebuild")
def rebuild():
    """Reconstruit les agrégats mensuels de tous les lots puis recalcule les signalements."""
    from fc_market.steering import service
    counts, result = service.rebuild_everything()
    click.echo(f"{sum(counts.values())} mois-lots agrégés ; {result.summary()}.")


@steering_cli.command("evaluate")
@click.option("--date", "on", type=click.DateTime(["%Y-%m-%d"]), help="Date d'évaluation.")
def evaluate(on):
    """Recalcule les signalements (sans reconstruire les agrégats)."""
    from fc_market.steering import service
    result = service.evaluate(on.date() if on else date.today())
    click.echo(result.summary())


@steering_cli.command("pack")
def make_pack():
    """Génère et enregistre le dossier de pilotage du mois."""
    from fc_market.steering import pack
    stored = pack.generate(trigger="demand")
    click.echo(f"Dossier {stored.period} enregistré ({stored.size} octets, n° {stored.id}).")


def register(app):
    app.cli.add_command(steering_cli)
