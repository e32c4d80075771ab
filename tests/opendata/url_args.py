"""URL arguments of the open-data routes for tests/test_access.py (FC only, not lot-scoped)."""
IDS = {}


def prepare(users):
    from fc_market.extensions import db
    from fc_market.opendata.models import OpenDataExport
    export = OpenDataExport(kind="decp", sha256="0" * 64, size=2, summary={}, content="{}")
    db.session.add(export)
    db.session.flush()
    IDS["export_id"] = export.id


ARGUMENTS = {
    "kind": lambda users, code: "decp",
    "export_id": lambda users, code: IDS["export_id"],
}
LOT_SCOPED = set()
