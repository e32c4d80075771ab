"""The reporting data dictionary: sheets, columns, code lists and the pseudonymised id.

Shared by the Excel template, the import, the web form and the exports, so a code means
the same thing everywhere.  Contract rules (windows, proofs, deadlines) are *not* here:
they come from the lot's contract and the UO catalogue.
"""
import hashlib
import hmac
import re
import unicodedata

ACTS_SHEET = "Actes"
FIGURES_SHEET = "Indicateurs du lot"
INSTRUCTIONS_SHEET = "Instructions"
LISTS_SHEET = "Listes"

#: Acts sheet columns: (field, header, required).  Headers are matched without accents or case.
ACT_COLUMNS = (
    ("beneficiary_id", "Identifiant bénéficiaire", True),
    ("uo_code", "Code UO", True),
    ("act_date", "Date de l'acte", True),
    ("mode", "Modalité", True),
    ("site_code", "Site (présentiel)", False),
    ("proof_ref", "Référence du justificatif", False),
    ("sex", "Sexe", False),
    ("age_band", "Tranche d'âge", False),
    ("csp", "Catégorie socio-professionnelle", False),
    ("employment_status", "Situation d'emploi", False),
    ("sector", "Secteur d'activité (NAF)", False),
)
ACT_HEADERS = {field: header for field, header, _ in ACT_COLUMNS}
PROFILE_FIELDS = ("sex", "age_band", "csp", "employment_status", "sector")

#: Lot figures sheet: (field, label, kind) in rows 4.. of column B; rows 1-2 hold lot and period
FIGURE_ROWS = (
    ("l1_respondents", "Enquête de satisfaction niveau 1 : répondants", "int"),
    ("l1_satisfied", "Enquête de satisfaction niveau 1 : satisfaits ou très satisfaits", "int"),
    ("l2_respondents", "Enquête de satisfaction niveau 2 : répondants", "int"),
    ("l2_satisfied", "Enquête de satisfaction niveau 2 : satisfaits ou très satisfaits", "int"),
    ("usefulness_respondents", "Enquête à six mois : répondants", "int"),
    ("usefulness_useful", "Enquête à six mois : jugent le CEP utile ou très utile", "int"),
    ("complaints", "Réclamations reçues dans le mois", "int"),
    ("uo4_actions", "Actions UO4 réalisées dans le mois (qualité, communication, partenariats…)", "text"),
)
FIGURE_FIRST_ROW = 4
FIGURE_PAIRS = (("l1_satisfied", "l1_respondents"), ("l2_satisfied", "l2_respondents"),
                ("usefulness_useful", "usefulness_respondents"))

MODES = {"presentiel": "Présentiel", "telephone": "Téléphone", "visio": "Visioconférence"}
SEXES = {"F": "Femme", "M": "Homme"}
AGE_BANDS = {"<26": "Moins de 26 ans", "26-44": "26 à 44 ans", "45-54": "45 à 54 ans",
             "55+": "55 ans et plus"}
#: PCS 2020, level 1, for people in work
CSP = {"1": "Agriculteurs exploitants", "2": "Artisans, commerçants, chefs d'entreprise",
       "3": "Cadres et professions intellectuelles supérieures", "4": "Professions intermédiaires",
       "5": "Employés", "6": "Ouvriers"}
EMPLOYMENT = {"cdi": "Salarié en CDI", "cdd": "Salarié en CDD", "interim": "Intérimaire",
              "alternance": "Alternant", "contrat_aide": "Contrat aidé",
              "independant": "Travailleur indépendant", "autre": "Autre actif occupé"}
#: NAF rév. 2, sections
SECTORS = {
    "A": "Agriculture, sylviculture et pêche", "B": "Industries extractives",
    "C": "Industrie manufacturière", "D": "Électricité, gaz, vapeur",
    "E": "Eau, assainissement, déchets", "F": "Construction",
    "G": "Commerce, réparation d'automobiles", "H": "Transports et entreposage",
    "I": "Hébergement et restauration", "J": "Information et communication",
    "K": "Activités financières et d'assurance", "L": "Activités immobilières",
    "M": "Activités spécialisées, scientifiques et techniques",
    "N": "Services administratifs et de soutien", "O": "Administration publique (hors fonctionnaires)",
    "P": "Enseignement", "Q": "Santé humaine et action sociale",
    "R": "Arts, spectacles et activités récréatives", "S": "Autres activités de services",
    "T": "Activités des ménages employeurs", "U": "Activités extra-territoriales",
}
CODE_LISTS = {"mode": MODES, "sex": SEXES, "age_band": AGE_BANDS, "csp": CSP,
              "employment_status": EMPLOYMENT, "sector": SECTORS}
LIST_LABELS = {"mode": "Modalités", "sex": "Sexe", "age_band": "Tranches d'âge",
               "csp": "Catégories socio-professionnelles", "employment_status": "Situations d'emploi",
               "sector": "Secteurs (NAF)"}
