"""OCDS 1.1 release package: per lot contract, the award and the contract with its items (the
UO and their unit prices in force), its amendments, and its implementation: each payment as
a transaction (payer France compétences, payee the operator) and each certified monthly
statement as milestones (service fait certified, invoiced, paid).  Never beneficiary data."""
from datetime import date, datetime, timezone

import sqlalchemy as sa

from fc_market.billing import service as billing
from fc_market.billing.models import Invoice, PayableStatement, Payment, Reconciliation
from fc_market.extensions import db
from fc_market.market.dates import parse_period
from fc_market.market.models import Lot, UnitOfWork
from fc_market.market.pricing import PriceBook
from fc_market.opendata.decp import (PublicationError, _lots, lot_problems, market_publication,
                                     number)

OCDS_VERSION = "1.1"
CURRENCY = "EUR"
#: The identifier scheme of French establishments in org-id.guide terms
SIRET_SCHEME = "FR-SIRET"


def _org(siret, name):
    return {"id": f"{SIRET_SCHEME}-{siret}", "name": name}


def _party(siret, name, roles):
    return {**_org(siret, name), "identifier": {"scheme": SIRET_SCHEME, "id": siret, "legalName": name},
            "roles": roles}


def _value(amount):
    return {"amount": number(amount), "currency": CURRENCY}


def _day(d):
    return f"{d.isoformat()}T00:00:00Z"


def _items(lot, units, book, on):
    items = []
    for uo in units:
        price = book.price_at(uo.id, on)
        if price is None:
            continue
        items.append({"id": uo.code, "description": uo.label,
                      "classification": {"scheme": "CPV", "id": lot.market.publication["cpv"]},
                      "unit": {"name": "forfait annuel" if uo.is_lump_sum else "unité d'œuvre",
                               "value": _value(price)}})
    return items


def _milestones(statements):
    """Three milestones per certified statement: service fait certified, invoiced, paid."""
    out = []
    for st in statements:
        label = f"{st.title} — {st.period}"
        out.append({"id": f"{st.number}-certification", "title": f"{label} : service fait certifié",
                    "type": "delivery", "status": "met", "dateMet": _day(st.certified_at.date()),
                    "value": _value(st.amount_payable)})
        invoice = st.live_invoice
        invoiced = {"id": f"{st.number}-facture", "title": f"{label} : facture reçue",
                    "type": "financing"}
        paid = {"id": f"{st.number}-paiement", "title": f"{label} : paiement", "type": "financing"}
        if invoice is None:
            invoiced["status"] = "scheduled"
            paid["status"] = "scheduled"
        else:
            invoiced.update(status="met", dateMet=_day(invoice.received_on),
                            value=_value(invoice.amount_incl_tax))
            due = billing.due_on(invoice)   # None while an interruption awaits documents
            if due is not None:
                paid["dueDate"] = _day(due)
            paid["value"] = _value(billing.amount_due(invoice))
            if billing.amount_due(invoice) > 0 and billing.outstanding(invoice) <= 0:
                last = max(r.payment.paid_on for r in invoice.reconciliations)
                paid.update(status="met", dateMet=_day(last))
            elif billing.paid(invoice) > 0:
                paid["status"] = "partiallyMet"
            else:
                paid["status"] = "scheduled"
        out.extend([invoiced, paid])
    return out


