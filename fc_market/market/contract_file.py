"""Read, validate and load a market definition file (TOML) from ``contracts/``.

The file is validated whole before anything is written; every problem is reported with
the key it concerns.  Loading is idempotent: a second load of the same file changes
nothing; a price from a later date becomes a new price line; a price already in force is
never changed.
"""
import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

import sqlalchemy as sa

from fc_market import events
from fc_market.audit import service as audit
from fc_market.extensions import db
from fc_market.market.models import (Amendment, FlagRule, Lot, LotContract, LotTarget, Market,
                                     Operator, OperatorMember, Price, UnitOfWork)
from fc_market.market.siret import is_valid_siret
from fc_market.territory.population import contract_population_warnings
from fc_market.market.terms import (EXTRA_KEYS, OTHER_REASON, UO4_MARKET_WIDE, forget_terms,
                                     lot_terms)
from fc_market.models_base import utcnow

REGION_CODES = {"11", "24", "27", "28", "32", "44", "52", "53", "75", "76", "84", "93", "94",
                "01", "02", "03", "04", "06"}
OVERSEAS = {"01", "02", "03", "04", "06"}
ROUNDING_MODES = {"half_up", "half_even", "down"}
FLAG_CATEGORIES = {"quality", "access", "volume", "reporting", "finance"}


class ContractFileError(Exception):
    """The file is invalid; ``errors`` lists every problem as ``(key, French message)``."""

    def __init__(self, errors):
        self.errors = errors
        super().__init__("\n".join(f"{key} : {message}" for key, message in errors))


@dataclass
class LoadReport:
    created: dict = field(default_factory=dict)
    updated: dict = field(default_factory=dict)
    #: French warnings that do not stop the load (e.g. a lot population off the communes' sum)
    warnings: list = field(default_factory=list)

    def add(self, kind, what="created"):
        counter = self.created if what == "created" else self.updated
        counter[kind] = counter.get(kind, 0) + 1

    @property
    def changed(self):
        return bool(self.created or self.updated)

    def summary_fr(self):
        if not self.changed:
            return "Aucun changement : le marché est déjà à jour."
        parts = [f"{n} {k} créé(s)" for k, n in sorted(self.created.items())]
        parts += [f"{n} {k} mis à jour" for k, n in sorted(self.updated.items())]
        return "Chargé : " + ", ".join(parts) + "."


# --------------------------------------------------------------------------- validation
class _Checker:
    """Collects errors while reading typed values from the parsed TOML."""

    def __init__(self):
        self.errors = []

    def err(self, key, message):
        self.errors.append((key, message))

    def get(self, table, name, key, kind, required=True, default=None, choices=None,
            minimum=None, maximum=None):
        full = f"{key}.{name}" if key else name
        if not isinstance(table, dict) or name not in table:
            if required:
                self.err(full, "clé obligatoire absente")
            return default
        value = table[name]
        if kind == "str":
            if not isinstance(value, str) or not value.strip():
                self.err(full, f"texte non vide attendu, trouvé « {value!r} »")
                return default
            value = value.strip()
        elif kind == "int":
            if not isinstance(value, int) or isinstance(value, bool):
                self.err(full, f"nombre entier attendu, trouvé « {value!r} »")
                return default
        elif kind == "bool":
            if not isinstance(value, bool):
                self.err(full, f"true ou false attendu, trouvé « {value!r} »")
                return default
        elif kind == "date":
            if not isinstance(value, date) or hasattr(value, "hour"):
                self.err(full, f"date attendue au format AAAA-MM-JJ, trouvé « {value!r} »")
                return default
        elif kind == "decimal":
            value = self.decimal(value, full)
            if value is None:
                return default
        if choices is not None and value not in choices:
            self.err(full, f"valeur « {value} » non permise (valeurs possibles : "
                           f"{', '.join(sorted(map(str, choices)))})")
            return default
        if minimum is not None and value < minimum:
            self.err(full, f"valeur {value} inférieure au minimum {minimum}")
            return default
        if maximum is not None and value > maximum:
            self.err(full, f"valeur {value} supérieure au maximum {maximum}")
            return default
        return value

    def decimal(self, value, key):
        """Amounts and rates are written as strings or integers, never binary floats."""
        if isinstance(value, float):
            self.err(key, f"montant écrit comme nombre décimal binaire ({value!r}) : écrivez-le "
                          f"entre guillemets, ex. \"{value}\", pour éviter toute erreur d'arrondi")
            return None
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            self.err(key, f"montant attendu, trouvé « {value!r} »")
            return None
        try:
            number = Decimal(str(value).strip().replace(" ", ""))
        except InvalidOperation:
            self.err(key, f"montant invalide « {value} »")
            return None
        if not number.is_finite():
            self.err(key, f"montant invalide « {value} »")
            return None
        return number


