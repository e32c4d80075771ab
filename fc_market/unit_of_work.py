"""One unit of work per request, CLI command and scheduled job.

Views, services and commands never call ``commit()`` or ``rollback()``: they change objects
(and ``flush()`` when they need ids or want a constraint checked now), and the unit around
them decides once, at the end.  This module is the only place that commits or rolls back
(``tests/test_unit_of_work.py`` scans the package for any other).

- **A web request** (:func:`init_app`) commits after the view when its answer is a success.
  It rolls back when the view raised, when the answer's status is 400 or more (error pages,
  a 409 conflict, a 422 "submission refused"), when the view flashed a message of category
  ``"error"`` (a refused action told to the user must have changed nothing) and when the
  view called :func:`doom` (a form re-rendered with its errors, answered 200).  If the final
  commit itself fails (a concurrent change caught by the database), nothing is kept and the
  answer is the French conflict page, 409, instead of the success the view had prepared.
- **A CLI command** of our groups (:func:`wrap_cli`) is one unit: it commits when the command
  returns (or exits with status 0) and rolls back on any exception or non-zero exit
  (``fail()``/``sys.exit(1)``).  Commands that manage their own units (the scheduler, which
  runs each job in its own) are marked with :func:`manages_units`.
- **A scheduled job** runs in ``with unit():`` (see ``scheduler/registry.run_once``).
- **Writes outside the unit**, the only ones: a failure that must leave a trace (a failed
  login counted against the account and the address) writes it inside
  ``with failure_trace():`` (the unit's work is rolled back first, the block's writes are
  committed on their own, the rest of the unit stays doomed); a write that must hold
  whatever the unit does (a logout closing its session, the journal line of a refused
  upload, after ``doom()``) goes through ``with independent_session() as other:``.
- **Files** written by :mod:`fc_market.storage` are staged and only moved into place when the
  unit commits; a rollback deletes them (:func:`stage_file`), so no file is orphaned.
"""
import logging
import os
from contextlib import contextmanager
from functools import wraps

import click
from flask import message_flashed, session as http_session
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from fc_market.extensions import db

log = logging.getLogger(__name__)

#: Keys of ``Session.info``
_DEPTH, _DOOMED, _FILES = "uow.depth", "uow.doomed", "uow.files"

#: Flash categories that tell the user their action failed: the unit rolls back
FAILURE_FLASH_CATEGORIES = frozenset({"error"})

#: Errors of the final commit that mean "someone else changed this meanwhile"
COMMIT_CONFLICTS = (IntegrityError, StaleDataError)


# ------------------------------------------------------------------ the unit itself

def doom(reason=None):
    """The current unit failed: roll back what it did now, and whatever it does next at the end.

    For a view that answers a failure with neither an error status nor an error flash (a form
    re-rendered with its problems, status 200).  Flashing an ``"error"`` message dooms the unit
    by itself.
    """
    session = db.session()
    if reason:
        log.debug("unit of work doomed: %s", reason)
    session.rollback()
    session.info[_DOOMED] = True


def _finish(session, commit):
    """End the unit: commit (unless doomed) or roll back; returns True when committed."""
    doomed = session.info.pop(_DOOMED, False)
    if commit and not doomed:
        session.commit()
        return True
    session.rollback()
    return False


@contextmanager
def unit():
    """``with unit():`` runs its block as one unit of work: commit at the end, rollback on any
    exception (re-raised) or when doomed.  Nested in another unit it simply joins it."""
    session = db.session()
    depth = session.info.get(_DEPTH, 0)
    if depth:
        yield session
        return
    session.info[_DEPTH] = 1
    session.info.pop(_DOOMED, None)
    try:
        yield session
    except SystemExit as exc:  # a command's exit: status 0 is a success
        _finish(session, commit=exc.code in (0, None))
        raise
    except click.exceptions.Exit as exc:
        _finish(session, commit=exc.exit_code == 0)
        raise
    except BaseException:
        session.info.pop(_DOOMED, None)
        session.rollback()
        raise
    else:
        _finish(session, commit=True)
    finally:
        session.info.pop(_DEPTH, None)


@contextmanager
def failure_trace():
    """Keep a trace of a failure although the unit fails.

    ``with failure_trace(): db.session.add(journal_row)``: the unit's work so far is rolled
    back on entry (nothing of the failed action is kept, and on SQLite no lock is held), the
    block's writes are committed at its end in their own short transaction, and the unit stays
    doomed, so anything it does afterwards is rolled back.  Objects the block added stay usable
    (their ids are set).
    """
    session = db.session()
    session.rollback()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.info[_DOOMED] = True