def release_package(today=None, now=None):
    today = today or date.today()
    now = now or datetime.now(timezone.utc)
    lots = _lots()
    if not lots:
        raise PublicationError(["aucun lot chargé"])
    problems = [p for lot in lots for p in lot_problems(lot)]
    if problems:
        raise PublicationError(problems)
    market = lots[0].market
    pub = market_publication(market)
    if not pub.get("ocid_prefix"):
        raise PublicationError(["[market.publication] ocid_prefix absent (préfixe OCDS)"])
    buyer = _party(pub["buyer_siret"], market.buyer, ["buyer", "payer", "procuringEntity"])
    units = db.session.scalars(sa.select(UnitOfWork).where(UnitOfWork.market_id == market.id)
                               .order_by(UnitOfWork.sort_order)).all()
    lot_ids = [lot.id for lot in lots]
    statements = db.session.scalars(
        sa.select(PayableStatement).where(PayableStatement.lot_id.in_(lot_ids),
                                          PayableStatement.certified_at.is_not(None))
        .options(sa.orm.selectinload(PayableStatement.invoices).selectinload(Invoice.reconciliations)
                 .selectinload(Reconciliation.payment),
                 sa.orm.selectinload(PayableStatement.invoices).selectinload(Invoice.credit_notes),
                 sa.orm.selectinload(PayableStatement.invoices).joinedload(Invoice.lot))
        .order_by(PayableStatement.period, PayableStatement.rank)).all()
    payments = db.session.scalars(sa.select(Payment).where(Payment.lot_id.in_(lot_ids))
                                  .order_by(Payment.paid_on, Payment.id)).all()
    releases = []
    for lot in lots:
        contract, operator = lot.contract, lot.operator
        ocid = f"{pub['ocid_prefix']}-{contract.reference}"
        mandataire = operator.mandataire
        payee = _org(mandataire.siret, mandataire.legal_name)
        suppliers = [m for m in operator.members if m.role != "sous-traitant"]
        parties = [buyer] + [_party(m.siret, m.legal_name,
                                    ["supplier", "payee"] if m.role == "mandataire" else ["supplier"])
                             for m in suppliers]
        book = PriceBook.for_lot(lot.id)
        items = _items(lot, units, book, today)
        period = {"startDate": _day(contract.start_date), "endDate": _day(contract.end_date),
                  "durationInDays": (contract.end_date - contract.start_date).days + 1}
        award_id = f"{contract.reference}-attribution"
        amendments = [{"id": str(a.number), "date": _day(a.signed_on), "rationale": a.object,
                       "description": a.effect} for a in lot.amendments]
        contract_data = {
            "id": contract.reference, "awardID": award_id,
            "title": f"Accord-cadre CEP actifs occupés — lot n° {lot.number} {lot.name}",
            "status": "active" if contract.end_date >= today else "terminated",
            "dateSigned": _day(contract.notification_date), "period": period,
            "value": _value(contract.max_amount), "items": items,
            "implementation": {
                "transactions": [
                    {"id": f"{contract.reference}-paiement-{p.id}", "date": _day(p.paid_on),
                     "value": _value(p.amount), "payer": _org(pub["buyer_siret"], market.buyer),
                     "payee": payee}
                    for p in payments if p.lot_id == lot.id],
                "milestones": _milestones([s for s in statements if s.lot_id == lot.id]),
            },
        }
        if amendments:
            contract_data["amendments"] = amendments
        tags = ["award", "contract", "implementation"] + (["contractAmendment"] if amendments else [])
        releases.append({
            "ocid": ocid, "id": f"{contract.reference}-{today.isoformat()}", "date": now.isoformat(
                timespec="seconds").replace("+00:00", "Z"),
            "tag": tags, "initiationType": "tender", "language": "fr",
            "parties": parties, "buyer": _org(pub["buyer_siret"], market.buyer),
            "awards": [{"id": award_id, "status": "active", "date": _day(contract.notification_date),
                        "value": _value(contract.max_amount), "suppliers": [
                            _org(m.siret, m.legal_name) for m in suppliers],
                        "items": items, "contractPeriod": period}],
            "contracts": [contract_data],
        })
    return {"version": OCDS_VERSION, "publishedDate": now.isoformat(timespec="seconds").replace(
                "+00:00", "Z"),
            "publisher": {"name": market.buyer, "scheme": SIRET_SCHEME, "uid": pub["buyer_siret"]},
            "license": "https://www.etalab.gouv.fr/licence-ouverte-open-licence/",
            "publicationPolicy": "Données d'exécution du marché CEP actifs occupés ; aucune "
                                 "donnée relative aux bénéficiaires.",
            "uri": f"urn:fc-market:ocds:{market.reference}:{today.isoformat()}",
            "releases": releases}


def summary(package):
    return {"contracts": len(package["releases"]),
            "transactions": sum(len(r["contracts"][0]["implementation"]["transactions"])
                                for r in package["releases"]),
            "milestones": sum(len(r["contracts"][0]["implementation"]["milestones"])
                              for r in package["releases"])}
