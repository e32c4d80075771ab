"""Service-fait controls: open a campaign (reproducible sample), answer, judge, close.

Domain rules live here as plain functions called by the views, the CLI, the scheduled job
and the demo seed alike.  The arithmetic is in :mod:`fc_market.controls.sampling`.
"""
import secrets
import threading
from collections import OrderedDict, defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm.exc import StaleDataError

from fc_market import events
from fc_market.audit.service import record
from fc_market.controls import sampling
from fc_market.controls.models import (CampaignStatus, ControlCampaign,
                                       ControlItem, ControlPeriod, ControlProof, Verdict)
from fc_market.extensions import db
from fc_market.formatting import day as fmt_day
from fc_market.market.dates import parse_period
from fc_market.market.models import UnitOfWork
from fc_market.models_base import utcnow
from fc_market.market.pricing import PriceBook
from fc_market.market.terms import OTHER_REASON, lot_terms
from fc_market.money import D, format_fr
from fc_market.notifications.service import notify
from fc_market.reporting.models import Act, Report, ReportVersion, VersionStatus
from fc_market import storage

ZERO = Decimal("0.00")


class ControlError(ValueError):
    """A French message explaining why the action was refused (nothing was written)."""


# ------------------------------------------------------------------ population

def validated_version(lot_id, period):
    return db.session.scalar(
        sa.select(ReportVersion).join(Report, ReportVersion.report_id == Report.id)
        .where(Report.lot_id == lot_id, Report.period == period,
               ReportVersion.status == VersionStatus.VALIDATED)
        .order_by(ReportVersion.number.desc()).limit(1))


@dataclass
class PopulationAct:
    id: int
    period: str
    uo_code: str
    beneficiary_id: str
    act_date: date
    proof_ref: str | None
    value: Decimal

    @property
    def key(self):
        """The stable key the draw sorts on (:func:`sampling.act_key`)."""
        return sampling.act_key(self.period, self.uo_code, self.act_date, self.beneficiary_id)


def population(lot, versions_by_period):
    """Billed acts of the validated versions, with the unit price in force on each act's date.

    Lump-sum UO have no acts and are not sampled.
    """
    book = PriceBook.for_lot(lot.id)
    units = {u.id: u for u in db.session.scalars(
        sa.select(UnitOfWork).where(UnitOfWork.market_id == lot.market_id))}
    period_of_version = {v.id: p for p, v in versions_by_period.items()}
    rows = db.session.execute(
        sa.select(Act.id, Act.version_id, Act.uo_id, Act.beneficiary_id, Act.act_date, Act.proof_ref)
        .where(Act.version_id.in_(list(period_of_version)))).all()
    acts = []
    missing = set()
    for act_id, version_id, uo_id, beneficiary, act_date, proof_ref in rows:
        uo = units.get(uo_id)
        if uo is None or uo.is_lump_sum:
            continue
        price = book.price_at(uo_id, act_date)
        if price is None:
            missing.add((uo.code, act_date))
            price = Decimal("0")
        acts.append(PopulationAct(act_id, period_of_version[version_id], uo.code, beneficiary,
                                  act_date, proof_ref, D(price)))
    if missing:
        code, when = sorted(missing)[0]
        raise ControlError(f"Aucun prix en vigueur pour {code} au {fmt_day(when)} : "
                           "complétez le bordereau des prix avant d'ouvrir le contrôle.")
    return acts


def earlier_campaign(lot_id):
    """``(campaign, nonconforming, judged)`` of the lot's last closed campaign, or None."""
    campaign = db.session.scalar(
        sa.select(ControlCampaign).where(ControlCampaign.lot_id == lot_id,
                                         ControlCampaign.status == CampaignStatus.CLOSED)
        .order_by(ControlCampaign.closed_at.desc()).limit(1))
    if campaign is None or not campaign.outcome:
        return None
    x = sum(o["nonconforming"] for o in campaign.outcome.values())
    n = sum(o["n"] for o in campaign.outcome.values())
    return (campaign, x, n) if n else None


