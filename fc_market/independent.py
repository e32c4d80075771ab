"""Writes that must hold whatever becomes of the request's own transaction: now
:func:`fc_market.unit_of_work.independent_session` (kept importable from here)."""
from fc_market.unit_of_work import independent_session  # noqa: F401