def parse_file(path):
    """Parse and validate a contract file; returns a normalised dict or raises ContractFileError."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ContractFileError([(str(path), f"fichier illisible ({exc.strerror})")]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ContractFileError([(str(path), "le fichier doit être encodé en UTF-8")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ContractFileError([(str(path), f"syntaxe TOML invalide : {exc}")]) from None
    spec = validate(data)
    spec["sha256"] = hashlib.sha256(raw).hexdigest()
    spec["source_file"] = path.name
    return spec


def validate(data):
    c = _Checker()
    m = data.get("market")
    if not isinstance(m, dict):
        raise ContractFileError([("market", "table [market] obligatoire absente")])
    market = {
        "reference": c.get(m, "reference", "market", "str"),
        "title": c.get(m, "title", "market", "str"),
        "buyer": c.get(m, "buyer", "market", "str", required=False, default="France compétences"),
        "start_date": c.get(m, "start_date", "market", "date"),
        "end_date": c.get(m, "end_date", "market", "date"),
        "max_renewals": c.get(m, "renewals", "market", "int", required=False, default=0, minimum=0),
        "renewal_months": c.get(m, "renewal_months", "market", "int", required=False, default=0,
                                minimum=0),
        "illustrative": c.get(m, "illustrative", "market", "bool", required=False, default=False),
        "notice": c.get(m, "notice", "market", "str", required=False),
    }
    market["publication"] = _validate_market_publication(c, m.get("publication"))
    if market["start_date"] and market["end_date"] and market["end_date"] <= market["start_date"]:
        c.err("market.end_date", "la date de fin doit suivre la date de début")
    if market["illustrative"] and not market["notice"]:
        c.err("market.notice", "un fichier illustratif doit le dire dans « notice »")

    units = _validate_units(c, data.get("uo"))
    unit_codes = {u["code"] for u in units}
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        c.err("defaults", "table attendue")
        defaults = {}

    lots = []
    raw_lots = data.get("lots")
    if not isinstance(raw_lots, list) or not raw_lots:
        c.err("lots", "au moins un lot [[lots]] est obligatoire")
        raw_lots = []
    seen_codes, seen_regions, seen_numbers = set(), set(), set()
    for i, raw in enumerate(raw_lots):
        key = f"lots[{i + 1}]"
        if not isinstance(raw, dict):
            c.err(key, "table attendue")
            continue
        code = c.get(raw, "code", key, "str")
        if code:
            key = f"lots.{code}"
            if not code.isalnum() or not code.isupper() or len(code) > 16:
                c.err(f"{key}.code", "code en majuscules et chiffres, 16 caractères au plus")
        lot = {
            "code": code,
            "number": c.get(raw, "number", key, "int", minimum=1, maximum=99),
            "region_code": c.get(raw, "region", key, "str", choices=REGION_CODES),
            "name": c.get(raw, "name", key, "str"),
            "population": c.get(raw, "population", key, "int", required=False, minimum=0),
        }
        for name, seen in (("code", seen_codes), ("region_code", seen_regions),
                           ("number", seen_numbers)):
            if lot[name] is not None:
                if lot[name] in seen:
                    c.err(f"{key}.{name}", f"« {lot[name]} » figure deux fois")
                seen.add(lot[name])
        lot["overseas"] = lot["region_code"] in OVERSEAS
        lot["contract"] = _validate_contract(c, defaults, raw.get("contract", {}), key,
                                             [u["code"] for u in units])
        lot["amendments"] = _validate_amendments(c, raw.get("amendments", []), key)
        lot["prices"] = _validate_prices(c, raw.get("prices"), key, unit_codes,
                                         {a["number"] for a in lot["amendments"]})
        lot["targets"] = _validate_targets(c, raw.get("targets", {}), key)
        lot["operator"] = _validate_operator(c, raw.get("operator"), key)
        lot["publication"] = _validate_lot_publication(c, raw.get("publication"), key)
        lots.append(lot)

    flags = _validate_flags(c, data.get("flags", []))
    if "uo4" in data:
        c.err("uo4", "les conditions UO4 se placent dans [defaults.uo4] (ou [lots.contract.uo4])")
    if c.errors:
        raise ContractFileError(c.errors)
    # the UO4 steering rules, their thresholds from [defaults.uo4] (the same for every lot)
    from fc_market.uo4.terms import flag_rules_from
    extra = lots[0]["contract"]["extra_terms"]
    uo4_rules = [r for r in flag_rules_from({name: Decimal(str(extra[f"uo4.{name}"]))
                                             for name in UO4_MARKET_WIDE})
                 if r["code"] not in {f["code"] for f in flags}]
    return {"market": market, "units": units, "lots": lots, "flags": flags + uo4_rules}


def _validate_units(c, raw_units):
    units = []
    if not isinstance(raw_units, list) or not raw_units:
        c.err("uo", "le catalogue [[uo]] est obligatoire")
        return units
    codes = set()
    for i, raw in enumerate(raw_units):
        key = f"uo[{i + 1}]"
        code = c.get(raw, "code", key, "str")
        if code:
            key = f"uo.{code}"
            if code in codes:
                c.err(key, "code en double dans le catalogue")
            codes.add(code)
        kind = c.get(raw, "kind", key, "str", choices={"beneficiary", "lump_sum"})
        units.append({
            "code": code, "kind": kind, "sort_order": i,
            "label": c.get(raw, "label", key, "str"),
            "level": c.get(raw, "level", key, "int", required=kind == "beneficiary",
                           choices={0, 1, 2}),
            "description": c.get(raw, "description", key, "str", required=False),
            "proof_label": c.get(raw, "proof", key, "str", required=False),
            "proof_required": c.get(raw, "proof_required", key, "bool", required=False,
                                    default=False),
            "max_per_beneficiary": c.get(raw, "max_per_beneficiary", key, "int", required=False,
                                         minimum=1),
            "window_months": c.get(raw, "window_months", key, "int", required=False, minimum=1),
            "expects_prior_code": c.get(raw, "expects_prior", key, "str", required=False),
        })
    for unit in units:
        if unit["expects_prior_code"] and unit["expects_prior_code"] not in codes:
            c.err(f"uo.{unit['code']}.expects_prior",
                  f"UO « {unit['expects_prior_code']} » absente du catalogue")
        if (unit["max_per_beneficiary"] is None) != (unit["window_months"] is None):
            c.err(f"uo.{unit['code']}", "max_per_beneficiary et window_months vont ensemble")
    return units




def _validate_contract(c, defaults, overrides, key, unit_codes=()):
    if not isinstance(overrides, dict):
        c.err(f"{key}.contract", "table attendue")
        overrides = {}
    merged = {**defaults, **overrides}
    sections = {"penalties", "revision", "controls"} | {k.section for k in EXTRA_KEYS.values()
                                                        if k.section}
    for sub in sorted(sections):
        base, over = defaults.get(sub, {}), overrides.get(sub, {})
        if not isinstance(base, dict) or not isinstance(over, dict):
            c.err(f"{key}.contract.{sub}", "table attendue")
            base, over = (base if isinstance(base, dict) else {}), (over if isinstance(over, dict) else {})
        merged[sub] = {**base, **over}
    k = f"{key}.contract"
    out = {
        "reference": c.get(merged, "reference", k, "str", required=False),
        "notification_date": c.get(merged, "notification_date", k, "date"),
        "start_date": c.get(merged, "start_date", k, "date"),
        "duration_months": c.get(merged, "duration_months", k, "int", minimum=1),
        "min_amount": c.get(merged, "min_amount", k, "decimal", required=False, minimum=0),
        "max_amount": c.get(merged, "max_amount", k, "decimal", required=False, minimum=0),
        "vat_rate": c.get(merged, "vat_rate", k, "decimal", minimum=0, maximum=Decimal("0.99")),
        "payment_term_days": c.get(merged, "payment_term_days", k, "int", minimum=1, maximum=90),
        "reporting_deadline_day": c.get(merged, "reporting_deadline_day", k, "int", minimum=1,
                                        maximum=28),
        "reporting_reminder_days": c.get(merged, "reporting_reminder_days", k, "int",
                                         required=False, default=3, minimum=0, maximum=27),
        "late_acts_grace_days": c.get(merged, "late_acts_grace_days", k, "int", required=False,
                                      default=0, minimum=0),
        "rounding": c.get(merged, "rounding", k, "str", required=False, default="half_up",
                          choices=ROUNDING_MODES),
        "price_decimals": c.get(merged, "price_decimals", k, "int", required=False, default=2,
                                minimum=0, maximum=4),
    }
    if out["min_amount"] is not None and out["max_amount"] is not None \
            and out["max_amount"] < out["min_amount"]:
        c.err(f"{k}.max_amount", "le maximum est inférieur au minimum")
    p, kp = merged["penalties"], f"{k}.penalties"
    out["late_reporting_penalty_per_day"] = c.get(p, "late_reporting_per_day", kp, "decimal",
                                                  required=False, default=Decimal("0"), minimum=0)
    out["late_reporting_penalty_cap"] = c.get(p, "late_reporting_cap", kp, "decimal",
                                              required=False, minimum=0)
    r, kr = merged["revision"], f"{k}.revision"
    if r:
        out.update({
            "revision_index_name": c.get(r, "index_name", kr, "str"),
            "revision_base_value": c.get(r, "base_value", kr, "decimal", minimum=Decimal("0.0001")),
            "revision_base_date": c.get(r, "base_date", kr, "date"),
            "revision_fixed_part": c.get(r, "fixed_part", kr, "decimal", minimum=0, maximum=1),
            "revision_variable_part": c.get(r, "variable_part", kr, "decimal", minimum=0,
                                            maximum=1),
            "revision_first_date": c.get(r, "first_revision_date", kr, "date", required=False),
        })
        if out["revision_fixed_part"] is not None and out["revision_variable_part"] is not None \
                and out["revision_fixed_part"] + out["revision_variable_part"] != 1:
            c.err(kr, "fixed_part + variable_part doit valoir 1")
    else:
        out.update({name: None for name in (
            "revision_index_name", "revision_base_value", "revision_base_date",
            "revision_fixed_part", "revision_variable_part", "revision_first_date")})
    ct, kc = merged["controls"], f"{k}.controls"
    out.update({
        "control_confidence": c.get(ct, "confidence", kc, "decimal", required=False,
                                    default=Decimal("0.95"), minimum=Decimal("0.5"),
                                    maximum=Decimal("0.999")),
        "control_margin": c.get(ct, "margin", kc, "decimal", required=False,
                                default=Decimal("0.10"), minimum=Decimal("0.01"),
                                maximum=Decimal("0.5")),
        "control_expected_rate": c.get(ct, "expected_rate", kc, "decimal", required=False,
                                       default=Decimal("0.5"), minimum=Decimal("0.01"),
                                       maximum=Decimal("0.99")),
        "control_min_per_stratum": c.get(ct, "min_per_stratum", kc, "int", required=False,
                                         default=5, minimum=0),
        "control_extrapolate": c.get(ct, "extrapolate", kc, "bool", required=False, default=False),
        "control_response_days": c.get(ct, "response_days", kc, "int", required=False, default=30,
                                       minimum=1),
    })
    out["extra_terms"] = _validate_extra(c, merged, k, unit_codes)
    changes = _validate_changes(c, overrides.get("changes", defaults.get("changes")), k, unit_codes,
                                out["start_date"])
    if changes:
        out["extra_terms"]["changes"] = changes
    lot_uo4 = overrides.get("uo4", {}) if isinstance(overrides.get("uo4", {}), dict) else {}
    for name in UO4_MARKET_WIDE:
        if name in lot_uo4:
            c.err(f"{k}.uo4.{name}", "seuil d'une règle de signalement commune à tous les lots : "
                                     "définissez-le dans [defaults.uo4]")
    return out


def _validate_changes(c, raw, k, unit_codes, start_date):
    """``[[lots.contract.changes]]``: extra keys that change from a date (an amendment),
    e.g. ``valid_from = 2026-01-01``, ``amendment = 2``, ``steering.level2_days = 90``."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        c.err(f"{k}.changes", "liste [[lots.contract.changes]] attendue")
        return []
    out, seen = [], set()
    known = {spec.section for spec in EXTRA_KEYS.values()}
    for i, change in enumerate(raw):
        kc = f"{k}.changes[{i + 1}]"
        if not isinstance(change, dict):
            c.err(kc, "table attendue")
            continue
        valid_from = c.get(change, "valid_from", kc, "date")
        amendment = c.get(change, "amendment", kc, "int", required=False, minimum=1)
        if valid_from and start_date and valid_from <= start_date:
            c.err(f"{kc}.valid_from", "un changement daté suit le début du contrat (sinon, "
                                      "changez la valeur de base)")
        if valid_from in seen:
            c.err(f"{kc}.valid_from", "deux changements à la même date")
        seen.add(valid_from)
        for name, value in change.items():
            if name in ("valid_from", "amendment"):
                continue
            if name not in known or not isinstance(value, dict):
                c.err(f"{kc}.{name}", "seules les clés datables peuvent changer à une date "
                      "(sections " + ", ".join(sorted(known - {""})) + ")")
                continue
            for key in value:
                if f"{name}.{key}" not in EXTRA_KEYS:
                    c.err(f"{kc}.{name}.{key}", f"clé inconnue (clés de « {name} » : "
                          + ", ".join(sorted(s.key for s in EXTRA_KEYS.values() if s.section == name))
                          + ")")
        values = _validate_extra(c, change, kc, unit_codes, defaults=False)
        if not values:
            c.err(kc, "aucune clé ne change à cette date")
        if valid_from:
            out.append({"valid_from": valid_from.isoformat(), "amendment": amendment,
                        "values": values})
    return sorted(out, key=lambda ch: ch["valid_from"])