def earlier_rate(lot_id):
    """Overall non-conformity rate of the lot's last closed campaign, or None."""
    found = earlier_campaign(lot_id)
    return D(found[1]) / D(found[2]) if found else None


def expected_rate_for(lot, day=None):
    """``(p, why)``: the rate the sample is sized on, and the reason in French.

    The contract's expected rate (``controls.expected_rate``, 0,5 by default: the most
    cautious), unless the contract allows the previous campaign's rate
    (``controls.use_previous_rate``), which is then raised to the contract's floor
    (``controls.previous_rate_floor``)."""
    rules = lot_terms(lot, day).controls
    contract_p = D(rules.expected_rate).normalize()
    found = earlier_campaign(lot.id)
    if not rules.use_previous_rate:
        why = (f"taux attendu du contrat, p = {format_fr(contract_p)} (clé controls.expected_rate)")
        if found:
            campaign, x, n = found
            why += (f" ; le taux du contrôle précédent {campaign.reference} ({x} / {n}) n'est pas "
                    "utilisé : le contrat ne le prévoit pas (controls.use_previous_rate = false)")
        return contract_p, why
    if found is None:
        return contract_p, (f"taux attendu du contrat, p = {format_fr(contract_p)} : le contrat "
                            "autorise le taux du contrôle précédent, mais aucun contrôle du lot "
                            "n'est encore clôturé")
    campaign, x, n = found
    previous = (D(x) / D(n)).quantize(Decimal("0.0001")).normalize()
    floor = D(rules.previous_rate_floor).normalize()
    p = max(previous, floor)
    if p >= 1:
        return contract_p, (f"taux attendu du contrat, p = {format_fr(contract_p)} : le taux du "
                            f"contrôle précédent {campaign.reference} ({x} / {n}) vaut 100 %")
    why = (f"taux du contrôle précédent {campaign.reference} : {x} / {n} = {format_fr(previous)}, "
           "comme le contrat le permet (controls.use_previous_rate = true)")
    if p > previous:
        why += f", relevé au plancher du contrat {format_fr(floor)} (controls.previous_rate_floor)"
    return p, why


def check_periods(lot, periods):
    """{period: validated version} or ControlError naming the faulty month."""
    if not periods:
        raise ControlError("Choisissez au moins un mois validé à contrôler.")
    out = {}
    for period in sorted(set(periods)):
        try:
            parse_period(period)
        except ValueError as exc:
            raise ControlError(str(exc)) from None
        version = validated_version(lot.id, period)
        if version is None:
            raise ControlError(f"Le reporting de {period} du lot {lot.code} n'est pas validé : "
                               "seuls les mois validés peuvent être contrôlés.")
        taken = db.session.scalar(sa.select(ControlCampaign.reference).join(ControlPeriod)
                                  .where(ControlPeriod.lot_id == lot.id, ControlPeriod.period == period))
        if taken:
            raise ControlError(f"Le mois {period} est déjà contrôlé par la campagne {taken}.")
        out[period] = version
    return out


def controllable_periods(lot):
    """Validated months of the lot not yet controlled, newest first."""
    taken = sa.select(ControlPeriod.period).where(ControlPeriod.lot_id == lot.id)
    return db.session.scalars(
        sa.select(Report.period).join(ReportVersion, ReportVersion.report_id == Report.id)
        .where(Report.lot_id == lot.id, ReportVersion.status == VersionStatus.VALIDATED,
               Report.period.not_in(taken))
        .distinct().order_by(Report.period.desc())).all()


def _reference(lot, periods):
    base = f"CSF-{lot.code}-{periods[0]}"
    count = db.session.scalar(sa.select(sa.func.count()).select_from(ControlCampaign)
                              .where(ControlCampaign.reference.like(base + "%")))
    return base if not count else f"{base}-{count + 1}"


# ---------------------------------------------------------------------- opening

