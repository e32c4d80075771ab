"""Demo finance data on top of the reporting and controls seeds.

* ECB main refinancing rates (the ECB's published decisions since July 2022, entered for
  the demo: check them against the ECB's site before any real use) and Syntec index values
  (**illustrative**, marked so);
* a payable statement for every validated month; months older than about seven weeks are
  certified, the recent ones stay provisional;
* invoices in every state: matched and accepted, paid on time or late (moratorium interest
  shows), partially paid, with the payment term interrupted for missing documents (a new
  term opens when they arrive, R. 2192-27 to R. 2192-29), rejected then re-invoiced, one with a
  difference, one corrected by a credit note; payments by hand and by an import of an
  accounting export (with an unmatched line).
"""
import csv
import io
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import sqlalchemy as sa

from fc_market.auth.models import Role, User
from fc_market.billing import payment_import, service
from fc_market.billing.models import IndexValue
from fc_market.demo.pdf import minimal_pdf
from fc_market.extensions import db
from fc_market.market.dates import parse_period
from fc_market.market.terms import lot_terms
from fc_market.reporting.models import Report, ReportVersion, VersionStatus

#: ECB main refinancing operations rate (percent), effective dates of the decisions
ECB_RATES = [
    (date(2022, 7, 27), "0.50"), (date(2022, 9, 14), "1.25"), (date(2022, 11, 2), "2.00"),
    (date(2022, 12, 21), "2.50"), (date(2023, 2, 8), "3.00"), (date(2023, 3, 22), "3.50"),
    (date(2023, 5, 10), "3.75"), (date(2023, 6, 21), "4.00"), (date(2023, 8, 2), "4.25"),
    (date(2023, 9, 20), "4.50"), (date(2024, 6, 12), "4.25"), (date(2024, 9, 18), "3.65"),
    (date(2024, 10, 23), "3.40"), (date(2024, 12, 18), "3.15"), (date(2025, 2, 5), "2.90"),
    (date(2025, 3, 12), "2.65"), (date(2025, 4, 23), "2.40"), (date(2025, 6, 11), "2.15"),
]
ECB_SOURCE = "BCE, décisions de politique monétaire (saisie de démonstration, à vérifier)"
#: Illustrative Syntec values (not the published ones): (month, value, publication date)
SYNTEC = [(date(2023, 10, 1), "296.2", date(2023, 11, 30)), (date(2024, 10, 1), "302.5", date(2024, 11, 29)),
          (date(2025, 10, 1), "306.8", date(2025, 11, 28)), (date(2026, 10, 1), "311.0", date(2026, 11, 27))]
DEMO_PDF = minimal_pdf("Facture fictive (demonstration fc_market)")


def _at(d, hour=10):
    return datetime.combine(d, time(hour, 0))


def _user(role):
    return db.session.scalar(sa.select(User).where(User.role == role).order_by(User.id).limit(1))