def _validate_extra(c, merged, k, unit_codes, defaults=True):
    """The extra keys of :data:`fc_market.market.terms.EXTRA_KEYS`, in their JSON form
    (decimals as strings); a key absent from the file takes its default (none when
    ``defaults`` is False: a dated change gives only what changes)."""
    out = {}
    for spec in EXTRA_KEYS.values():
        table = merged.get(spec.section, {}) if spec.section else merged
        full = f"{k}.{spec.name}"
        if not isinstance(table, dict) or spec.key not in table:
            if defaults:
                out[spec.name] = spec.default
            continue
        value = table[spec.key]
        if spec.kind in ("decimal", "int", "bool"):
            got = c.get(table, spec.key, f"{k}.{spec.section}" if spec.section else k, spec.kind,
                        minimum=spec.minimum, maximum=spec.maximum)
            if got is not None:
                out[spec.name] = str(got) if spec.kind == "decimal" else got
        elif spec.kind == "choice":
            got = c.get(table, spec.key, f"{k}.{spec.section}" if spec.section else k, "str",
                        choices=set(spec.choices))
            if got is not None:
                out[spec.name] = got
        elif spec.kind in ("kinds", "uo_list"):
            allowed = spec.choices if spec.kind == "kinds" else tuple(unit_codes)
            what = "type de site" if spec.kind == "kinds" else "UO"
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value) \
                    or (spec.kind == "kinds" and not value):
                c.err(full, "liste de textes attendue, ex. [\"" + '", "'.join(allowed[:2]) + "\"]")
                continue
            unknown = [v for v in value if v not in allowed]
            if unknown:
                c.err(full, f"{what} inconnu(e)(s) : {', '.join(unknown)} (valeurs possibles : "
                            f"{', '.join(allowed)})")
                continue
            if len(set(value)) != len(value):
                c.err(full, "valeur en double dans la liste")
                continue
            out[spec.name] = list(value)
        elif spec.kind == "month_day":
            month, _, day = str(value).partition("-") if isinstance(value, str) else ("", "", "")
            try:
                date(2024, int(month), int(day))  # a leap year: 02-29 is allowed
            except ValueError:
                c.err(full, f"date « {value} » invalide : écrivez le mois et le jour, ex. \"03-31\"")
                continue
            out[spec.name] = f"{int(month):02d}-{int(day):02d}"
        elif spec.kind == "labels":
            if not isinstance(value, dict) or not value or not all(
                    isinstance(code, str) and isinstance(label, str) and label.strip()
                    for code, label in value.items()):
                c.err(full, "table « code = \"libellé\" » non vide attendue")
                continue
            bad = [code for code in value if not code.replace("_", "").isalnum()
                   or not code.islower() or len(code) > 40]
            if bad:
                c.err(full, f"code invalide : {', '.join(bad)} (minuscules, chiffres et _, "
                            f"40 caractères au plus)")
                continue
            out[spec.name] = {code: label.strip() for code, label in value.items()}
        elif spec.kind == "reasons":
            if not isinstance(value, dict) or not value or not all(
                    isinstance(code, str) and isinstance(label, str) and label.strip()
                    for code, label in value.items()):
                c.err(full, "table « code = \"libellé\" » non vide attendue")
                continue
            bad = [code for code in value if not code.replace("_", "").isalnum() or len(code) > 32]
            if bad:
                c.err(full, f"code de motif invalide : {', '.join(bad)} (lettres, chiffres et _, "
                            f"32 caractères au plus)")
                continue
            if OTHER_REASON not in value:
                c.err(full, f"le motif « {OTHER_REASON} » (autre motif, à préciser) est obligatoire")
                continue
            out[spec.name] = {code: label.strip() for code, label in value.items()}
    return out