def open_campaign(lot, periods, user=None, *, seed=None, today=None, note=None):
    """Draw the sample and open the campaign; one transaction, committed by the caller."""
    if lot.contract is None:
        raise ControlError(f"Le lot {lot.code} n'a pas de contrat enregistré.")
    today = today or date.today()
    versions = check_periods(lot, periods)
    acts = population(lot, versions)
    if not acts:
        raise ControlError("Aucun acte facturé sur les mois choisis : rien à contrôler.")
    strata_acts = defaultdict(list)
    for act in acts:
        strata_acts[act.uo_code].append(act)
    strata = {code: (len(items), sum((a.value for a in items), ZERO))
              for code, items in sorted(strata_acts.items())}
    p, p_source = expected_rate_for(lot, today)
    rules = lot_terms(lot, today).controls
    size = sampling.sample_size(len(acts), margin=rules.margin, confidence=rules.confidence,
                                expected_rate=p)
    allocation = sampling.allocate(strata, size.n, rules.min_per_stratum)
    seed = seed or secrets.token_hex(8)
    draw = sampling.draw_sample({code: [a.key for a in items] for code, items in strata_acts.items()},
                                allocation, seed)
    ordered = sorted(versions)
    campaign = ControlCampaign(
        lot_id=lot.id, reference=_reference(lot, ordered), status=CampaignStatus.OPEN,
        response_due_on=today + timedelta(days=rules.response_days),
        confidence=D(rules.confidence), margin=D(rules.margin),
        expected_rate=p, min_per_stratum=rules.min_per_stratum,
        extrapolate=rules.extrapolate, seed=seed, method=draw.method,
        python_version=draw.python_version, population=len(acts),
        population_value=sum((v for _, v in strata.values()), ZERO),
        target_size=size.n, sample_size=draw.size,
        strata={code: {"count": count, "value": str(value), "size": allocation.sizes[code],
                       "seed": draw.stratum_seeds[code]} for code, (count, value) in strata.items()},
        size_explanation=size.explanation + f"\nProportion attendue p : {p_source}.",
        allocation_explanation=allocation.explanation, note=(note or None),
        opened_by_id=getattr(user, "id", None))
    db.session.add(campaign)
    by_period = defaultdict(lambda: [0, ZERO])
    for act in acts:
        by_period[act.period][0] += 1
        by_period[act.period][1] += act.value
    for period in ordered:
        count, value = by_period[period]
        campaign.periods.append(ControlPeriod(lot_id=lot.id, period=period,
                                              version_id=versions[period].id, acts=count,
                                              billed_value=value))
    selected = {key for keys in draw.selected.values() for key in keys}
    for act in acts:
        if act.key in selected:
            campaign.items.append(ControlItem(
                lot_id=lot.id, act_id=act.id, period=act.period, uo_code=act.uo_code,
                beneficiary_id=act.beneficiary_id, act_date=act.act_date, proof_ref=act.proof_ref,
                value=act.value))
    db.session.flush()
    record("control.opened", campaign, summary=(
        f"Contrôle de service fait {campaign.reference} ouvert sur {', '.join(ordered)} : "
        f"{campaign.sample_size} acte(s) tirés sur {campaign.population} (graine {seed})."),
        changes={"periods": ordered, "seed": seed, "method": draw.method,
                 "sizes": allocation.sizes}, user=user)
    notify(kind="controls.opened", lot_id=lot.id, audience="mandataire",
           subject=f"Contrôle de service fait {campaign.reference}",
           body=(f"France compétences contrôle le service fait de {', '.join(ordered)} : "
                 f"{campaign.sample_size} dossier(s), tirés au hasard parmi "
                 f"{campaign.population} actes facturés, à justifier au plus tard le "
                 f"{fmt_day(campaign.response_due_on)}. Un dossier sans réponse à cette date "
                 "est jugé non justifié ; "
                 + ("le taux de non-conformité de chaque UO est appliqué à sa valeur facturée "
                    "et retenu sur l'état liquidatif." if campaign.extrapolate else
                    "la valeur des dossiers non conformes ou non justifiés est retenue sur "
                    "l'état liquidatif.")),
           link=f"/controles/{campaign.id}", dedup_key=f"controls.opened:{campaign.id}")
    return campaign