def seed(ctx):
    rng = ctx.rng("billing")
    finance = _user(Role.FINANCE)
    today = ctx.today
    for effective_on, rate in ECB_RATES:
        if effective_on <= today:
            service.add_ecb_rate(effective_on, Decimal(rate), finance, source=ECB_SOURCE)
    index_name = next((name for name in (lot_terms(l, today).revision.index_name
                                         for l in ctx.lots if l.contract) if name), None)
    if index_name:
        for month, value, published in SYNTEC:
            if published <= today and not db.session.scalar(sa.select(IndexValue.id).where(
                    IndexValue.index_name == index_name, IndexValue.reference_month == month)):
                service.add_index_value(index_name, month, Decimal(value), published, finance,
                                        source="Valeur illustrative (démonstration)", illustrative=True)

    pairs = db.session.execute(
        sa.select(Report.lot_id, Report.period).join(ReportVersion, ReportVersion.report_id == Report.id)
        .where(ReportVersion.status == VersionStatus.VALIDATED).distinct()
        .order_by(Report.lot_id, Report.period)).all()
    if not pairs:
        ctx.notes.append("Liquidation : aucun reporting validé, aucun état liquidatif créé.")
        return
    lots = {l.id: l for l in ctx.lots}
    mandataires = {u.lot_id: u for u in db.session.scalars(
        sa.select(User).where(User.role == Role.MANDATAIRE).order_by(User.id))}
    cutoff = today - timedelta(days=50)
    counts = {"statements": 0, "certified": 0, "invoices": 0, "late": 0, "interest_settled": 0, "interrupted": 0,
              "rejected": 0, "mismatch": 0}
    to_pay = []
    per_lot_index = {}
    # each lot's latest validated month stays open (service fait not certified yet)
    latest = {lot_id: period for lot_id, period in pairs}
    for lot_id, period in pairs:
        lot = lots.get(lot_id)
        if lot is None or lot.contract is None:
            continue
        st = service.refresh_statement(lot, period, finance, reason="démonstration")
        if st is None:
            continue
        counts["statements"] += 1
        start, end = parse_period(period)
        certified_on = end + timedelta(days=20)
        if certified_on > cutoff or period == latest[lot_id] or st.is_certified:
            continue
        service.certify(st.id, finance, verify=False, when=_at(certified_on, 15))
        counts["certified"] += 1
        n = per_lot_index[lot_id] = per_lot_index.get(lot_id, 0) + 1
        mandataire = mandataires.get(lot_id)
        issued_on = certified_on + timedelta(days=2)
        received_on = issued_on + timedelta(days=1)
        if received_on > today - timedelta(days=3) or st.amount_payable < 0:
            continue
        exp = service.expected_totals(st)
        number = f"FAC-{lot.code}-{period.replace('-', '')}"
        scenario = _scenario(lot.code, n, rng)
        excl, vat = exp["amount_excl_tax"], exp["vat"]
        if scenario == "mismatch":
            excl += Decimal("150.00")
            vat += Decimal("30.00")
        inv = service.record_invoice(st, mandataire, number=number, issued_on=issued_on,
                                     received_on=received_on, amount_excl_tax=excl, vat=vat,
                                     amount_incl_tax=excl + vat, file=("facture.pdf", DEMO_PDF),
                                     today=received_on, recorded_at=_at(received_on, 11))
        counts["invoices"] += 1
        if scenario == "rejected":
            service.decide(inv.id, finance, "reject", today=received_on + timedelta(days=4),
                           reason="Coordonnées bancaires du groupement absentes (démonstration).")
            inv.decided_at = _at(received_on + timedelta(days=4))
            counts["rejected"] += 1
            reissued = received_on + timedelta(days=8)
            if reissued > today:
                continue
            inv = service.record_invoice(st, mandataire, number=number + "-R", issued_on=reissued,
                                         received_on=reissued, amount_excl_tax=exp["amount_excl_tax"],
                                         vat=exp["vat"], amount_incl_tax=exp["amount_incl_tax"],
                                         file=("facture.pdf", DEMO_PDF), today=reissued,
                                         recorded_at=_at(reissued, 11))
            received_on = reissued
            counts["invoices"] += 1
        if scenario in ("mismatch", "interrupted"):
            notified_on = received_on + timedelta(days=5)
            if notified_on > today:
                continue
            service.interrupt(
                inv, finance, notified_on=notified_on, today=notified_on,
                reasons=("Montants différents de l'état liquidatif certifié (démonstration)."
                         if scenario == "mismatch" else
                         "Justificatif de l'utilisation de l'UO4 absent (démonstration)."),
                documents_expected=("Avoir ou facture rectificative aux montants de l'état."
                                    if scenario == "mismatch" else
                                    "État d'utilisation des fonds UO4 du trimestre."))
            counts["interrupted"] += 1
            resolve_on = notified_on + timedelta(days=12)
            if scenario == "mismatch" or resolve_on > today - timedelta(days=20):
                if scenario == "mismatch":
                    counts["mismatch"] += 1
                continue  # documents still awaited: no term runs
            service.add_interruption_document(inv, mandataire, ("etat-uo4.pdf", DEMO_PDF),
                                              comment="État d'utilisation UO4 (démonstration)")
            service.record_documents_received(inv, finance, resolve_on, today=resolve_on)
            inv.interruption.closed_at = _at(resolve_on)
            service.decide(inv.id, finance, "accept", today=resolve_on)
            inv.decided_at = _at(resolve_on)
        else:
            accept_on = received_on + timedelta(days=3)
            if accept_on > today:
                continue
            service.decide(inv.id, finance, "accept", today=accept_on)
            inv.decided_at = _at(accept_on)
        delay = {"late": 52, "very_late": 75, "partial": 20}.get(scenario, rng.randint(18, 29))
        due = service.due_on(inv, today)
        pay_on = min(received_on + timedelta(days=delay), max(due, received_on) + timedelta(days=90))
        if scenario in ("late", "very_late"):
            counts["late"] += 1
        if pay_on <= today - timedelta(days=2):
            to_pay.append((inv, pay_on, scenario))

    # payments: the oldest by hand, the last few months by an import of an accounting export
    import_cutoff = today - timedelta(days=75)
    export_rows = []
    for inv, pay_on, scenario in to_pay:
        amount = service.outstanding(inv)
        if amount <= 0:
            continue
        if scenario == "credit_note":
            service.record_credit_note(inv, mandataires.get(inv.lot_id), number=f"AV-{inv.number}",
                                       issued_on=pay_on - timedelta(days=6), amount_excl_tax="250.00",
                                       vat="50.00", amount_incl_tax="300.00",
                                       reason="Deux actes UO1 facturés deux fois (démonstration).",
                                       file=("avoir.pdf", DEMO_PDF), today=pay_on - timedelta(days=5),
                                       recorded_at=_at(pay_on - timedelta(days=5)))
            amount = service.outstanding(inv)
        if scenario == "partial":
            first = (amount * Decimal("0.6")).quantize(Decimal("0.01"))
            service.record_payment(inv, finance, paid_on=pay_on, amount=first,
                                   reference=f"MDT-{inv.id:05d}-1", today=today)
            # the balance follows six weeks later (late); the recent ones are still due
            pay_on, amount = pay_on + timedelta(days=42), amount - first
            if pay_on >= import_cutoff:
                continue
            service.record_payment(inv, finance, paid_on=pay_on, amount=amount,
                                   reference=f"MDT-{inv.id:05d}-2", today=today)
            continue
        reference = f"MDT-{inv.id:05d}"
        if pay_on >= import_cutoff:
            export_rows.append((inv.number, pay_on, amount, reference))
        else:
            service.record_payment(inv, finance, paid_on=pay_on, amount=amount, reference=reference,
                                   today=today)
    # interest of the late payments older than six months paid a few weeks after the
    # balance; the more recent ones, and those of invoices paid in two parts, are still owed
    for inv, pay_on, scenario in to_pay:
        settle_on = pay_on + timedelta(days=25)
        if (scenario in ("late", "very_late") and settle_on < today - timedelta(days=180)
                and not service.outstanding(inv) and getattr(service.late_interest(inv, today), "late", False)):
            service.settle_interest(inv, finance, paid_on=settle_on, reference=f"MDT-INT-{inv.id:05d}",
                                    today=today)
            counts["interest_settled"] += 1
    if export_rows:
        buf = io.StringIO()
        writer = csv.writer(buf, delimiter=";")
        writer.writerow(["Facture", "Date de paiement", "Montant", "Référence"])
        for number, pay_on, amount, reference in export_rows:
            writer.writerow([number, pay_on.strftime("%d/%m/%Y"), str(amount).replace(".", ","), reference])
        writer.writerow(["FAC-INCONNUE-0001", (today - timedelta(days=5)).strftime("%d/%m/%Y"),
                         "1234,56", "MDT-ERREUR"])
        payment_import.import_payments(buf.getvalue().encode("utf-8"), "export-comptable-demo.csv",
                                       finance, today=today)
    ctx.notes.append(
        f"Liquidation : {counts['statements']} état(s) liquidatif(s) dont {counts['certified']} certifié(s), "
        f"{counts['invoices']} facture(s) ({counts['interrupted']} à délai interrompu, {counts['rejected']} rejetée(s), "
        f"{counts['mismatch']} en écart), {counts['late']} paiement(s) en retard (intérêts réglés pour {counts['interest_settled']}) ; taux BCE et indices "
        "Syntec (illustratifs) saisis.")


def _scenario(code, n, rng):
    """What happens to the n-th certified month of a lot (deterministic)."""
    if code == "IDF":
        return {3: "late", 5: "credit_note", 7: "rejected", 9: "very_late", 11: "interrupted"}.get(n, "ok")
    if code == "BRE":
        return {2: "mismatch", 4: "late", 6: "partial"}.get(n, "ok")
    roll = rng.random()
    if roll < 0.08:
        return "late"
    if roll < 0.10:
        return "partial"
    if roll < 0.12:
        return "rejected"
    if roll < 0.14:
        return "interrupted"
    return "ok"