SEPARATOR = " — "


def choice(code, label):
    """How a code appears in the template's drop-down lists: ``5 — Employés``."""
    return f"{code}{SEPARATOR}{label}"


def fold(text):
    """Lower case, no accents, single spaces: how headers and labels are compared."""
    text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode("ascii")
    return " ".join(text.lower().replace("’", "'").split())


def _lookup(codes):
    table = {}
    for code, label in codes.items():
        for key in (code, label, choice(code, label)):
            table[fold(key)] = code
    return table


LOOKUPS = {field: _lookup(codes) for field, codes in CODE_LISTS.items()}


#: (field, cell value) -> code already resolved: a file repeats a handful of values on every
#: row, so :func:`code_of` folds each distinct one once.  Bounded (an odd file cannot grow it).
_CODE_CACHE = {}
_CODE_CACHE_MAX = 4096
_MISSING = object()


def code_of(field, value):
    """The code for a cell value (code, label or ``code — label``); None when unknown."""
    key = (field, value.__class__, value)
    found = _CODE_CACHE.get(key, _MISSING)
    if found is _MISSING:
        found = _code_of(field, value)
        if len(_CODE_CACHE) < _CODE_CACHE_MAX:
            _CODE_CACHE[key] = found
    return found


def _code_of(field, value):
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    key = fold(value)
    found = LOOKUPS[field].get(key)
    if found is None and SEPARATOR.strip() in str(value):
        found = LOOKUPS[field].get(fold(str(value).split(SEPARATOR.strip())[0]))
    return found


def leading_code(value):
    """``S001 — Point CEP Paris`` → ``S001`` (site drop-downs show the name after the code)."""
    text = str(value).strip()
    for sep in (SEPARATOR, " - "):
        if sep in text:
            return text.split(sep, 1)[0].strip()
    return text


# -- pseudonymised beneficiary identifiers ---------------------------------------------------

#: The market's shared method, written in the template's instructions sheet
ID_METHOD = (
    "L'identifiant bénéficiaire est l'empreinte HMAC-SHA256, calculée avec la clé de "
    "pseudonymisation du marché (diffusée par France compétences aux seuls titulaires, jamais "
    "transmise à l'application), du numéro d'inscription au répertoire (NIR) du bénéficiaire "
    "sur 13 caractères, sans la clé de contrôle, en majuscules et sans espaces. Il s'écrit en "
    "64 caractères hexadécimaux (chiffres 0-9 et lettres a-f). Tous les opérateurs utilisent "
    "la même méthode : une même personne a le même identifiant dans tous les lots et tous les "
    "mois. N'inscrivez jamais de nom, d'adresse électronique, de téléphone ni de NIR en clair.")
ID_RE = re.compile(r"^[0-9a-f]{64}$")
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+")
_PHONE_RE = re.compile(r"^(?:\+|00)?[\d\s.\-()]{8,20}$")
_NAME_RE = re.compile(r"^[^\W\d_]+(?:[\s'\-][^\W\d_]+)*$")


#: Personal data inside a free text (proof reference, UO4 actions, any text cell): an e-mail
#: address, a French or international phone number, a NIR, a civility followed by a name
_EMAIL_IN = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
_PHONE_IN = re.compile(r"(?<![\w])(?:(?:\+|00)\s?\d{2,3}[\s.\-]?(?:\(0\))?\s?[1-9]|0[1-9])"
                       r"(?:[\s.\-]?\d{2}){4}(?!\d)")
_NIR_IN = re.compile(r"(?<!\d)[12][\s.]?\d{2}[\s.]?(?:0[1-9]|1[0-2]|[2-9]\d)[\s.]?"
                     r"(?:\d{2}|2[AB])[\s.]?\d{3}[\s.]?\d{3}(?:[\s.]?\d{2})?(?!\d)", re.I)
_LONG_NUMBER = re.compile(r"(?<!\d)\d{9,15}(?!\d)")
_CIVILITY_NAME = re.compile(r"(?<![\w])(?:M\.|MM\.|Mme|Mmes|Mlle|Melle|Monsieur|Madame|Mademoiselle)"
                            r"\s+[A-ZÀ-Ý][\w'\-]+")
_NINE_DIGITS = re.compile(r"\d(?:\D*\d){8}")
_SPACE = re.compile(r"\s")
_FULL_NAME = re.compile(r"^[A-ZÀ-Ý][a-zà-ÿ'\-]+(?:\s+[A-ZÀ-Ý][A-Za-zà-ÿ'\-]+){1,2}$")


#: (type, value, reference) -> reason already found by :func:`personal_data_in`: a file
#: repeats the same few texts (codes, labels) on every row.  Bounded like ``_CODE_CACHE``.
_PERSONAL_CACHE = {}