#: Samples drawn again by :func:`redraw`, by everything the draw reads.  The acts of a
#: submitted version are frozen (fc_market.integrity) and the draw is a function of their
#: keys, the units' codes, the sizes, the seed and the method only: a campaign's page does
#: not read its months' acts again on every view.  Price lines are only ever added, so a
#: population once priced stays priced (a refused one is not kept).
_REDRAWN: OrderedDict = OrderedDict()
_REDRAWN_MAX = 256
#: A gunicorn worker serves requests on several threads: the cache is read and trimmed under
#: this lock (an entry evicted between its read and its move would raise KeyError)
_REDRAWN_LOCK = threading.Lock()


def _redraw_key(campaign, versions, sizes):
    """What the draw of *campaign* depends on, or None when a month is still a draft."""
    if not versions or any(v is None or v.status == VersionStatus.DRAFT for v in versions.values()):
        return None
    ids = sorted(v.id for v in versions.values())
    acts = db.session.execute(sa.select(sa.func.count(), sa.func.min(Act.id), sa.func.max(Act.id),
                                        sa.func.sum(Act.id)).where(Act.version_id.in_(ids))).one()
    units = db.session.execute(sa.select(UnitOfWork.id, UnitOfWork.code, UnitOfWork.kind)
                               .where(UnitOfWork.market_id == campaign.lot.market_id)
                               .order_by(UnitOfWork.id)).all()
    return (db.session.get_bind().url.render_as_string(hide_password=True), campaign.lot_id,
            campaign.method, campaign.seed, tuple(sorted(sizes.items())),
            tuple(sorted((period, v.id) for period, v in versions.items())),
            tuple(acts), tuple(tuple(u) for u in units))


def _draw_again(campaign, versions, sizes):
    """The sorted keys (ids for a v1 campaign) the recorded draw selects today."""
    acts = population(campaign.lot, versions)
    v1 = campaign.method == sampling.METHOD_V1
    by_stratum = defaultdict(list)
    for act in acts:
        by_stratum[act.uo_code].append(act.id if v1 else act.key)
    draw = sampling.draw_sample(by_stratum, sizes, campaign.seed, campaign.method)
    return sorted(i for ids in draw.selected.values() for i in ids)


def redraw(campaign):
    """Draw again from the recorded seed and versions; True when the same items come out.

    A campaign keeps the method it was drawn with (v1 campaigns sorted database ids)."""
    versions = {p.period: p.version for p in campaign.periods}
    sizes = {code: info["size"] for code, info in campaign.strata.items()}
    key = _redraw_key(campaign, versions, sizes)
    again = None
    if key is not None:
        with _REDRAWN_LOCK:
            again = _REDRAWN.get(key)
            if again is not None:
                _REDRAWN.move_to_end(key)
    if again is None:
        again = _draw_again(campaign, versions, sizes)
        if key is not None:
            with _REDRAWN_LOCK:
                _REDRAWN[key] = again
                while len(_REDRAWN) > _REDRAWN_MAX:
                    _REDRAWN.popitem(last=False)
    v1 = campaign.method == sampling.METHOD_V1
    if v1:
        return again == sorted(item.act_id for item in campaign.items)
    return again == sorted(item_key(item) for item in campaign.items)


def billed_acts(campaign):
    """Every billed act of the campaign's months, by stratum and key, with whether it was
    drawn: what anyone needs to draw the sample again (no database id)."""
    versions = {p.period: p.version for p in campaign.periods}
    drawn = {item.act_id for item in campaign.items}
    rows = [{"uo": a.uo_code, "key": a.key, "period": a.period, "act_date": a.act_date,
             "beneficiary": a.beneficiary_id, "value": a.value,
             "drawn": "oui" if a.id in drawn else "non"}
            for a in population(campaign.lot, versions)]
    return sorted(rows, key=lambda r: (r["uo"], r["key"]))