@contextmanager
def independent_session():
    """A session and transaction of their own, committed when the block ends (rolled back on
    error), whatever becomes of the unit: a login session closed by a logout, the journal
    line of an upload refused because another won the race.  Never while the unit itself
    holds SQLite's write lock (roll it back first: :func:`doom`, :func:`failure_trace`)."""
    with Session(db.engine, expire_on_commit=False) as session, session.begin():
        yield session


# ------------------------------------------------------------------ web requests

def init_app(app):
    """One unit per request.  Registered first, so it runs after every other
    ``after_request`` hook (Flask runs them in reverse order) and commits their writes too."""

    @app.before_request
    def _begin_unit():
        session = db.session()
        session.info[_DEPTH] = 1
        session.info.pop(_DOOMED, None)

    @app.after_request
    def _end_unit(response):
        session = db.session()
        if not session.is_active and response.status_code < 400:
            # A flush failed (a concurrent change) and the view answered as if all was well.
            session.info.pop(_DEPTH, None)
            session.rollback()
            return _conflict_response(response)
        try:
            committed = _finish(session, commit=response.status_code < 400)
        except COMMIT_CONFLICTS as exc:
            session.rollback()
            log.warning("request unit not committed (concurrent change): %s", exc)
            return _conflict_response(response)
        finally:
            session.info.pop(_DEPTH, None)
        if not committed and response.status_code < 400:
            log.debug("request unit rolled back (failure flashed or doomed)")
        return response

    @app.teardown_request
    def _abandon_unit(exc):
        # After an error inside another hook, or a request that never reached after_request.
        session = db.session()
        if session.info.pop(_DEPTH, None):
            session.info.pop(_DOOMED, None)
            session.rollback()

    message_flashed.connect(_doom_on_failure_flash, app)
    app.context_processor(_usable_for_rendering)  # before the other context processors


def _usable_for_rendering():
    """A page rendered after a failed flush (a conflict turned into a French message) may
    read the database: the unit, already lost, is rolled back first."""
    if not db.session().is_active:
        doom("rendering after a failed flush")
    return {}


def _doom_on_failure_flash(sender, message, category, **extra):
    if category in FAILURE_FLASH_CATEGORIES:
        doom(f"flashed: {message}")


def _conflict_response(original):
    from fc_market.web import render_error
    http_session.pop("_flashes", None)  # the success announced by the view did not happen
    body, code = render_error(409)
    response = original.__class__(body, status=code, mimetype="text/html")
    for name, value in original.headers.items():
        if name.lower() not in ("content-type", "content-length", "content-disposition",
                                "location", "etag", "last-modified"):
            response.headers.add(name, value)
    return response


# ------------------------------------------------------------------ CLI commands

def manages_units(command):
    """Mark a click command that opens its own units (it is not wrapped in one)."""
    command.manages_units = True
    return command


def wrap_cli(group):
    """Wrap every command of ``group`` (recursively) in one unit of work."""
    from flask.cli import with_appcontext
    for command in list(group.commands.values()):
        if isinstance(command, click.Group):
            wrap_cli(command)
        elif not getattr(command, "manages_units", False) and not getattr(command, "_in_unit", False):
            command.callback = with_appcontext(_in_unit(command.callback))
            command._in_unit = True
    return group


def _in_unit(callback):
    @wraps(callback)
    def run(*args, **kwargs):
        with unit():
            return callback(*args, **kwargs)
    return run


# ------------------------------------------------------------------ files

def stage_file(session, staged_path, final_path):
    """Move ``staged_path`` to ``final_path`` when the session's unit commits; delete it when
    it rolls back (or the session closes without committing)."""
    if not session.in_transaction():
        session.begin()
    session.info.setdefault(_FILES, []).append((staged_path, final_path))


def staged_path_of(session, final_path):
    """The staged copy of ``final_path`` while its unit has not committed, else None."""
    for staged, final in session.info.get(_FILES, ()):
        if final == final_path:
            return staged
    return None


@event.listens_for(Session, "after_commit")
def _promote_files(session):
    for staged, final in session.info.pop(_FILES, ()):
        os.makedirs(os.path.dirname(final), exist_ok=True)
        os.replace(staged, final)


@event.listens_for(Session, "after_transaction_end")
def _discard_files(session, transaction):
    if transaction.parent is not None or transaction.nested:
        return
    for staged, _ in session.info.pop(_FILES, ()):
        try:
            os.remove(staged)
        except FileNotFoundError:
            pass