def _validate_amendments(c, raw, key):
    out = []
    if not isinstance(raw, list):
        c.err(f"{key}.amendments", "liste [[lots.amendments]] attendue")
        return out
    for i, a in enumerate(raw):
        k = f"{key}.amendments[{i + 1}]"
        out.append({
            "number": c.get(a, "number", k, "int", minimum=1),
            "signed_on": c.get(a, "signed_on", k, "date"),
            "effective_on": c.get(a, "effective_on", k, "date"),
            "object": c.get(a, "object", k, "str"),
            "effect": c.get(a, "effect", k, "str"),
            "new_max_amount": c.get(a, "new_max_amount", k, "decimal", required=False, minimum=1),
            "new_duration_months": c.get(a, "new_duration_months", k, "int", required=False,
                                         minimum=1),
            "changes_holders": c.get(a, "changes_holders", k, "bool", required=False, default=False),
        })
    numbers = [a["number"] for a in out if a["number"] is not None]
    if len(numbers) != len(set(numbers)):
        c.err(f"{key}.amendments", "numéro d'avenant en double")
    return out


def _validate_prices(c, raw, key, unit_codes, amendment_numbers):
    out = []
    if not isinstance(raw, list) or not raw:
        c.err(f"{key}.prices", "au moins une grille [[lots.prices]] est obligatoire")
        return out
    seen = set()
    for i, schedule in enumerate(raw):
        k = f"{key}.prices[{i + 1}]"
        valid_from = c.get(schedule, "valid_from", k, "date")
        amendment = c.get(schedule, "amendment", k, "int", required=False)
        origin = c.get(schedule, "origin", k, "str", required=False,
                       default="amendment" if amendment else ("initial" if i == 0 else "revision"),
                       choices={"initial", "amendment", "revision"})
        if amendment is not None and amendment not in amendment_numbers:
            c.err(f"{k}.amendment", f"avenant n° {amendment} non décrit dans lots.amendments")
        for name, value in schedule.items() if isinstance(schedule, dict) else ():
            if name in ("valid_from", "amendment", "origin"):
                continue
            if name not in unit_codes:
                c.err(f"{k}.{name}", f"UO « {name} » inconnue du catalogue")
                continue
            price = c.decimal(value, f"{k}.{name}")
            if price is None:
                continue
            if price < 0:
                c.err(f"{k}.{name}", "un prix ne peut pas être négatif")
                continue
            if valid_from and (name, valid_from) in seen:
                c.err(f"{k}.{name}", f"deux prix pour la même UO au {valid_from.isoformat()}")
            seen.add((name, valid_from))
            out.append({"uo": name, "valid_from": valid_from, "unit_price": price,
                        "amendment": amendment, "origin": origin})
    return out


