"""Deterministic synthetic market on top of the loaded contract file.

Every name is visibly fictitious.  Steps run in order; domain modules add theirs in
``fc_market/<module>/demo.py`` (a ``seed(ctx)`` function).  The seed only runs on a
database without operators, so running it twice changes nothing.
"""
import random
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa

from fc_market.auth.models import Role, User
from fc_market.auth.service import create_user
from fc_market.domains import DOMAIN_MODULES, submodules
from fc_market.extensions import db
from fc_market.market.models import Lot, Operator, OperatorMember
from fc_market.market.service import current_market
from fc_market.market.siret import make_siret

DOMAIN = "demo.fc-market.test"
#: Demo credentials, printed on start; never use this seed in production
LOGINS = {
    Role.MANAGER: (f"gestion@{DOMAIN}", "Demo-Gestion-2026", "Camille Marchand (démo)"),
    Role.FINANCE: (f"finances@{DOMAIN}", "Demo-Finances-2026", "Dominique Comptable (démo)"),
    Role.ADMIN: (f"admin@{DOMAIN}", "Demo-Admin-2026", "Alex Administrateur (démo)"),
}
MANDATAIRE_PASSWORD = "Demo-Mandataire-2026"
SEED = 20240101

#: Domain steps, in order (a module without demo.py is skipped)
DOMAIN_STEPS = DOMAIN_MODULES

BRANDS = ["Cap Parcours", "Horizons Pro", "Trajectoires", "Boussole Emploi", "Tremplin Conseil",
          "Chemins d'Avenir", "Passerelles", "Cap Compétences", "Nouvel Élan", "Projets & Vous",
          "Évolutio", "Déclic Carrière", "Alliance Orientation", "Perspectives", "Rebond Pro",
          "Cap Métiers", "Odyssée Conseil", "Sillage"]
MEMBER_KINDS = ["Association", "SCOP", "Cabinet", "Fédération", "Coopérative", "Réseau"]
MEMBER_WORDS = ["Atlas", "Boréal", "Cèdre", "Delta", "Équinoxe", "Fougère", "Granit", "Hélios",
                "Iris", "Jade", "Kairos", "Lumen", "Mistral", "Nova", "Orion", "Pléiade"]


class SeedError(Exception):
    pass


@dataclass
class SeedContext:
    today: date
    market: object
    lots: list
    notes: list = field(default_factory=list)
    #: Share of the full volumes to generate: 1 for the demo, a small one for the tests
    scale: float = 1.0

    def rng(self, name):
        """A random generator per step, so adding a step never changes another's data."""
        return random.Random(f"{SEED}:{name}")


def run(today, scale=1.0, lot_codes=None):
    """Seed the demo as of ``today``.  ``scale`` (share of the acts' volumes) and ``lot_codes``
    (the only lots with activity: reporting, controls, finances, steering; every lot gets
    its groupement and accounts) make a smaller seed, for the tests; the demo takes the
    defaults."""
    market = current_market()
    if market is None:
        raise SeedError("Aucun marché chargé : lancez d'abord "
                        "« flask --app fc_market market load contracts/cep-demo.toml ».")
    if not market.illustrative:
        raise SeedError(f"Le marché {market.reference} n'est pas illustratif : les données de "
                        "démonstration ne se chargent que sur un marché de démonstration.")
    if db.session.scalar(sa.select(User.id).where(User.email == LOGINS[Role.MANAGER][0])):
        return "Données de démonstration déjà présentes : rien à faire."
    lots = db.session.scalars(sa.select(Lot).where(Lot.market_id == market.id)
                              .order_by(Lot.number)).all()
    unknown = sorted(set(lot_codes or ()) - {lot.code for lot in lots})
    if unknown:
        raise SeedError(f"Lot(s) inconnu(s) : {', '.join(unknown)}.")
    ctx = SeedContext(today=today, market=market, lots=lots, scale=scale)
    seed_operators(ctx)
    seed_users(ctx)
    if lot_codes:
        ctx.lots = [lot for lot in lots if lot.code in set(lot_codes)]
    for step in submodules("demo", DOMAIN_STEPS):
        step.seed(ctx)
    return "\n".join(["Données de démonstration créées."] + ctx.notes)


def seed_operators(ctx):
    rng = ctx.rng("operators")
    for lot, brand in zip(ctx.lots, BRANDS * 2):
        if lot.operator is not None:  # titulaire given by the contract file
            continue
        operator = Operator(lot=lot, name=f"Groupement fictif « {brand} » — {lot.name}",
                            kind="groupement")
        db.session.add(operator)
        words = rng.sample(MEMBER_WORDS, 4)
        for i in range(rng.randint(2, 4)):
            kind = rng.choice(MEMBER_KINDS)
            db.session.add(OperatorMember(
                operator=operator, legal_name=f"{kind} {words[i]} {lot.code} (fictif)",
                siret=make_siret(rng), role="mandataire" if i == 0 else "cotraitant"))
    db.session.flush()
    ctx.notes.append(f"{len(ctx.lots)} groupements fictifs et leurs membres.")


def seed_users(ctx):
    users = {role: create_user(email, name, role, password)
             for role, (email, password, name) in LOGINS.items()}
    for lot in ctx.lots:
        create_user(mandataire_email(lot), f"Mandataire {lot.code} (démo)", Role.MANDATAIRE,
                    MANDATAIRE_PASSWORD, lot)
    # the market team shares the lots: a second manager follows the overseas ones
    overseas = create_user(f"gestion.outremer@{DOMAIN}", "Sacha Lefèvre (démo)", Role.MANAGER,
                           LOGINS[Role.MANAGER][1])
    for lot in ctx.lots:
        lot.manager = overseas if lot.overseas else users[Role.MANAGER]
    ctx.notes.append(f"{len(LOGINS) + len(ctx.lots) + 1} comptes de démonstration ; "
                     f"référents FC : {users[Role.MANAGER].full_name} (métropole), "
                     f"{overseas.full_name} (outre-mer).")


def mandataire_email(lot):
    return f"mandataire.{lot.code.lower()}@{DOMAIN}"


def logins_text():
    first_lot = db.session.scalar(sa.select(Lot).order_by(Lot.number).limit(1))
    lines = ["Identifiants de démonstration (un par profil) :"]
    for role, (email, password, _) in LOGINS.items():
        lines.append(f"  {Role.LABELS[role]:<28} {email:<40} {password}")
    if first_lot is not None:
        lines.append(f"  {Role.LABELS[Role.MANDATAIRE]:<28} {mandataire_email(first_lot):<40} "
                     f"{MANDATAIRE_PASSWORD}")
        lines.append(f"  (un mandataire par lot : mandataire.<code du lot>@{DOMAIN}, même mot de passe)")
    existing = db.session.scalar(sa.select(sa.func.count()).select_from(User))
    if not existing:
        lines.append("  (aucun compte en base : lancez « flask --app fc_market demo seed »)")
    return "\n".join(lines)