def method_facts(campaign):
    """What the "Méthode" and "Tirage" parts of the campaign page print: method, z, the
    text hashed and the resulting seed of each stratum, the Python versions."""
    import platform
    method = campaign.method if campaign.method in sampling.METHODS else sampling.METHOD_V1
    strata = []
    for code, info in sorted(campaign.strata.items()):
        hashed = sampling.seed_input(campaign.seed, code, method)
        strata.append({"uo": code, "count": info["count"], "size": info["size"],
                       "hashed": hashed.replace("\x1f", "<U+001F>"),
                       "seed": format(sampling.stratum_seed(campaign.seed, code, method), "064x")})
    return {"method": method, "v1": method == sampling.METHOD_V1,
            "separator": sampling.SEPARATORS[method], "z": sampling.z_score(campaign.confidence),
            "strata": strata, "python_now": platform.python_version()}


def item_key(item):
    """The stable key of a control item's act (method v2)."""
    return sampling.act_key(item.period, item.uo_code, item.act_date, item.beneficiary_id)


# -------------------------------------------------------------------- answering

def _check_files(files):
    """Refuse the whole answer if one file is refused, before anything is stored."""
    for name, data in files:
        if not data:
            raise ControlError(f"Le fichier « {storage.safe_name(name)} » est vide.")
        if len(data) > storage.MAX_FILE_BYTES:
            raise ControlError(f"Le fichier « {storage.safe_name(name)} » dépasse la taille "
                               f"maximale de {storage.MAX_FILE_BYTES // (1024 * 1024)} Mo.")
        try:
            storage.check(data)
        except storage.FileRefused as exc:
            raise ControlError(f"Le fichier « {storage.safe_name(name)} » est refusé : {exc.reason}.") from None


def answer_item(item, user, *, reference=None, comment=None, files=(), today=None):
    """The mandataire answers an item with a reference and/or proof files."""
    today = today or date.today()
    campaign = item.campaign
    reference = (reference or "").strip()[:200] or None
    comment = (comment or "").strip() or None
    files = [(name, data) for name, data in files if name or data]
    if not campaign.is_open:
        raise ControlError("La campagne est clôturée : la réponse n'est plus possible.")
    if today > campaign.response_due_on:
        raise ControlError(f"L'échéance de réponse ({fmt_day(campaign.response_due_on)}) est "
                           "passée : la réponse n'est plus possible.")
    if item.verdict != Verdict.PENDING:
        raise ControlError("Ce dossier est déjà examiné par France compétences.")
    if not reference and not files and not item.proofs:
        raise ControlError("Indiquez la référence de la preuve ou joignez au moins un fichier "
                           "(PDF, PNG ou JPEG).")
    _check_files(files)
    for name, data in files:
        key, mimetype, digest, display = storage.store(data, name)
        db.session.add(ControlProof(item=item, lot_id=item.lot_id, storage_key=key,
                                    mimetype=mimetype, sha256=digest, size=len(data),
                                    filename=display, uploaded_by_id=getattr(user, "id", None)))
    if reference:
        item.answer_reference = reference
    if comment:
        item.answer_comment = comment
    item.answered_at = utcnow()
    item.answered_by_id = getattr(user, "id", None)
    record("control.answered", item, summary=(
        f"Réponse au dossier {item.beneficiary_id} ({item.uo_code}, {fmt_day(item.act_date)}) "
        f"de {campaign.reference} : {len(files)} fichier(s)"
        + (f", référence {reference}" if reference else "")), user=user)
    return item


# ---------------------------------------------------------------------- judging

def judge_item(item, user, verdict, *, reason_code=None, comment=None):
    campaign = item.campaign
    comment = (comment or "").strip() or None
    if not campaign.is_open:
        raise ControlError("La campagne est clôturée : les avis sont définitifs.")
    if verdict not in Verdict.CHOICES:
        raise ControlError("Choisissez un avis : conforme, non conforme ou non justifié.")
    if verdict == Verdict.NONCONFORMING:
        if reason_code not in campaign.reasons:
            raise ControlError("Un avis « non conforme » exige un motif choisi dans la liste.")
        if reason_code == OTHER_REASON and not comment:
            raise ControlError("Précisez le motif « autre » dans le commentaire.")
    else:
        reason_code = None
    before = item.verdict
    item.verdict, item.reason_code, item.verdict_comment = verdict, reason_code, comment
    item.judged_at, item.judged_by_id = utcnow(), getattr(user, "id", None)
    record("control.judged", item, summary=(
        f"{campaign.reference} : dossier {item.beneficiary_id} ({item.uo_code}) jugé "
        f"« {Verdict.LABELS[verdict]} »" + (f" ({campaign.reasons[reason_code]})"
                                            if reason_code else "")),
        changes={"verdict": [before, verdict], "reason": reason_code}, user=user)
    return item