def _validate_targets(c, raw, key):
    out = {}
    if not isinstance(raw, dict):
        c.err(f"{key}.targets", "table attendue (année = nombre d'entrées)")
        return out
    for year, value in raw.items():
        k = f"{key}.targets.{year}"
        if not str(year).isdigit() or not 2000 <= int(year) <= 2100:
            c.err(k, "l'année doit être un nombre à quatre chiffres")
            continue
        if isinstance(value, dict):
            entries = c.get(value, "entries", k, "int", minimum=0)
            profile = value.get("monthly_profile")
            if profile is not None and (not isinstance(profile, list) or len(profile) != 12 or
                                        not all(isinstance(x, int) and x >= 0 for x in profile)
                                        or sum(profile) == 0):
                c.err(f"{k}.monthly_profile", "12 poids entiers positifs attendus")
                profile = None
        else:
            entries = c.get(raw, year, f"{key}.targets", "int", minimum=0)
            profile = None
        out[int(year)] = {"entries": entries, "monthly_profile": profile}
    return out


def _validate_operator(c, raw, key):
    """The titulaire of the lot (optional): a groupement with exactly one mandataire."""
    if raw is None:
        return None
    k = f"{key}.operator"
    if not isinstance(raw, dict):
        c.err(k, "table [lots.operator] attendue")
        return None
    out = {"name": c.get(raw, "name", k, "str"),
           "kind": c.get(raw, "kind", k, "str", required=False, default="groupement",
                         choices={"groupement", "single"}),
           "members": []}
    members = raw.get("members")
    if not isinstance(members, list) or not members:
        c.err(f"{k}.members", "au moins un membre [[lots.operator.members]] est obligatoire")
        return out
    sirets = set()
    for i, m in enumerate(members):
        km = f"{k}.members[{i + 1}]"
        member = {"legal_name": c.get(m, "legal_name", km, "str"),
                  "siret": c.get(m, "siret", km, "str"),
                  "role": c.get(m, "role", km, "str",
                                choices={"mandataire", "cotraitant", "sous-traitant"})}
        siret = (member["siret"] or "").replace(" ", "")
        if member["siret"] is not None:
            if not is_valid_siret(siret):
                c.err(f"{km}.siret", f"SIRET « {member['siret']} » invalide (14 chiffres, clé de contrôle)")
            elif siret in sirets:
                c.err(f"{km}.siret", "SIRET en double dans le groupement")
            sirets.add(siret)
        member["siret"] = siret
        out["members"].append(member)
    mandataires = sum(1 for m in out["members"] if m["role"] == "mandataire")
    if mandataires != 1:
        c.err(f"{k}.members", f"un et un seul mandataire attendu ({mandataires} trouvé(s))")
    if out["kind"] == "single" and len(out["members"]) != 1:
        c.err(f"{k}.kind", "un titulaire unique (single) n'a qu'un membre")
    return out


