from datetime import date

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user

from fc_market.access import lot_by_code, roles, visible_lots
from fc_market.auth.models import Role, User
from fc_market.exports import Column, Sheet, xlsx_response
from fc_market.extensions import db
from fc_market.market import service
from fc_market.market.forms import LotManagerForm
from fc_market.market.terms import lot_terms

bp = Blueprint("market", __name__)


@bp.get("/lots")
@roles(*Role.FC)
def lots():
    market = service.current_market()
    rows = service.lots_overview(visible_lots())
    units = service.units_of(market) if market else []
    return render_template("market/lots.html", market=market, rows=rows, units=units,
                           today=date.today())


@bp.get("/lots.xlsx")
@roles(*Role.FC)
def lots_export():
    market = service.current_market()
    rows = service.lots_overview(visible_lots())
    units = service.units_of(market) if market else []
    columns = [Column("number", "N°", "int"), Column("code", "Code", "text"),
               Column("name", "Région", "text"), Column("region", "Code INSEE", "text"),
               Column("population", "Population", "int"), Column("operator", "Titulaire", "text"),
               Column("mandataire", "Mandataire", "text"), Column("members", "Membres", "int"),
               Column("start_date", "Début", "date"), Column("end_date", "Fin", "date"),
               Column("max_amount", "Montant maximum HT", "decimal"),
               Column("target", f"Objectif {date.today().year} (entrées)", "int"),
               Column("manager", "Référent FC", "text")]
    columns += [Column(lambda r, c=u.code: r["prices"].get(c), f"Prix {u.code} HT", "decimal")
                for u in units]
    return xlsx_response("lots.xlsx", [Sheet("Lots", columns, rows)])


def _manager_form(lot=None):
    form = LotManagerForm(manager=str(lot.manager_id) if lot and lot.manager_id else "")
    form.manager.choices = [("", "— aucun : tous les chargés de marché —")] + [
        (str(u.id), u.full_name) for u in service.managers()]
    return form


@bp.get("/lots/<code>")
@roles(*Role.ALL)
def lot(code):
    lot = lot_by_code(code)
    can_assign = current_user.role in (Role.MANAGER, Role.ADMIN)
    from fc_market.territory import service as territory
    return render_template("market/lot.html", lot=lot, contract=lot.contract,
                           population=territory.lot_population(lot),
                           coverage=territory.lot_coverage(lot),
                           terms=lot_terms(lot) if lot.contract else None,
                           operator=lot.operator, history=service.price_history(lot),
                           today=date.today(), manager_form=_manager_form(lot) if can_assign else None)


@bp.post("/lots/<code>/referent")
@roles(Role.MANAGER, Role.ADMIN)
def set_manager(code):
    lot = lot_by_code(code)
    form = _manager_form()
    if not form.validate_on_submit():
        flash("Choisissez un(e) chargé(e) de marché de la liste.", "error")
        return redirect(url_for("market.lot", code=lot.code))
    manager = db.session.get(User, int(form.manager.data)) if form.manager.data else None
    try:
        changed = service.set_lot_manager(lot, manager, current_user)
    except service.MarketError as exc:
        flash(str(exc), "error")
        return redirect(url_for("market.lot", code=lot.code))
    if changed and manager:
        flash(f"Référent du lot {lot.code} : {manager.full_name} (signalements, dépôts et retards "
              "de ce lot lui sont adressés).", "success")
    elif changed:
        flash(f"Le lot {lot.code} n'a plus de référent : tous les chargés de marché sont avisés.",
              "success")
    return redirect(url_for("market.lot", code=lot.code))


@bp.get("/lots/<code>/prix.xlsx")
@roles(*Role.ALL)
def prices_export(code):
    lot = lot_by_code(code)
    rows = [{"uo": uo.code, "label": uo.label, "kind": "Forfait annuel" if uo.is_lump_sum else
             "Par bénéficiaire", "valid_from": line.valid_from, "valid_to": valid_to,
             "price": line.unit_price, "origin": line.origin,
             "amendment": line.amendment.number if line.amendment else None}
            for uo, lines in service.price_history(lot) for line, valid_to in lines]
    columns = [Column("uo", "UO", "text"), Column("label", "Libellé", "text"),
               Column("kind", "Nature", "text"), Column("valid_from", "En vigueur du", "date"),
               Column("valid_to", "au", "date"), Column("price", "Prix HT", "decimal"),
               Column("origin", "Origine", "text"), Column("amendment", "Avenant n°", "int")]
    return xlsx_response(f"prix-{lot.code}.xlsx", [Sheet(f"Prix {lot.code}", columns, rows)])


@bp.get("/catalogue")
@roles(*Role.ALL)
def catalogue():
    market = service.current_market()
    return render_template("market/catalogue.html", market=market,
                           units=service.units_of(market) if market else [])


@bp.get("/catalogue.xlsx")
@roles(*Role.ALL)
def catalogue_export():
    market = service.current_market()
    columns = [Column("code", "Code", "text"), Column("label", "Libellé", "text"),
               Column(lambda u: "Forfait annuel par lot" if u.is_lump_sum else "Forfait par bénéficiaire",
                      "Nature", "text"),
               Column("level", "Niveau", "int"), Column("proof_label", "Preuve du service fait", "text"),
               Column("proof_required", "Référence de preuve obligatoire", "bool"),
               Column("max_per_beneficiary", "Facturable par bénéficiaire (fois)", "int"),
               Column("window_months", "Sur (mois)", "int"),
               Column("expects_prior_code", "Normalement précédée de", "text")]
    return xlsx_response("catalogue-uo.xlsx", [Sheet("Catalogue des UO", columns,
                                                     service.units_of(market) if market else [])])