def personal_data_in(value, *, reference=False):
    """See :func:`_personal_data_in`; remembers the answer for each distinct cell value."""
    try:
        key = (value.__class__, value, reference)
        found = _PERSONAL_CACHE.get(key, _MISSING)
    except TypeError:  # unhashable: not a cell value, no cache
        return _personal_data_in(value, reference=reference)
    if found is _MISSING:
        found = _personal_data_in(value, reference=reference)
        if len(_PERSONAL_CACHE) < _CODE_CACHE_MAX:
            _PERSONAL_CACHE[key] = found
    return found


#: What :func:`_personal_data_in`'s pre-filter looks for in a reference, in one search: an
#: "@", an "M", a white space or nine digits
_REFERENCE_SUSPECT = re.compile(r"[@M\s]|\d(?:\D*\d){8}")


def plain_reference(text):
    """True when ``personal_data_in(text, reference=True)`` is None for this ``str`` by
    :func:`_personal_data_in`'s own pre-filter alone (one search); False: ask it."""
    text = text.strip()
    return not text or _REFERENCE_SUSPECT.search(text) is None


def _personal_data_in(value, *, reference=False):
    """The French reason why ``value`` (a free-text cell) looks like personal data, or None.

    Looks for an e-mail address, a phone number, a NIR (social-security number) or a long
    run of digits, and a civility followed by a name; with ``reference`` (a field that holds
    a reference such as the proof's), also a value made only of two or three capitalised
    words, the shape of a first name and a surname ("Jeanne Martin").  The reason never
    repeats the value.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        value = f"{int(value)}" if float(value).is_integer() else str(value)
    text = str(value).strip()
    if not text:
        return None
    if "@" not in text and "M" not in text and not _NINE_DIGITS.search(text) \
            and not (reference and _SPACE.search(text)):
        # what every pattern below needs: an e-mail its "@", a NIR, a phone number or a
        # long number at least nine digits, a civility its "M", a full name a space
        return None
    if _EMAIL_IN.search(text):
        return ("contient une adresse électronique : aucune donnée personnelle n'est admise "
                "dans le reporting.")
    if _NIR_IN.search(text):
        return ("contient un numéro qui ressemble à un numéro de sécurité sociale : aucune "
                "donnée personnelle n'est admise dans le reporting.")
    if _PHONE_IN.search(text) or _LONG_NUMBER.search(text):
        return ("contient un numéro qui ressemble à un numéro de téléphone : aucune donnée "
                "personnelle n'est admise dans le reporting.")
    if _CIVILITY_NAME.search(text):
        return ("contient une civilité suivie d'un nom : aucune donnée personnelle n'est admise "
                "dans le reporting.")
    if reference and _FULL_NAME.match(text):
        return ("ressemble à un prénom et un nom plutôt qu'à une référence de justificatif : "
                "aucune donnée personnelle n'est admise dans le reporting.")
    return None


def pseudonymise(nir, key):
    """The shared method: HMAC-SHA256(key, NIR on 13 characters), as 64 lower-case hex."""
    nir = "".join(str(nir).split()).upper()[:13]
    if isinstance(key, str):
        key = key.encode("utf-8")
    return hmac.new(key, nir.encode("ascii"), hashlib.sha256).hexdigest()


def check_beneficiary_id(value):
    """``(normalised id, None)`` or ``(None, (code, French message))``.

    The message never repeats the value: when it looks like personal data it must not
    travel further (logs, import journal, screens).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, ("id_missing", "Identifiant bénéficiaire manquant.")
    if isinstance(value, (int, float)):
        return None, ("id_personal", "L'identifiant bénéficiaire est un nombre : il ressemble à "
                      "un numéro de téléphone ou de sécurité sociale. Seul l'identifiant "
                      "pseudonymisé (64 caractères hexadécimaux) est admis.")
    text = str(value).strip()
    lowered = text.lower()
    if ID_RE.match(lowered):
        return lowered, None
    if _EMAIL_RE.search(text):
        return None, ("id_personal", "L'identifiant bénéficiaire ressemble à une adresse "
                      "électronique : aucune donnée personnelle n'est admise, seul "
                      "l'identifiant pseudonymisé (64 caractères hexadécimaux).")
    if _PHONE_RE.match(text) and sum(ch.isdigit() for ch in text) >= 9:
        return None, ("id_personal", "L'identifiant bénéficiaire ressemble à un numéro de "
                      "téléphone ou de sécurité sociale : aucune donnée personnelle n'est "
                      "admise, seul l'identifiant pseudonymisé (64 caractères hexadécimaux).")
    if _NAME_RE.match(text) and len(text) < 64:
        return None, ("id_personal", "L'identifiant bénéficiaire ressemble à un nom : aucune "
                      "donnée personnelle n'est admise, seul l'identifiant pseudonymisé "
                      "(64 caractères hexadécimaux).")
    return None, ("id_malformed", f"Identifiant bénéficiaire mal formé ({len(text)} caractères) : "
                  "64 caractères hexadécimaux attendus (chiffres 0-9 et lettres a-f).")