#: DECP v2 vocabularies (schema decp-v2.0.3, arrêtés du 22 décembre 2022): the contract file
#: must use them as they are, since the open-data export copies them
DECP_PROCEDURES = {"Procédure adaptée", "Appel d'offres ouvert", "Appel d'offres restreint",
                   "Procédure avec négociation", "Dialogue compétitif",
                   "Marché passé sans publicité ni mise en concurrence préalable"}
DECP_TECHNIQUES = {"Accord-cadre", "Concours", "Système de qualification",
                   "Système d'acquisition dynamique", "Catalogue électronique",
                   "Enchère électronique", "Sans objet"}
DECP_EXECUTION_MODES = {"Tranches", "Bons de commande", "Marchés subséquents", "Sans objet"}
DECP_PRICE_FORMS = {"Unitaire", "Forfaitaire", "Mixte"}
DECP_PRICE_TYPES = {"Définitif ferme", "Définitif actualisable", "Définitif révisable", "Provisoire"}
DECP_CCAG = {"Travaux", "Maitrise d'œuvre", "Fournitures courantes et services",
             "Marchés industriels", "Prestations intellectuelles",
             "Techniques de l'information et de la communication", "Pas de CCAG"}
DECP_SOCIAL = {"Clause sociale", "Critère social", "Marché réservé", "Pas de considération sociale"}
DECP_ENVIRONMENTAL = {"Clause environnementale", "Critère environnemental",
                      "Pas de considération environnementale"}
DECP_GROUPINGS = {"Conjoint", "Solidaire", "Pas de groupement"}
DECP_PLACE_TYPES = {"Code commune", "Code arrondissement", "Code canton", "Code département",
                    "Code région", "Code pays", "Code postal"}


def _str_list(c, table, name, key, choices, required=True):
    full = f"{key}.{name}"
    value = table.get(name) if isinstance(table, dict) else None
    if value is None:
        if required:
            c.err(full, "clé obligatoire absente")
        return []
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        c.err(full, "liste de textes non vide attendue")
        return []
    wrong = [v for v in value if v not in choices]
    if wrong:
        c.err(full, f"valeur(s) non permise(s) : {', '.join(wrong)} (valeurs possibles : "
                    f"{', '.join(sorted(choices))})")
        return []
    return list(dict.fromkeys(value))


def _validate_market_publication(c, raw):
    """[market.publication]: the buyer's identifiers (invoices are addressed to them) and the
    essential data of the procedure published in DECP v2.  Optional: without it, fc_market
    produces no Factur-X invoice and no open data."""
    if raw is None:
        return None
    k = "market.publication"
    if not isinstance(raw, dict):
        c.err(k, "table [market.publication] attendue")
        return None
    out = {
        "buyer_siret": c.get(raw, "buyer_siret", k, "str"),
        "buyer_service_code": c.get(raw, "buyer_service_code", k, "str"),
        "buyer_vat_number": c.get(raw, "buyer_vat_number", k, "str", required=False),
        "buyer_postcode": c.get(raw, "buyer_postcode", k, "str", required=False),
        "buyer_city": c.get(raw, "buyer_city", k, "str", required=False),
        "nature": c.get(raw, "nature", k, "str", required=False, default="Marché",
                        choices={"Marché", "Marché de partenariat", "Marché de défense ou de sécurité"}),
        "cpv": c.get(raw, "cpv", k, "str"),
        "procedure": c.get(raw, "procedure", k, "str", choices=DECP_PROCEDURES),
        "techniques": _str_list(c, raw, "techniques", k, DECP_TECHNIQUES),
        "execution_modes": _str_list(c, raw, "execution_modes", k, DECP_EXECUTION_MODES),
        "price_form": c.get(raw, "price_form", k, "str", choices=DECP_PRICE_FORMS),
        "price_types": _str_list(c, raw, "price_types", k, DECP_PRICE_TYPES),
        "ccag": c.get(raw, "ccag", k, "str", choices=DECP_CCAG),
        "innovative": c.get(raw, "innovative", k, "bool", required=False, default=False),
        "advance_paid": c.get(raw, "advance_paid", k, "bool", required=False, default=False),
        "subcontracting_declared": c.get(raw, "subcontracting_declared", k, "bool", required=False,
                                         default=False),
        "social_considerations": _str_list(c, raw, "social_considerations", k, DECP_SOCIAL),
        "environmental_considerations": _str_list(c, raw, "environmental_considerations", k,
                                                  DECP_ENVIRONMENTAL),
        "ocid_prefix": c.get(raw, "ocid_prefix", k, "str", required=False),
    }
    siret = (out["buyer_siret"] or "").replace(" ", "")
    if out["buyer_siret"] is not None and not is_valid_siret(siret):
        c.err(f"{k}.buyer_siret", f"SIRET « {out['buyer_siret']} » invalide (14 chiffres, clé de contrôle)")
    out["buyer_siret"] = siret
    if out["cpv"] is not None and not re.fullmatch(r"[0-9]{8}(-[0-9])?", out["cpv"]):
        c.err(f"{k}.cpv", f"code CPV « {out['cpv']} » invalide (8 chiffres, éventuellement -clé)")
    return out


