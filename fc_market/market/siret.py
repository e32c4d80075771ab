"""SIRET numbers: 14 digits (SIREN + NIC) with a Luhn check digit."""


def luhn_ok(digits):
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


#: La Poste's establishments share one SIREN and use another rule (sum of digits % 5)
LA_POSTE_SIREN = "356000000"


def is_valid_siret(value):
    value = str(value or "")
    if len(value) != 14 or not value.isdigit():
        return False
    if value.startswith(LA_POSTE_SIREN):
        return sum(int(c) for c in value) % 5 == 0
    return luhn_ok(value[:9]) and luhn_ok(value)


def _complete(prefix):
    """Append the digit that makes ``prefix`` + digit pass Luhn."""
    for d in "0123456789":
        if luhn_ok(prefix + d):
            return prefix + d
    raise AssertionError("unreachable")


def make_siret(rng):
    """A valid, random SIRET (for synthetic data only)."""
    siren = _complete("".join(str(rng.randrange(10)) for _ in range(8)))
    return _complete(siren + "".join(str(rng.randrange(10)) for _ in range(4)))
