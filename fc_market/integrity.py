"""What is certified stays certified: statuses, frozen records and the proof of their content.

* :class:`StatusEnum` — a status is a ``StrEnum`` whose members carry their French label and
  whose allowed moves are written once, beside it (``moves()``); ``status.next(new)`` raises
  :class:`TransitionError` on any other move, and ``check_constraint()`` writes the table's
  CHECK from the members, so the database and the code list the same values.
* :func:`status_column` — the mapped column of a status: loaded back as the enum, its old
  value kept (``active_history``) so the flush guard can check the move.
* :func:`freeze` — declares, beside a model, when its rows are frozen (a certified payable
  statement, an issued invoice, a submitted report version…) and which columns that freezes
  (decision notes and the optimistic counter stay writable); :func:`freeze_children` makes
  children rows (lines, acts) follow their parent.  A ``before_flush`` guard on every session refuses, with a French message,
  an update of a frozen column, a status move not allowed, the deletion of a frozen row, and
  any insert, update or delete of a frozen parent's children (and ``do_orm_execute`` refuses
  ORM bulk updates and deletes of frozen models).  On PostgreSQL triggers refuse
  the same through raw SQL (:func:`postgresql_triggers`, installed by migration 0010 and, for
  the test schema built with ``create_all``, by :func:`install_triggers`).
* :func:`chain_hash` — the inalterability proof (Odoo's model): a document's hash is the
  SHA-256 of the previous hash of its sequence and of a canonical text of the fields that
  matter; recomputing the chain names the first altered document.
"""
from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Session, mapped_column


class TransitionError(ValueError):
    """A status move that is not allowed (French message)."""


