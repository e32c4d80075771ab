"""Password policy, after the ANSSI's *Recommandations relatives à l'authentification
multifacteur et aux mots de passe* (2021): a long password rather than composition tricks,
and no password that attackers try first.

- at least :data:`MIN_PASSWORD_LENGTH` characters, counted once leading and trailing white
  space is dropped and inner runs of white space count as one ("Ab1" followed by nine spaces
  is three characters, not twelve);
- at least three kinds of characters (lower case, upper case, digits, symbols);
- not in the list of common passwords shipped in ``data/common-passwords.txt`` (see
  ``data/README.md`` for its source and licence), compared without case, nor such a password
  with only digits or symbols around it ("Password1234", "Soleil2026!").

Every place that sets a password goes through :func:`check` (``User.set_password``).
"""
import functools
import string
import unicodedata
from pathlib import Path

MIN_PASSWORD_LENGTH = 12
COMMON_PASSWORDS_FILE = Path(__file__).with_name("data") / "common-passwords.txt"
#: What may surround a common password without making it any stronger
PADDING = string.digits + string.punctuation + " "


class WeakPassword(ValueError):
    """A French message naming what the password lacks."""


@functools.cache
def common_passwords():
    with open(COMMON_PASSWORDS_FILE, encoding="utf-8") as fh:
        return frozenset(line.rstrip("\n") for line in fh if line.strip())


def effective(password):
    """The password as its strength is judged: NFC, outer white space dropped, inner runs
    of white space counted as one."""
    return " ".join(unicodedata.normalize("NFC", password or "").split())


def is_common(password):
    text = effective(password).casefold()
    common = common_passwords()
    core = text.strip(PADDING)
    return text in common or (len(core) >= 4 and core in common)


def problems(password):
    """French messages for a password that does not meet the policy (empty list: fine)."""
    text = effective(password)
    out = []
    if len(text) < MIN_PASSWORD_LENGTH:
        out.append(f"au moins {MIN_PASSWORD_LENGTH} caractères (espaces de début et de fin non "
                   "comptés, espaces consécutives comptées pour une)")
    classes = sum(any(test(ch) for ch in text)
                  for test in (str.islower, str.isupper, str.isdigit,
                               lambda ch: not ch.isalnum() and not ch.isspace()))
    if classes < 3:
        out.append("au moins trois types de caractères parmi minuscules, majuscules, chiffres et symboles")
    if text and is_common(text):
        out.append("pas un mot de passe courant (celui-ci figure, éventuellement entouré de chiffres "
                   "ou de symboles, dans la liste des mots de passe les plus utilisés)")
    return out


def check(password):
    """Raise :class:`WeakPassword` unless ``password`` meets the policy."""
    found = problems(password)
    if found:
        raise WeakPassword("Mot de passe trop faible : " + ", ".join(found) + ".")
