"""Writes that must hold whatever becomes of the request's own transaction.

A few records must survive the request's rollback: the journal row of an upload refused
because another upload of the same period won the race, a session closed by a logout.
They are written here, in a session and transaction of their own, committed at once.
(The request's unit of work may offer the same later; this is the one place to change.)
"""
from contextlib import contextmanager

from sqlalchemy.orm import Session

from fc_market.extensions import db


@contextmanager
def independent_session():
    """A database session of its own, committed when the block ends (rolled back on error)."""
    with Session(db.engine, expire_on_commit=False) as session, session.begin():
        yield session
