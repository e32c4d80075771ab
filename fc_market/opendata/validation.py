"""Offline validation of the exports against the schemas shipped in ``schemas/``."""
import json
from functools import lru_cache
from pathlib import Path

from jsonschema import Draft4Validator, Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SCHEMAS = Path(__file__).resolve().parent / "schemas"
#: The URL by which the OCDS package schema refers to the release schema
OCDS_RELEASE_URL = "https://standard.open-contracting.org/schema/1__1__5/release-schema.json"


def _load(name):
    return json.loads((SCHEMAS / name).read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def decp_validator():
    return Draft7Validator(_load("decp-v2.0.3.schema.json"))


@lru_cache(maxsize=None)
def ocds_validator():
    release = Resource.from_contents(_load("ocds-release-schema.json"), default_specification=DRAFT4)
    registry = Registry().with_resource(OCDS_RELEASE_URL, release)
    return Draft4Validator(_load("ocds-release-package-schema.json"), registry=registry)


def errors(validator, document, limit=20):
    """French-readable list of the schema errors: where, then what."""
    out = []
    for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in error.absolute_path) or "(racine)"
        out.append(f"{where} : {error.message}")
        if len(out) >= limit:
            break
    return out