def _validate_lot_publication(c, raw, key):
    """[lots.publication]: the engagement number invoices must quote (the buyer's order
    reference), and the lot's own essential data (offers received, groupement type, place)."""
    if raw is None:
        return None
    k = f"{key}.publication"
    if not isinstance(raw, dict):
        c.err(k, "table [lots.publication] attendue")
        return None
    out = {
        "engagement_number": c.get(raw, "engagement_number", k, "str"),
        "offers_received": c.get(raw, "offers_received", k, "int", minimum=0),
        "grouping_type": c.get(raw, "grouping_type", k, "str", choices=DECP_GROUPINGS),
        "place_code": c.get(raw, "place_code", k, "str"),
        "place_type": c.get(raw, "place_type", k, "str", choices=DECP_PLACE_TYPES),
    }
    if out["engagement_number"] and len(out["engagement_number"]) > 50:
        c.err(f"{k}.engagement_number", "50 caractères au plus")
    return out


def _validate_flags(c, raw):
    out = []
    if not isinstance(raw, list):
        c.err("flags", "liste [[flags]] attendue")
        return out
    codes = set()
    for i, f in enumerate(raw):
        k = f"flags[{i + 1}]"
        code = c.get(f, "code", k, "str")
        if code:
            k = f"flags.{code}"
            if code in codes:
                c.err(k, "code de règle en double")
            codes.add(code)
        out.append({
            "code": code,
            "category": c.get(f, "category", k, "str", choices=FLAG_CATEGORIES),
            "label": c.get(f, "label", k, "str"),
            "indicator": c.get(f, "indicator", k, "str"),
            "comparison": c.get(f, "comparison", k, "str", choices={"below", "above"}),
            "threshold": c.get(f, "threshold", k, "decimal"),
            "min_sample": c.get(f, "min_sample", k, "int", required=False, default=0, minimum=0),
        })
    return out


# --------------------------------------------------------------------------- loading
def load_file(path, *, user=None):
    """Validate then load ``path`` in the current transaction; the caller commits."""
    return load_spec(parse_file(path), user=user)


def _upsert(report, label, obj, factory, fields, *, action, what, user, **audit_kwargs):
    """Create ``factory(**fields)`` when ``obj`` is None, else update ``obj`` in place;
    audit either way, count it in ``report``; return the object."""
    if obj is None:
        obj = factory(**fields)
        db.session.add(obj)
        db.session.flush()
        report.add(label)
        audit.record(f"{action}.create", obj, summary=f"{what} : création", changes=fields,
                     user=user, **audit_kwargs)
        return obj
    changed = audit.diff(obj, fields)
    if changed:
        report.add(label, "updated")
        audit.record(f"{action}.update", obj, summary=f"{what} : modification",
                     changes=changed, user=user, **audit_kwargs)
    return obj


def load_spec(spec, *, user=None):
    report = LoadReport(warnings=contract_population_warnings(spec["lots"]))
    m = spec["market"]
    market = db.session.scalar(sa.select(Market).where(Market.reference == m["reference"]))
    values = {k: m[k] for k in ("title", "buyer", "start_date", "end_date", "max_renewals",
                                "renewal_months", "illustrative", "notice", "publication")}
    market = _upsert(report, "marché", market, lambda **f: Market(reference=m["reference"], **f),
                     values, action="market", what=f"Marché {m['reference']}", user=user)
    if market.source_sha256 != spec["sha256"]:
        market.source_sha256 = spec["sha256"]
        market.source_file = spec["source_file"]
        market.loaded_at = utcnow()

    units = {u.code: u for u in market.units}
    for u in spec["units"]:
        fields = {k: u[k] for k in u if k != "code"}
        units[u["code"]] = _upsert(
            report, "UO", units.get(u["code"]),
            lambda code=u["code"], **f: UnitOfWork(market=market, code=code, **f), fields,
            action="uo", what=f"UO {u['code']}", user=user)

    existing_lots = {lot.code: lot for lot in db.session.scalars(sa.select(Lot))}
    before = {code: _steering_terms(lot) for code, lot in existing_lots.items()}
    changed = []
    for spec_lot in spec["lots"]:
        lot = _load_lot(spec_lot, market, existing_lots.get(spec_lot["code"]), units, report, user)
        old = before.get(spec_lot["code"])
        if old is not None:
            if _steering_terms(lot) != old:
                changed.append(lot.id)

    rules = {r.code: r for r in market.flag_rules}
    for f in spec["flags"]:
        fields = {k: f[k] for k in f if k != "code"}
        _upsert(report, "règle de signalement", rules.get(f["code"]),
                lambda code=f["code"], **v: FlagRule(market=market, code=code, **v), fields,
                action="flag_rule", what=f"Règle de signalement {f['code']}", user=user)
    db.session.flush()
    # the terms read from now on see this load, the catalogue of UOs included
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, LotContract):
            forget_terms(obj)
    if changed:
        events.emit("contract.terms_changed", changed)
    return report