def expire_unanswered(today=None):
    """Items left unanswered after the deadline become unproven (scheduled job)."""
    today = today or date.today()
    items = db.session.scalars(
        sa.select(ControlItem).join(ControlCampaign)
        .where(ControlCampaign.status == CampaignStatus.OPEN,
               ControlCampaign.response_due_on < today,
               ControlItem.verdict == Verdict.PENDING, ControlItem.answered_at.is_(None))).all()
    by_campaign = defaultdict(list)
    for item in items:
        item.verdict = Verdict.UNPROVEN
        item.verdict_comment = (f"Aucune réponse à l'échéance du "
                                f"{fmt_day(item.campaign.response_due_on)}.")
        item.judged_at, item.judged_by_id = utcnow(), None
        by_campaign[item.campaign].append(item)
    for campaign, its in by_campaign.items():
        record("control.expired", campaign, actor="système", summary=(
            f"{campaign.reference} : {len(its)} dossier(s) sans réponse à l'échéance du "
            f"{fmt_day(campaign.response_due_on)} classés non justifiés."))
        notify(kind="controls.expired", lot_id=campaign.lot_id, audience="mandataire",
               subject=f"{campaign.reference} : échéance de réponse passée",
               body=(f"{len(its)} dossier(s) sans réponse au {fmt_day(campaign.response_due_on)} "
                     "sont classés « non justifié »."),
               link=f"/controles/{campaign.id}", dedup_key=f"controls.expired:{campaign.id}:{today}")
    return len(items)


# ---------------------------------------------------------------------- outcome

def compute_outcome(campaign):
    """Per UO: rate with its Wilson interval and the amount withheld; per month: withholding.

    Returns ``(per_uo, per_period)`` with ``per_period[period][uo_code] = amount``.  Pending items count as not yet judged: the outcome is
    provisional until every item has a verdict.
    """
    items_by_uo = defaultdict(list)
    for item in campaign.items:
        items_by_uo[item.uo_code].append(item)
    # population value of each UO per month, for extrapolation
    versions = {p.period: p.version for p in campaign.periods}
    per_period_value = defaultdict(lambda: defaultdict(lambda: ZERO))
    if campaign.extrapolate:
        for act in population(campaign.lot, versions):
            per_period_value[act.uo_code][act.period] += act.value
    per_uo, per_period = {}, defaultdict(lambda: defaultdict(lambda: ZERO))
    for code, info in campaign.strata.items():
        items = items_by_uo.get(code, [])
        judged = [i for i in items if i.verdict != Verdict.PENDING]
        bad = [i for i in judged if i.verdict in sampling.NONCONFORMING_STATUSES]
        entry = {"N": info["count"], "n": len(items), "judged": len(judged),
                 "nonconforming": len(bad), "value": info["value"],
                 "sampled_value": str(sum((i.value for i in items), ZERO))}
        if judged:
            est = sampling.rate_with_ci(len(bad), len(judged), info["count"], campaign.confidence)
            entry.update(rate=str(est.rate), lower=str(est.lower), upper=str(est.upper),
                         explanation=est.explanation)
        withheld = ZERO
        texts = []
        if campaign.extrapolate and judged:
            for period, value in sorted(per_period_value[code].items()):
                result = sampling.withholding(extrapolation=sampling.Extrapolation(
                    len(bad), len(judged), value))
                per_period[period][code] += result.amount
                withheld += result.amount
                texts.append(f"{period} : {result.explanation}")
        else:
            for period in sorted({i.period for i in items}):
                result = sampling.withholding([
                    sampling.ControlledItem(i.id, i.value, i.verdict) for i in judged
                    if i.period == period])
                per_period[period][code] += result.amount
                withheld += result.amount
                if result.amount:
                    texts.append(f"{period} : {result.explanation}")
        entry["withheld"] = str(withheld)
        entry["withholding_explanation"] = "\n".join(texts) or "Aucune retenue."
        per_uo[code] = entry
    return per_uo, {p: dict(per_period[p]) for p in campaign.period_list}


