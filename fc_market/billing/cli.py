"""``flask --app fc_market billing …``: payable statements from the command line."""
import json
import sys

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from fc_market.extensions import db

billing_cli = AppGroup("billing", help="Liquidation : états liquidatifs, factures, paiements.")


def statement_json(st):
    return {
        "id": st.id, "rank": st.rank, "kind": "adjusting" if st.rank else "statement",
        "number": st.number, "status": st.status, "adjusts": st.adjusts.number if st.adjusts else None,
        "report_version": st.snapshot.get("context", {}).get("version_number"),
        "days_late": st.days_late, "revision_coefficient": str(st.revision_coefficient),
        "lines": [{"kind": l.kind, "uo_code": l.uo_code, "label": l.label, "quantity": l.quantity,
                   "unit_price": str(l.unit_price), "gross_amount": str(l.gross_amount),
                   "revision_adjustment": str(l.revision_adjustment), "amount": str(l.amount)}
                  for l in st.lines],
        **{k: str(getattr(st, k)) for k in (
            "subtotal", "penalties", "withholdings", "total_excl_tax", "vat_rate", "vat",
            "total_incl_tax", "penalties_deducted_incl_tax", "amount_payable", "unabsorbed")},
        "notes": st.snapshot.get("context", {}).get("notes", []),
        "warnings": st.snapshot.get("context", {}).get("warnings", []),
        "certified_at": st.certified_at.isoformat() if st.certified_at else None,
    }


@billing_cli.command("statement")
@click.argument("lot_code")
@click.argument("period")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON pour les scripts.")
@click.option("--refresh/--no-refresh", default=True,
              help="Recalcule l'état provisoire avant de l'afficher (défaut : oui).")
def statement(lot_code, period, as_json, refresh):
    """Affiche l'état liquidatif (et ses états rectificatifs) d'un lot pour un mois AAAA-MM."""
    from fc_market.billing import service
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
    if refresh:
        try:
            service.refresh_statement(lot, period)
        except service.BillingError as exc:
            click.echo(str(exc), err=True)
            sys.exit(1)
    statements = service.statements_of(lot.id, period)
    data = {"lot": lot.code, "period": period, "statements": [statement_json(s) for s in statements]}
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    if not statements:
        click.echo(f"Aucun état pour {lot.code} {period} (pas de reporting validé).")
        return
    for s in data["statements"]:
        click.echo(f"{'État rectificatif' if s['rank'] else 'État liquidatif'} "
                   f"{s['number'] or '(provisoire)'} — {lot.code} {period} — {s['status']}")
        for line in s["lines"]:
            click.echo(f"  {line['label']:<60} {line['amount']:>14}")
        for key, label in (("subtotal", "Sous-total HT"), ("withholdings", "Retenues CSF"),
                           ("total_excl_tax", "Total HT"), ("vat", "TVA"),
                           ("total_incl_tax", "Total TTC"), ("penalties", "Pénalités"),
                           ("amount_payable", "Net à payer")):
            click.echo(f"  {label:<60} {s[key]:>14}")
        for w in s["warnings"]:
            click.echo(f"  ! {w}")


@billing_cli.command("figures")
@click.option("--year", "year", type=int, help="Année (défaut : toutes les années facturées).")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON pour les scripts.")
def figures(year, as_json):
    """Chiffres financiers par lot et par année, ceux du tableau de bord des finances :
    facturé − avoirs − pénalités déduites − facturé au-delà du certifié − payé = reste."""
    from fc_market.billing import service
    from fc_market.billing.models import PayableStatement
    from fc_market.market.models import Lot
    lots = db.session.scalars(sa.select(Lot).order_by(Lot.code)).all()
    years = [year] if year else sorted({int(p[:4]) for p in db.session.scalars(
        sa.select(PayableStatement.period).distinct())})
    out = []
    for y in years:
        for row in service.dashboard(lots, y):
            out.append({"lot": row["code"], "year": y, **{k: str(row[k]) for k in (
                "certified_year", "open_year", "withholdings", "penalties", "payable",
                *service.IDENTITY_TERMS, "late")}, "late_count": row["late_count"]})
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    click.echo(f"{'Lot':<4} {'Année':<5} {'Facturé':>15} {'Avoirs':>12} {'Pénalités':>12} "
               f"{'Non certifié':>12} {'Payé':>15} {'Reste':>15}")
    for r in out:
        click.echo(f"{r['lot']:<4} {r['year']:<5} {r['invoiced']:>15} {r['credited']:>12} "
                   f"{r['deducted']:>12} {r['not_certified']:>12} {r['paid']:>15} {r['outstanding']:>15}")


@billing_cli.command("verify")
def verify():
    """Recalcule les chaînes d'empreintes des états certifiés et des factures et avoirs ;
    nomme le premier document altéré (code de sortie 1)."""
    from fc_market.billing import service
    reports = service.verify_chains()
    if not reports:
        click.echo("Aucun document certifié ni enregistré : rien à vérifier.")
        return
    broken = [r for r in reports if r.broken is not None]
    for report in reports:
        click.echo(report.message, err=report.broken is not None)
    if broken:
        click.echo(f"Intégrité NON vérifiée : {len(broken)} chaîne(s) rompue(s).", err=True)
        sys.exit(1)
    click.echo("Intégrité vérifiée : aucun document certifié ou enregistré n'a été modifié.")


def register(app):
    app.cli.add_command(billing_cli)