def _steering_terms(lot):
    """The steering terms in force today for ``lot`` (None without a contract): what its
    stored aggregates were computed with."""
    return lot_terms(lot).steering if lot.contract is not None else None


def _load_lot(spec_lot, market, lot, units, report, user):
    values = {k: spec_lot[k] for k in ("number", "region_code", "name", "population", "overseas")}
    if lot is not None and lot.market_id != market.id:
        raise ContractFileError([(f"lots.{lot.code}", "ce code de lot appartient à un autre marché")])
    lot = _upsert(report, "lot", lot, lambda **f: Lot(market=market, code=spec_lot["code"], **f),
                  values, action="lot", what=f"Lot {spec_lot['code']} ({spec_lot['name']})",
                  user=user)
    scope = {"user": user, "lot_id": lot.id}

    terms = dict(spec_lot["contract"])
    terms["reference"] = terms["reference"] or f"{market.reference}-{lot.code}"
    terms["publication"] = spec_lot["publication"]
    _upsert(report, "contrat", lot.contract, lambda **f: LotContract(lot=lot, **f), terms,
            action="contract", what=f"Contrat du lot {lot.code}", **scope)

    amendments = {a.number: a for a in lot.amendments}
    for a in spec_lot["amendments"]:
        fields = {k: a[k] for k in a if k != "number"}
        amendments[a["number"]] = _upsert(
            report, "avenant", amendments.get(a["number"]),
            lambda number=a["number"], **f: Amendment(lot=lot, number=number, **f), fields,
            action="amendment", what=f"Avenant n° {a['number']} du lot {lot.code}", **scope)
    _load_prices(spec_lot, lot, units, amendments, report, user)
    if spec_lot["operator"]:
        _load_operator(spec_lot["operator"], lot, report, scope)

    targets = {t.year: t for t in lot.targets}
    for year, t in spec_lot["targets"].items():
        _upsert(report, "objectif", targets.get(year),
                lambda year=year, **f: LotTarget(lot=lot, year=year, **f), t,
                action="target", what=f"Objectif {year} du lot {lot.code} ({t['entries']} entrées)",
                **scope)
    return lot


def _load_operator(spec, lot, report, scope):
    """Create or update the titulaire; members are matched by SIRET and never deleted here
    (a member leaving the groupement is an amendment, recorded as such)."""
    operator = _upsert(report, "titulaire", lot.operator,
                       lambda **f: Operator(lot=lot, **f), {"name": spec["name"], "kind": spec["kind"]},
                       action="operator", what=f"Titulaire du lot {lot.code}", **scope)
    members = {m.siret: m for m in operator.members}
    # demote first, so the one-mandataire index never sees two at once
    new_mandataire = next(m["siret"] for m in spec["members"] if m["role"] == "mandataire")
    for siret, member in members.items():
        if member.role == "mandataire" and siret != new_mandataire:
            _upsert(report, "membre", member, None, {"role": "cotraitant"}, action="member",
                    what=f"Membre {member.legal_name} du lot {lot.code}", **scope)
    db.session.flush()
    for m in spec["members"]:
        _upsert(report, "membre", members.get(m["siret"]),
                lambda **f: OperatorMember(operator=operator, **f), m, action="member",
                what=f"Membre {m['legal_name']} du lot {lot.code}", **scope)


def _load_prices(spec_lot, lot, units, amendments, report, user):
    session = db.session
    existing = {}
    for p in session.scalars(sa.select(Price).where(Price.lot_id == lot.id)):
        existing[(p.uo_id, p.valid_from)] = p
    latest = {}
    for (uo_id, valid_from) in existing:
        latest[uo_id] = max(latest.get(uo_id, valid_from), valid_from)
    errors = []
    for p in sorted(spec_lot["prices"], key=lambda p: p["valid_from"]):
        uo = units[p["uo"]]
        key = f"lots.{lot.code}.prices.{p['uo']}@{p['valid_from'].isoformat()}"
        line = existing.get((uo.id, p["valid_from"]))
        if line is not None:
            if line.unit_price != p["unit_price"]:
                errors.append((key, f"le prix en vigueur au {p['valid_from']:%d/%m/%Y} est déjà "
                                    f"{line.unit_price} ; un prix ne se modifie jamais : ajoutez une "
                                    f"ligne de prix à partir d'une date ultérieure"))
            continue
        if uo.id in latest and p["valid_from"] < latest[uo.id]:
            errors.append((key, f"nouvelle ligne antérieure au prix déjà en vigueur depuis le "
                                f"{latest[uo.id]:%d/%m/%Y} : elle changerait ce qui a déjà été tarifé"))
            continue
        amendment = amendments.get(p["amendment"]) if p["amendment"] else None
        line = Price(lot=lot, uo=uo, valid_from=p["valid_from"], unit_price=p["unit_price"],
                     amendment=amendment, origin=p["origin"])
        session.add(line)
        existing[(uo.id, p["valid_from"])] = line
        latest[uo.id] = p["valid_from"]
        report.add("ligne de prix")
        audit.record("price.create", None, summary=f"Prix {p['uo']} du lot {lot.code} : "
                     f"{p['unit_price']} à partir du {p['valid_from']:%d/%m/%Y}",
                     changes={"unit_price": p["unit_price"], "valid_from": p["valid_from"],
                              "origin": p["origin"], "amendment": p["amendment"]},
                     user=user, lot_id=lot.id, object_type="Price",
                     object_id=f"{lot.code}-{p['uo']}-{p['valid_from'].isoformat()}")
    if errors:
        raise ContractFileError(errors)
