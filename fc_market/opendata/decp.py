"""DECP v2 (``marches``): each lot's framework agreement with its ``modifications``.

A contract's initial essential data is frozen when first published (its
``datePublicationDonnees`` is that day and never changes); an amendment that changes the
maximum amount, the duration or the holders is published once as a new ``modification``
appended after the earlier ones.  Re-exporting never edits what was published.
"""
from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from fc_market.extensions import db
from fc_market.market.models import Amendment, Lot, LotContract, Market, Operator
from fc_market.opendata.models import PublishedItem

#: DECP identifiers are 1 to 16 characters (schema ``IdentifiantMarche``)
MAX_ID_LENGTH = 16


class PublicationError(ValueError):
    """Why the open data cannot be produced, in French, naming the lot and the field."""

    def __init__(self, problems):
        self.problems = problems
        super().__init__("Données ouvertes impossibles à produire : " + " ; ".join(problems))


def number(value):
    """A JSON number from a Decimal amount, without binary noise (64400000.00 → 64400000)."""
    value = Decimal(value)
    return int(value) if value == value.to_integral_value() else float(str(value))


def market_publication(market):
    if not market.publication:
        raise PublicationError(["le fichier du marché n'a pas de table [market.publication] "
                                "(identifiants de l'acheteur, CPV, procédure…)"])
    return market.publication


def holders(operator):
    """The holders as DECP lists them: every member of the groupement but subcontractors,
    the mandataire first."""
    return [{"titulaire": {"typeIdentifiant": "SIRET", "id": m.siret}}
            for m in operator.members if m.role != "sous-traitant"]


def lot_problems(lot):
    contract, pub = lot.contract, (lot.contract.publication if lot.contract else None)
    problems = []
    if contract is None:
        return [f"lot {lot.code} : aucun contrat"]
    if len(contract.reference) > MAX_ID_LENGTH:
        problems.append(f"lot {lot.code} : la référence du contrat « {contract.reference} » dépasse "
                        f"{MAX_ID_LENGTH} caractères (identifiant DECP)")
    if not pub:
        problems.append(f"lot {lot.code} : pas de table [lots.publication] (nombre d'offres, "
                        "type de groupement, lieu d'exécution)")
    if contract.max_amount is None or contract.max_amount < 1:
        problems.append(f"lot {lot.code} : montant maximum (max_amount) absent")
    if lot.operator is None or not holders(lot.operator):
        problems.append(f"lot {lot.code} : aucun titulaire enregistré")
    return problems


def initial_data(lot, market_pub, published_on):
    """The contract's essential data as published the first time (no modifications)."""
    contract, pub, operator = lot.contract, lot.contract.publication, lot.operator
    grouping = "Pas de groupement" if operator.kind == "single" else pub["grouping_type"]
    return {
        "id": contract.reference,
        "acheteur": {"id": market_pub["buyer_siret"]},
        "nature": market_pub["nature"],
        "objet": f"{lot.market.title} — lot n° {lot.number} {lot.name}"[:1000],
        "codeCPV": market_pub["cpv"],
        "techniques": {"technique": list(market_pub["techniques"])},
        "modalitesExecution": {"modaliteExecution": list(market_pub["execution_modes"])},
        "marcheInnovant": market_pub["innovative"],
        "ccag": market_pub["ccag"],
        "offresRecues": pub["offers_received"],
        "attributionAvance": market_pub["advance_paid"],
        "typeGroupementOperateurs": grouping,
        "sousTraitanceDeclaree": market_pub["subcontracting_declared"],
        "procedure": market_pub["procedure"],
        "lieuExecution": {"code": pub["place_code"], "typeCode": pub["place_type"]},
        "dureeMois": contract.duration_months,
        "dateNotification": contract.notification_date.isoformat(),
        "datePublicationDonnees": published_on.isoformat(),
        "montant": number(contract.max_amount),
        "typesPrix": {"typePrix": list(market_pub["price_types"])},
        "formePrix": market_pub["price_form"],
        "titulaires": holders(operator),
        "considerationsSociales": {"considerationSociale": list(market_pub["social_considerations"])},
        "considerationsEnvironnementales": {
            "considerationEnvironnementale": list(market_pub["environmental_considerations"])},
    }


def is_published_change(amendment):
    """Only an amendment changing the amount, the duration or the holders is a DECP
    modification; one that only changes a unit price is not."""
    return (amendment.new_max_amount is not None or amendment.new_duration_months is not None
            or amendment.changes_holders)


def modification_data(amendment, sequence, operator, published_on):
    data = {"id": sequence,
            "dateNotificationModification": amendment.signed_on.isoformat(),
            "datePublicationDonneesModification": published_on.isoformat()}
    if amendment.new_duration_months is not None:
        data["dureeMois"] = amendment.new_duration_months
    if amendment.new_max_amount is not None:
        data["montant"] = number(amendment.new_max_amount)
    if amendment.changes_holders:
        data["titulaires"] = holders(operator)
    return {"modification": data}


def _lots():
    return db.session.scalars(
        sa.select(Lot).join(LotContract).options(
            sa.orm.selectinload(Lot.contract), sa.orm.selectinload(Lot.amendments),
            sa.orm.selectinload(Lot.operator).selectinload(Operator.members),
            sa.orm.joinedload(Lot.market)).order_by(Lot.number)).all()


def publish(today=None):
    """Freeze what is new (initial data of a contract never published, amendments never
    published) and return the DECP document with everything published so far."""
    today = today or date.today()
    lots = _lots()
    if not lots:
        raise PublicationError(["aucun lot chargé"])
    problems = [p for lot in lots for p in lot_problems(lot)]
    market_pub = market_publication(lots[0].market)
    if problems:
        raise PublicationError(problems)
    items = {i.key: i for i in db.session.scalars(sa.select(PublishedItem))}
    marches = []
    for lot in lots:
        ref = lot.contract.reference
        initial = items.get(ref)
        if initial is None:
            initial = PublishedItem(key=ref, lot_id=lot.id, sequence=0, published_on=today,
                                    content=initial_data(lot, market_pub, today))
            db.session.add(initial)
            items[ref] = initial
        published = sorted((i for i in items.values() if i.lot_id == lot.id and i.sequence > 0),
                           key=lambda i: i.sequence)
        done = {i.amendment_id for i in published}
        for amendment in sorted(lot.amendments, key=lambda a: (a.signed_on, a.number)):
            if amendment.id in done or not is_published_change(amendment):
                continue
            sequence = len(published) + 1
            item = PublishedItem(key=f"{ref}/avenant-{amendment.number}", lot_id=lot.id,
                                 amendment_id=amendment.id, sequence=sequence, published_on=today,
                                 content=modification_data(amendment, sequence, lot.operator, today))
            db.session.add(item)
            published.append(item)
        marche = dict(initial.content)
        if published:
            marche["modifications"] = [i.content for i in published]
        marches.append(marche)
    db.session.flush()
    return {"marches": {"marche": marches}}


def summary(document):
    marches = document["marches"]["marche"]
    return {"contracts": len(marches),
            "modifications": sum(len(m.get("modifications", [])) for m in marches)}
