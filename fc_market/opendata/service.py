"""Producing the open-data files: build, validate against the shipped schema, keep the file
as produced.  A file that does not validate is never offered."""
import hashlib
import json
from datetime import date

import sqlalchemy as sa

from fc_market.audit.service import record
from fc_market.extensions import db
from fc_market.opendata import decp, ocds, validation
from fc_market.opendata.decp import PublicationError
from fc_market.opendata.models import KIND_LABELS, OpenDataExport

BUILDERS = {
    "decp": (lambda today: decp.publish(today), validation.decp_validator, decp.summary),
    "ocds": (lambda today: ocds.release_package(today), validation.ocds_validator, ocds.summary),
}


def serialise(document):
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def produce(kind, user=None, *, today=None):
    """Build the ``kind`` file (decp or ocds), validate it, store it; returns the export.
    Raises PublicationError (French) when data is missing or the schema refuses it."""
    if kind not in BUILDERS:
        raise PublicationError([f"type de données ouvertes inconnu « {kind} »"])
    build, validator, summarise = BUILDERS[kind]
    today = today or date.today()
    document = build(today)
    problems = validation.errors(validator(), document)
    if problems:
        raise PublicationError([f"le fichier ne respecte pas son schéma — {p}" for p in problems])
    text = serialise(document)
    data = text.encode("utf-8")
    export = OpenDataExport(kind=kind, produced_by_id=getattr(user, "id", None),
                            sha256=hashlib.sha256(data).hexdigest(), size=len(data),
                            summary=summarise(document), content=text)
    db.session.add(export)
    db.session.flush()
    record("opendata.produced", export, user=user,
           summary=f"{KIND_LABELS[kind]} produites : {len(data)} octets, empreinte {export.sha256[:12]}…")
    return export


def latest():
    """{kind: last export or None}."""
    out = {}
    for kind in KIND_LABELS:
        out[kind] = db.session.scalar(sa.select(OpenDataExport).where(OpenDataExport.kind == kind)
                                      .order_by(OpenDataExport.produced_at.desc(),
                                                OpenDataExport.id.desc()).limit(1))
    return out


def history(limit=20):
    return db.session.scalars(sa.select(OpenDataExport).order_by(OpenDataExport.id.desc())
                              .limit(limit)).all()