def close_campaign(campaign, user=None, *, expected_version=None):
    """Freeze the outcome and apply it to the months' payable statements (control.closed)."""
    if expected_version is not None and int(expected_version) != campaign.version_counter:
        raise ControlError("La campagne a été modifiée entre-temps (autre utilisateur) : "
                           "rechargez la page avant de la clôturer.")
    if not campaign.is_open:
        raise ControlError("Cette campagne est déjà clôturée.")
    pending = sum(1 for i in campaign.items if i.verdict == Verdict.PENDING)
    if pending:
        raise ControlError(f"{pending} dossier(s) restent à examiner : donnez un avis sur chacun "
                           "avant de clôturer.")
    per_uo, per_period = compute_outcome(campaign)
    campaign.outcome = per_uo
    campaign.withheld_total = sum((sum(by_uo.values(), ZERO) for by_uo in per_period.values()), ZERO)
    for p in campaign.periods:
        by_uo = per_period.get(p.period, {})
        p.withheld = sum(by_uo.values(), ZERO)
        p.withheld_by_uo = {code: str(amount) for code, amount in sorted(by_uo.items())}
    campaign.status = CampaignStatus.CLOSED
    campaign.closed_at, campaign.closed_by_id = utcnow(), getattr(user, "id", None)
    try:
        db.session.flush()
    except StaleDataError:
        raise ControlError("Un autre utilisateur vient de clôturer ou de modifier cette campagne : "
                           "rechargez la page.") from None
    record("control.closed", campaign, summary=(
        f"Contrôle {campaign.reference} clôturé : retenue totale {campaign.withheld_total} € HT "
        f"({'extrapolation' if campaign.extrapolate else 'sur les dossiers'})."),
        changes={"withheld": {p.period: p.withheld for p in campaign.periods}}, user=user)
    notify(kind="controls.closed", lot_id=campaign.lot_id, audience="mandataire",
           subject=f"Résultat du contrôle {campaign.reference}",
           body=(f"Le contrôle de service fait {campaign.reference} est clôturé. Retenue : "
                 f"{campaign.withheld_total} € HT, appliquée aux états liquidatifs des mois "
                 f"contrôlés. Le détail par dossier est consultable dans fc_market."),
           link=f"/controles/{campaign.id}", dedup_key=f"controls.closed:{campaign.id}")
    events.emit("control.closed", campaign)
    return campaign


# ------------------------------------------------------------------- for billing

def withholdings_for(lot_id, period):
    """[(campaign reference, amount withheld, {uo_code: amount})] from closed campaigns on
    this month (excl. tax, at the contractual unit prices)."""
    rows = db.session.execute(
        sa.select(ControlCampaign.reference, ControlPeriod.withheld, ControlPeriod.withheld_by_uo)
        .join(ControlPeriod).where(ControlPeriod.lot_id == lot_id, ControlPeriod.period == period,
                                   ControlCampaign.status == CampaignStatus.CLOSED)).all()
    return [(ref, D(amount or 0), {k: D(v) for k, v in (by_uo or {}).items()})
            for ref, amount, by_uo in rows]


def open_campaign_on(lot_id, period):
    """Reference of an open campaign controlling this month, or None."""
    return db.session.scalar(
        sa.select(ControlCampaign.reference).join(ControlPeriod)
        .where(ControlPeriod.lot_id == lot_id, ControlPeriod.period == period,
               ControlCampaign.status == CampaignStatus.OPEN))


def campaigns_query(lot_id=None):
    stmt = sa.select(ControlCampaign).order_by(ControlCampaign.opened_at.desc(), ControlCampaign.id.desc())
    if lot_id is not None:
        stmt = stmt.where(ControlCampaign.lot_id == lot_id)
    return stmt