class FrozenRecord(Exception):
    """A change refused on a certified / issued / submitted / settled record (French message)."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


# --------------------------------------------------------------------------- statuses

class classproperty:
    """A read-only attribute computed from the class (not an enum member)."""

    def __init__(self, func):
        self.func = func

    def __get__(self, instance, owner):
        return self.func(owner)


class StatusEnum(StrEnum):
    """Members are written ``NAME = "value", "Libellé"``; subclasses define ``moves()``."""

    def __new__(cls, value, label=None):
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label or value
        return member

    @classmethod
    def moves(cls) -> dict:
        """{status: statuses it may move to}; a status absent from the dict is final."""
        return {}

    @classmethod
    def labels(cls) -> dict:
        return {m.value: m.label for m in cls}

    #: {value: label}, for forms and filters
    LABELS = classproperty(lambda cls: cls.labels())

    @classmethod
    def label_of(cls, value):
        try:
            return cls(value).label
        except ValueError:
            return value

    def allowed(self) -> frozenset:
        return frozenset(type(self).moves().get(self, ()))

    def can_move_to(self, new) -> bool:
        try:
            return type(self)(new) in self.allowed()
        except ValueError:
            return False

    def next(self, new):
        """The new status if the move is allowed; :class:`TransitionError` otherwise."""
        cls = type(self)
        try:
            target = cls(new)
        except ValueError:
            raise TransitionError(f"Statut inconnu : « {new} ».") from None
        if target not in self.allowed():
            raise TransitionError(f"Passage de « {self.label} » à « {target.label} » impossible.")
        return target

    @classmethod
    def check(cls, current, new):
        """``cls(current).next(new)``, for callers holding plain values."""
        return cls(current).next(new)

    @classmethod
    def path(cls, start, target) -> tuple:
        """The shortest list of allowed moves from ``start`` to ``target`` (each step one
        ``next()`` accepts); :class:`TransitionError` when there is none."""
        start, target = cls(start), cls(target)
        routes, todo = {start: ()}, [start]
        while todo:
            current = todo.pop(0)
            if current == target:
                return routes[current]
            for following in sorted(current.allowed()):
                if following not in routes:
                    routes[following] = routes[current] + (following,)
                    todo.append(following)
        raise TransitionError(f"Aucun passage de « {start.label} » à « {target.label} ».")

    def walk_to(self, target, step=None):
        """Move along :meth:`path` to ``target``, calling ``step(status)`` at each move (a
        setter that flushes, so the flush guard sees every move)."""
        for status in type(self).path(self, target):
            step(status)
        return type(self)(target)

    @classmethod
    def sql_values(cls) -> str:
        return ", ".join(f"'{m.value}'" for m in cls)

    @classmethod
    def check_constraint(cls, column="status", name=None) -> sa.CheckConstraint:
        """``CHECK (column IN (…every member…))``, named ``name`` (default: the column)."""
        return sa.CheckConstraint(f"{column} IN ({cls.sql_values()})", name=name or column)


def status_enums():
    """Every status enum of the application (the models define them)."""
    out, todo = {}, list(StatusEnum.__subclasses__())
    while todo:
        cls = todo.pop()
        out[cls.__name__] = cls
        todo.extend(cls.__subclasses__())
    return out


def register_jinja_globals(app):
    """Templates compare statuses against the enums (``inv.status == InvoiceStatus.REJECTED``)."""
    import fc_market.models  # noqa: F401  (every model, hence every status enum)
    app.jinja_env.globals.update(status_enums())


class StatusType(sa.types.TypeDecorator):
    """A string column holding a :class:`StatusEnum`: written as its value (unknown values are
    refused before reaching the database), read back as the member."""
    impl = sa.String
    cache_ok = True

    def __init__(self, enum, length):
        self.enum = enum
        super().__init__(length)

    def process_bind_param(self, value, dialect):
        return None if value is None else self.enum(value).value

    def process_result_value(self, value, dialect):
        return None if value is None else self.enum(value)

    @property
    def python_type(self):
        return self.enum


def status_column(enum, length, *, default=None, **kwargs):
    """The mapped column of a status (its old value is kept for the flush guard)."""
    return mapped_column(StatusType(enum, length), default=default, active_history=True, **kwargs)


# --------------------------------------------------------------------------- frozen records

@dataclass
class FreezeRule:
    model: type
    #: ``when(obj, old)`` → the row is frozen; ``old(attr)`` reads the value before this flush
    when: object
    #: French designation of the row, for the messages
    describe: object
    #: columns frozen with the row (None: every column but ``writable``); status columns
    #: are never listed, they move by their transitions
    frozen: frozenset | None = None
    writable: frozenset = frozenset()

    def locks(self, key):
        if self.frozen is not None:
            return key in self.frozen
        return key not in self.writable


RULES: dict[type, FreezeRule] = {}
CHILD_RULES: dict[type, tuple] = {}


def freeze(model, *, when, describe, frozen=None, writable=()):
    """Declare when rows of ``model`` are frozen and which columns that freezes (``frozen``,
    or every column but ``writable`` and the optimistic ``version_counter``)."""
    rule = FreezeRule(model, when, describe, frozenset(frozen) if frozen is not None else None,
                      frozenset(writable) | {"version_counter"})
    RULES[model] = rule
    return rule


def freeze_children(child, parent_model, parent_of, what):
    """Rows of ``child`` cannot be added, changed or deleted while ``parent_of(session, row)``
    (a ``parent_model`` row) is frozen; ``what`` names the child in French."""
    CHILD_RULES[child] = (parent_model, parent_of, what)


def _old_value(obj, key):
    """The value of ``key`` before this flush (the current one for an unmodified attribute)."""
    hist = sa.inspect(obj).attrs[key].history
    if hist.deleted:
        return hist.deleted[0]
    if hist.unchanged:
        return hist.unchanged[0]
    if hist.added and sa.inspect(obj).persistent:
        return _UNKNOWN
    return getattr(obj, key)


_UNKNOWN = object()


def _changed_columns(obj):
    """{key: (old, new)} of the column attributes changed on a persistent object."""
    insp = sa.inspect(obj)
    out = {}
    for attr in insp.mapper.column_attrs:
        hist = insp.attrs[attr.key].history
        if not hist.added and not hist.deleted:
            continue
        old = hist.deleted[0] if hist.deleted else _UNKNOWN
        new = hist.added[0] if hist.added else None
        if old is not _UNKNOWN and _same(old, new):
            continue
        out[attr.key] = (old, new)
    return out


def _same(a, b):
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        try:
            return Decimal(str(a)) == Decimal(str(b))
        except Exception:
            return False
    return a == b


def _is_frozen(rule, obj):
    return rule.when(obj, lambda key: _old_value(obj, key))


def _check_status_moves(obj, changes):
    for key in _status_keys(type(obj)) & set(changes):
        old, new = changes[key]
        if old is _UNKNOWN or old is None or new is None:
            continue
        enum = sa.inspect(type(obj)).columns[key].type.enum
        try:
            enum(old).next(new)
        except TransitionError as exc:
            raise FrozenRecord(f"{_describe(obj)} : {exc}") from None


def _describe(obj):
    rule = RULES.get(type(obj))
    if rule is not None:
        try:
            return rule.describe(obj)
        except Exception:  # pragma: no cover - a description never hides the refusal
            pass
    return f"{type(obj).__name__} n° {getattr(obj, 'id', '?')}"


def _parent_frozen(session, obj):
    parent_model, parent_of, what = CHILD_RULES[type(obj)]
    with session.no_autoflush:
        parent = parent_of(session, obj)
    if parent is None:
        return None
    rule = RULES[parent_model]
    return (what, parent) if _is_frozen(rule, parent) else None


def guard_flush(session, flush_context, instances):
    """``before_flush``: refuse what would change a frozen record (see :func:`freeze`)."""
    for obj in list(session.dirty):
        rule = RULES.get(type(obj))
        child = type(obj) in CHILD_RULES
        if rule is None and not child and not _has_status(obj):
            continue
        changes = _changed_columns(obj)
        if not changes:
            continue
        _check_status_moves(obj, changes)
        if rule is not None and _is_frozen(rule, obj):
            locked = sorted(k for k in changes if rule.locks(k) and not _is_status(obj, k))
            if locked:
                raise FrozenRecord(f"{_describe(obj)} : document figé, modification refusée "
                                   f"({', '.join(locked)}).")
        if child:
            frozen = _parent_frozen(session, obj)
            if frozen:
                raise FrozenRecord(f"{_describe(frozen[1])} : document figé, {frozen[0]} ne se "
                                   "modifient plus.")
    for obj in list(session.deleted):
        rule = RULES.get(type(obj))
        if rule is not None and _is_frozen(rule, obj):
            raise FrozenRecord(f"{_describe(obj)} : document figé, suppression refusée.")
        if type(obj) in CHILD_RULES:
            frozen = _parent_frozen(session, obj)
            if frozen:
                raise FrozenRecord(f"{_describe(frozen[1])} : document figé, {frozen[0]} ne se "
                                   "suppriment plus.")
    for obj in list(session.new):
        if type(obj) in CHILD_RULES:
            frozen = _parent_frozen(session, obj)
            if frozen and sa.inspect(frozen[1]).persistent:
                raise FrozenRecord(f"{_describe(frozen[1])} : document figé, {frozen[0]} ne "
                                   "s'ajoutent plus.")


@functools.cache
def _status_keys(cls):
    mapper = sa.inspect(cls)
    return frozenset(attr.key for attr in mapper.column_attrs
                     if any(isinstance(c.type, StatusType) for c in attr.columns))


def _has_status(obj):
    return bool(_status_keys(type(obj)))


def _is_status(obj, key):
    return key in _status_keys(type(obj))


def guard_bulk(orm_execute_state):
    """``do_orm_execute``: an ORM bulk UPDATE or DELETE (``session.execute(update(Invoice)…)``)
    skips the flush, hence the guard: refused on the models :func:`freeze` protects (they
    change one object at a time; their children — acts of a draft — may still be bulk
    deleted, the triggers guarding them on PostgreSQL)."""
    if not (orm_execute_state.is_update or orm_execute_state.is_delete):
        return
    if not orm_execute_state.is_orm_statement:
        return
    mapper = orm_execute_state.bind_mapper
    if mapper is not None and mapper.class_ in RULES:
        raise FrozenRecord(f"Modification en masse de {mapper.class_.__tablename__} refusée : ces "
                           "documents se modifient un par un, sous le contrôle de leurs règles.")


sa.event.listen(Session, "before_flush", guard_flush)
sa.event.listen(Session, "do_orm_execute", guard_bulk)


# --------------------------------------------------------------------------- proof

def canonical(value, scale=None):
    """Text of a value for hashing: fixed decimals for amounts, ISO dates, sorted JSON."""
    if value is None:
        return ""
    if isinstance(value, Decimal) or scale is not None and isinstance(value, (int, str)):
        quantum = Decimal(1).scaleb(-(scale if scale is not None else 2))
        return str(Decimal(str(value)).quantize(quantum))
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def chain_hash(previous_hash, fields):
    """SHA-256 (hex) of the previous hash and the ``(name, text)`` pairs of a document."""
    text = "\x1e".join([previous_hash or ""] + [f"{name}={value}" for name, value in fields])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- PostgreSQL

def _row(prefix, columns, json_columns):
    return "ROW(" + ", ".join(f"{prefix}.{c}::jsonb" if c in json_columns else f"{prefix}.{c}"
                              for c in columns) + ")"


def _frozen_update_sql(table, frozen_when, columns, transitions, json_columns=(), status="status"):
    """PL/pgSQL function + trigger refusing, on ``table``, the DELETE of a frozen row, an
    UPDATE of a frozen row changing one of ``columns``, and any status move not in
    ``transitions`` (list of (old, new))."""
    moves = " OR ".join(f"(OLD.{status} = '{a}' AND NEW.{status} = '{b}')"
                        for a, b in transitions) or "FALSE"
    when = frozen_when.replace("ROW.", "OLD.")
    fn = f"fc_guard_{table}"
    return [f"""
CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF {when} THEN
      RAISE EXCEPTION 'fc_market: % % figé(e), suppression refusée', TG_TABLE_NAME, OLD.id
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN OLD;
  END IF;
  IF NEW.{status} IS DISTINCT FROM OLD.{status} AND NOT ({moves}) THEN
    RAISE EXCEPTION 'fc_market: % %, passage de % à % refusé', TG_TABLE_NAME, OLD.id,
      OLD.{status}, NEW.{status} USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  IF {when} AND {_row("NEW", columns, json_columns)}
      IS DISTINCT FROM {_row("OLD", columns, json_columns)} THEN
    RAISE EXCEPTION 'fc_market: % % figé(e), modification refusée', TG_TABLE_NAME, OLD.id
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END $$""",
            f"DROP TRIGGER IF EXISTS {fn} ON {table}",
            f"CREATE TRIGGER {fn} BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {fn}()"]


def _frozen_always_sql(table):
    """Rows of ``table`` are never updated nor deleted."""
    fn = f"fc_guard_{table}"
    return [f"""
CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'fc_market: % % figé(e), % refusé', TG_TABLE_NAME, OLD.id, TG_OP
    USING ERRCODE = 'integrity_constraint_violation';
END $$""",
            f"DROP TRIGGER IF EXISTS {fn} ON {table}",
            f"CREATE TRIGGER {fn} BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {fn}()"]


def _frozen_children_sql(table, fk, parent, parent_frozen):
    """Rows of ``table`` whose parent (``fk`` → ``parent``) is frozen cannot be inserted,
    updated or deleted.  Statement-level with transition tables: one query per statement,
    so bulk inserts of acts stay fast."""
    fn = f"fc_guard_{table}"
    check = (f"SELECT 1 FROM {{rows}} r JOIN {parent} p ON p.id = r.{fk} "
             f"WHERE {parent_frozen.replace('ROW.', 'p.')}")
    sql = [f"""
CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- a transition table exists only for its events: test TG_OP first, then read it
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    IF EXISTS ({check.format(rows='old_rows')}) THEN
      RAISE EXCEPTION 'fc_market: % refusé sur %, rattaché à un document figé', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    IF EXISTS ({check.format(rows='new_rows')}) THEN
      RAISE EXCEPTION 'fc_market: % refusé sur %, rattaché à un document figé', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
  END IF;
  RETURN NULL;
END $$"""]
    for op, ref in (("insert", "NEW TABLE AS new_rows"),
                    ("update", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
                    ("delete", "OLD TABLE AS old_rows")):
        sql += [f"DROP TRIGGER IF EXISTS {fn}_{op} ON {table}",
                f"CREATE TRIGGER {fn}_{op} AFTER {op.upper()} ON {table} REFERENCING {ref} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {fn}()"]
    return sql


def _pairs(enum):
    return [(a.value, b.value) for a, targets in enum.moves().items() for b in sorted(targets)]


def _frozen_columns(model):
    rule = RULES[model]
    table = model.__table__
    return [c.name for c in table.columns
            if c.name != "status" and rule.locks(c.name) and c.name != "version_counter"]


def _json_columns(model):
    return {c.name for c in model.__table__.columns if isinstance(c.type, sa.JSON)}


GUARDED_TABLES = ("payable_statements", "payable_statement_lines", "invoices",
                  "interest_settlements", "report_versions", "acts", "lot_figures")


def postgresql_triggers():
    """The statements creating every guard trigger (PostgreSQL), from the models' rules.
    Migration 0010 holds a frozen copy of what this returned when it was written."""
    from fc_market.billing.models import Invoice, InvoiceStatus, PayableStatement, StatementStatus
    from fc_market.reporting.models import ReportVersion, VersionStatus
    certified = f"ROW.status = '{StatementStatus.CERTIFIED.value}'"
    submitted = f"ROW.status <> '{VersionStatus.DRAFT.value}'"
    return [
        *_frozen_update_sql("payable_statements", certified, _frozen_columns(PayableStatement),
                            _pairs(StatementStatus), _json_columns(PayableStatement)),
        *_frozen_children_sql("payable_statement_lines", "statement_id", "payable_statements",
                              certified),
        *_frozen_update_sql("invoices", "TRUE", _frozen_columns(Invoice), _pairs(InvoiceStatus),
                            _json_columns(Invoice)),
        *_frozen_always_sql("interest_settlements"),
        *_frozen_update_sql("report_versions", submitted, _frozen_columns(ReportVersion),
                            _pairs(VersionStatus), _json_columns(ReportVersion)),
        *_frozen_children_sql("acts", "version_id", "report_versions", submitted),
        *_frozen_children_sql("lot_figures", "version_id", "report_versions", submitted),
    ]


def postgresql_drop_triggers():
    return [f"DROP FUNCTION IF EXISTS fc_guard_{t}() CASCADE" for t in GUARDED_TABLES]


def install_triggers(connection):
    """Create the guard triggers on a PostgreSQL connection (the test schema, built with
    ``create_all``; a real database gets them from migration 0010)."""
    if connection.dialect.name != "postgresql":
        return
    for statement in postgresql_triggers():
        connection.execute(sa.text(statement))


def _after_schema_created(metadata, connection, tables=None, **kwargs):
    names = {t.name for t in tables or ()}
    if set(GUARDED_TABLES) <= names:  # a whole schema (create_all), not one table
        install_triggers(connection)


def _listen_metadata():
    from fc_market.extensions import db
    sa.event.listen(db.metadata, "after_create", _after_schema_created)


_listen_metadata()
