"""Small database helpers that keep queries fast on both SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from django.db import OperationalError, connection
from django.db.models import Lookup, Q, QuerySet
from django.db.models.base import ModelState

from rapport.core.errors import invalid


class AnyOf(Lookup):  # type: ignore[type-arg]
    """``field__any_of=values``: the column equals one of many values, passed as a single parameter.

    ``__in`` binds and converts every value on its own, which for the thousands of keys an import batch
    looks up costs more than the query; this hands the whole list over at once (a JSON array read with
    ``json_each`` on SQLite, an array with ``= ANY`` on PostgreSQL), and the column's index still serves
    it. Values must already be what the column holds: strings for text columns, integers for ids.
    """

    lookup_name = "any_of"
    prepare_rhs = False

    def get_prep_lookup(self) -> list[Any]:
        return list(self.rhs)

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, params = self.process_lhs(compiler, connection)
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", [*params, self.rhs]
        # The column expression comes from the compiler and the values are one bound parameter.
        return f"{lhs} IN (SELECT value FROM json_each(%s))", [*params, json.dumps(self.rhs)]  # noqa: S608


def prefix_q(field: str, prefix: str) -> Q:
    """Match values starting with ``prefix`` in a way the column's index can serve.

    PostgreSQL uses ``LIKE 'p%'`` with a ``varchar_pattern_ops`` index. SQLite's LIKE is case-blind
    and skips ordinary indexes, so there a half-open range ``[p, p')`` is used, where ``p'`` is ``p``
    with its last character incremented: in SQLite's binary order that range is exactly the prefix.
    """
    if not prefix:
        return Q()
    if connection.vendor == "postgresql":
        return Q(**{f"{field}__startswith": prefix})
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return Q(**{f"{field}__gte": prefix, f"{field}__lt": upper})


def encode_cursor(values: Sequence[Any]) -> str:
    """Opaque, URL-safe cursor for keyset pagination."""
    raw = json.dumps(list(values), separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, length: int) -> list[Any]:
    """Read a cursor made by ``encode_cursor``; a tampered or stale one is a 422, not a 500."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError):
        raise invalid("cursor", "is not a cursor this API gave out.") from None
    if not isinstance(values, list) or len(values) != length:
        raise invalid("cursor", "does not fit this ordering; start again without a cursor.")
    return values


@dataclass(frozen=True)
class Branch:
    """One alternative condition of a search; ``in_order`` when its index also yields the list order."""

    condition: Q
    in_order: bool = False


def keyset_page(
    queryset: QuerySet[Any],
    order: Sequence[str],
    cursor: str | None,
    limit: int,
    *,
    branches: Sequence[Branch] = (),
) -> tuple[list[Any], str | None]:
    """Return one page of ``queryset`` ordered by ``order`` (ending with a unique field) after ``cursor``.

    ``order`` holds field names, each optionally prefixed with ``-``; all must share one direction so
    that a single index serves the page. The next cursor encodes the last row's values.

    ``branches`` are alternative conditions (a search's "first name starts with" OR "last name starts
    with" OR ...). A single query with such an OR lets the planner walk the ordering index until enough
    rows match, which at a million rows can mean reading half the table. Instead each branch finds its
    own first page through its own index, sorted by an expression so the ordering index can't be chosen
    (unless the branch's own index is the ordering one, ``in_order``), and one last query orders the few
    candidates: the union's first page is among the branches' first pages.
    """
    descending = order[0].startswith("-")
    fields = [f.lstrip("-") for f in order]
    if cursor:
        values = decode_cursor(cursor, len(fields))
        _check_cursor_values(queryset.model, fields, values)
        queryset = queryset.filter(_after(fields, values, descending))
    if len(branches) > 1:
        unindexed = [_unindexed(name, descending) for name in fields]
        candidates: set[Any] = set()
        for branch in branches:
            ordering = order if branch.in_order else unindexed
            found = queryset.filter(branch.condition).order_by(*ordering).values_list("pk", flat=True)[: limit + 1]
            candidates.update(found)
        rows = list(queryset.filter(pk__in=candidates).order_by(*unindexed)[: limit + 1])
    else:
        if branches:
            queryset = queryset.filter(branches[0].condition)
        rows = list(queryset.order_by(*order)[: limit + 1])
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor([_value(last, name) for name in fields])
    return rows, next_cursor


def _after(fields: Sequence[str], values: Sequence[Any], descending: bool) -> Q:
    """Rows after the cursor's values in the ordering: (a, b, id) > (va, vb, vid), spelled out."""
    op = "lt" if descending else "gt"
    condition = Q()
    for i, name in enumerate(fields):
        step = Q(**{f"{name}__{op}": values[i]})
        for j in range(i):
            step &= Q(**{fields[j]: values[j]})
        condition |= step
    return condition


def _unindexed(name: str, descending: bool) -> Any:
    """Order by a column through an expression no index matches (text ``|| ''``, numbers ``+ 0``)."""
    from django.db.models import CharField, F, Func, Value

    if name == "id" or name.endswith("_id"):
        expression: Any = F(name) + 0
    elif name.endswith("_at"):
        return F(name).desc() if descending else F(name).asc()
    else:
        expression = Func(F(name), Value(""), arg_joiner=" || ", template="(%(expressions)s)", output_field=CharField())
    return expression.desc() if descending else expression.asc()


MAX_ID = 2**63 - 1


def _check_cursor_values(model: Any, fields: Sequence[str], values: Sequence[Any]) -> None:
    """A cursor must hold values of the ordering columns' types, or the page query itself would fail."""
    from django.utils.dateparse import parse_datetime

    for name, value in zip(fields, values, strict=True):
        field = model._meta.get_field(name.split("__")[0])
        kind = field.get_internal_type()
        if kind in ("AutoField", "BigAutoField", "IntegerField", "BigIntegerField", "PositiveIntegerField"):
            ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_ID
        elif kind == "DateTimeField":
            try:
                ok = isinstance(value, str) and parse_datetime(value) is not None
            except ValueError:
                ok = False
        else:
            ok = isinstance(value, str) and "\x00" not in value
        if not ok:
            raise invalid("cursor", "is not a cursor this list gave out; start again from the first page.")


def _value(row: Any, name: str) -> Any:
    value = row
    for part in name.split("__"):
        value = getattr(value, part)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _converter(field: Any) -> Any:
    """A function turning a Python value for ``field`` into what the database driver expects."""
    ops = connection.ops
    kind = field.get_internal_type()
    if kind == "JSONField":
        encoder = field.encoder
        # Imports write the same small objects (provenance, empty custom fields) on every row: encode each
        # distinct flat object once.
        # The key holds the values' types too, since 1, 1.0 and True are equal but encode differently.
        encoded: dict[tuple[Any, ...], Any] = {}

        def convert_json(value: Any) -> Any:
            if value is None:
                return None
            if type(value) is dict:
                key = (*value.items(), *map(type, value.values()))
                try:
                    return encoded[key]
                except KeyError:
                    adapted = encoded[key] = ops.adapt_json_value(value, encoder)
                    return adapted
                except TypeError:  # nested lists or objects: not hashable, encode as they come
                    pass
            return ops.adapt_json_value(value, encoder)

        return convert_json
    if kind in ("DateTimeField", "DateField"):
        adapt = ops.adapt_datetimefield_value if kind == "DateTimeField" else ops.adapt_datefield_value
        # A batch stamps most rows with the same time: convert each distinct value once.
        seen: dict[Any, Any] = {}

        def convert(value: Any) -> Any:
            try:
                return seen[value]
            except KeyError:
                seen[value] = adapted = adapt(value)
                return adapted

        return convert
    if kind == "DecimalField":
        return lambda v: ops.adapt_decimalfield_value(v, field.max_digits, field.decimal_places)
    return None


def bulk_insert(
    model: Any,
    fields: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    returning_ids: bool = False,
    ignore_conflicts: bool = False,
    batch_size: int = 500,
) -> list[int]:
    """Insert rows of plain values (in ``fields`` order) with multi-row ``INSERT`` statements.

    Django's ``bulk_create`` compiles every value of every object through the field machinery, which
    costs more than the insert itself for large imports; this writes the same SQL directly, converting
    only the types that need it (JSON, dates, decimals). Runs inside the caller's transaction. With
    ``returning_ids`` it returns the new primary keys in row order (``RETURNING``, as ``bulk_create``
    does on SQLite 3.35+ and PostgreSQL).
    """
    if not rows:
        return []
    meta = model._meta
    model_fields = [meta.get_field(name) for name in fields]
    converters = [(i, c) for i, c in enumerate(_converter(f) for f in model_fields) if c is not None]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in model_fields)
    marker = "?" if connection.vendor == "sqlite" else "%s"
    row_sql = "(" + ", ".join([marker] * len(fields)) + ")"
    suffix = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    if returning_ids:
        suffix += f" RETURNING {quote(meta.pk.column)}"
    connection.ensure_connection()
    # The driver's cursor raises the driver's errors: present them as Django's (IntegrityError and the
    # like), which is what callers catch.
    with connection.wrap_database_errors:
        if connection.vendor == "postgresql":
            return _insert_pipelined(meta, columns, row_sql, suffix, rows, converters, returning_ids)
        return _insert_values(meta, columns, row_sql, suffix, rows, converters, returning_ids, batch_size, len(fields))


def _insert_values(
    meta: Any,
    columns: str,
    row_sql: str,
    suffix: str,
    rows: Sequence[Sequence[Any]],
    converters: Sequence[tuple[int, Any]],
    returning_ids: bool,
    batch_size: int,
    width: int,
) -> list[int]:
    """SQLite: multi-row ``INSERT ... VALUES`` statements on the driver's cursor."""
    quote = connection.ops.quote_name
    ids: list[int] = []
    # At most ~30,000 parameters per statement keeps within SQLite's limit on bound variables.
    batch_size = max(1, min(batch_size, 30_000 // max(1, width)))
    cursor = connection.connection.cursor()
    try:
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            params: list[Any] = []
            for row in _converted(chunk, converters):
                params.extend(row)
            # Names come from the model's metadata and values are bound parameters: nothing user-supplied.
            values_sql = ", ".join([row_sql] * len(chunk))
            sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES {values_sql}{suffix}"  # noqa: S608
            cursor.execute(sql, params)
            if returning_ids:
                ids.extend(r[0] for r in cursor.fetchall())
    finally:
        cursor.close()
    return ids


def _converted(rows: Sequence[Sequence[Any]], converters: Sequence[tuple[int, Any]]) -> Iterator[Sequence[Any]]:
    if not converters:
        yield from rows
        return
    for row in rows:
        values = list(row)
        for i, convert in converters:
            values[i] = convert(values[i])
        yield values


def _insert_pipelined(
    meta: Any,
    columns: str,
    row_sql: str,
    suffix: str,
    rows: Sequence[Sequence[Any]],
    converters: Sequence[tuple[int, Any]],
    returning_ids: bool,
) -> list[int]:
    """PostgreSQL: ``COPY`` the rows, taking ids from the table's sequence first when they are wanted.

    A multi-row VALUES list with thousands of placeholders makes psycopg parse a new, huge query for
    every batch, and one INSERT per row costs a round of parse, plan and execute on the server each;
    COPY streams the rows into the table in one command. Rows that may clash with existing ones
    (``ON CONFLICT DO NOTHING``) are sent as single-row INSERTs in psycopg's pipeline mode instead.
    """
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    params = list(_converted(rows, converters))
    with connection.connection.cursor() as cursor:
        if suffix.strip().startswith("ON CONFLICT"):
            sql = f"INSERT INTO {table} ({columns}) VALUES {row_sql}{suffix}"  # noqa: S608
            cursor.executemany(sql, params, returning=returning_ids)
            ids: list[int] = []
            while returning_ids:
                found = cursor.fetchone()
                if found is not None:
                    ids.append(found[0])
                if not cursor.nextset():
                    break
            return ids
        ids = []
        pk = meta.pk.column
        if returning_ids:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [meta.db_table, pk, len(params)],
            )
            ids = [row[0] for row in cursor.fetchall()]
            columns = f"{quote(pk)}, {columns}"
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            if returning_ids:
                for pk_value, row in zip(ids, params, strict=True):
                    copy.write_row((pk_value, *row))
            else:
                for row in params:
                    copy.write_row(row)
    return ids


def insert_objects(objects: Sequence[Any], *, batch_size: int = 500) -> None:
    """Insert unsaved model instances of one model with ``bulk_insert`` and set their primary keys.

    Field values are taken as they are on the instances (defaults included); ``auto_now`` fields are not
    touched, so callers set ``created_at``/``updated_at`` themselves.
    """
    if not objects:
        return
    meta = objects[0]._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    attnames = [f.attname for f in fields]
    # Read the instances' __dict__ directly: getattr goes through field descriptors for every value.
    rows = [[state[name] for name in attnames] for state in (obj.__dict__ for obj in objects)]
    ids = bulk_insert(type(objects[0]), [f.name for f in fields], rows, returning_ids=True, batch_size=batch_size)
    for obj, pk in zip(objects, ids, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = connection.alias


def new_instance(model: Any, **values: Any) -> Any:
    """Build an unsaved model instance quickly: defaults plus ``values`` given by attribute name.

    ``Model.__init__`` walks every field and descriptor on each call, which dominates bulk imports;
    this computes constant defaults once per model and only calls the callable ones (``dict``, ``now``).
    """
    try:
        constant, dynamic, attnames = _DEFAULTS[model]
    except KeyError:
        constant, dynamic = {}, []
        attnames = frozenset(f.attname for f in model._meta.concrete_fields)
        for f in model._meta.concrete_fields:
            if f.primary_key:
                constant[f.attname] = None
            elif callable(f.default) and f.has_default():
                dynamic.append((f.attname, f.default))
            else:
                constant[f.attname] = f.get_default()
        _DEFAULTS[model] = (constant, dynamic, attnames)
    obj = model.__new__(model)
    state = obj.__dict__
    state.update(constant)
    for name, factory in dynamic:
        if name not in values:
            state[name] = factory()
    state["_state"] = ModelState()
    for name, value in values.items():
        if name in attnames:
            state[name] = value  # a plain column: no descriptor to go through
        else:
            setattr(obj, name, value)  # e.g. a related object for a foreign key
    return obj


_DEFAULTS: dict[Any, tuple[dict[str, Any], list[tuple[str, Any]], frozenset[str]]] = {}


def update_objects(objects: Sequence[Any], fields: Sequence[str]) -> None:
    """Write ``fields`` of saved model instances back with one prepared ``UPDATE`` run for every row.

    Django's ``bulk_update`` builds one ``CASE WHEN`` expression per field over all rows, which the
    database must parse and evaluate row by row; an ``executemany`` of a plain ``UPDATE ... WHERE id``
    is what both drivers do fastest (SQLite reuses the statement, psycopg pipelines it).
    """
    if not objects:
        return
    meta = objects[0]._meta
    model_fields = [meta.get_field(name) for name in fields]
    converters = [(i, c) for i, c in enumerate(_converter(f) for f in model_fields) if c is not None]
    quote = connection.ops.quote_name
    marker = "?" if connection.vendor == "sqlite" else "%s"
    assignments = ", ".join(f"{quote(f.column)} = {marker}" for f in model_fields)
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = {marker}"  # noqa: S608
    attnames = [f.attname for f in model_fields]
    rows = []
    for obj in objects:
        state = obj.__dict__
        values = [state[name] for name in attnames]
        for i, convert in converters:
            values[i] = convert(values[i])
        values.append(obj.pk)
        rows.append(values)
    connection.ensure_connection()
    with connection.wrap_database_errors:  # as Django's errors, like ``bulk_insert``
        cursor = connection.connection.cursor()
        try:
            cursor.executemany(sql, rows)
        finally:
            cursor.close()


def statistics_refresh(tables: Sequence[str] = ()) -> None:
    """Refresh the query planner's statistics after large writes (an import, the demo data).

    Without statistics SQLite guesses, and for a rep's filtered list it may sort every visible row
    instead of walking the name index. ``analysis_limit`` makes SQLite's ANALYZE sample each index, so
    this takes milliseconds even at a million rows. PostgreSQL's autovacuum gets there eventually;
    analysing at once means the first list after an import is already fast.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA analysis_limit=1000")
            cursor.execute("ANALYZE")
        elif connection.vendor == "postgresql":
            quote = connection.ops.quote_name
            cursor.execute("ANALYZE " + ", ".join(quote(t) for t in tables) if tables else "ANALYZE")


@contextmanager
def bulk_writes() -> Iterator[None]:
    """Around a long run of write transactions (an import), fold SQLite's write-ahead log back once at
    the end instead of at every commit that finds it over the auto-checkpoint size.

    Each checkpoint syncs the database file to disk; during an import that is most of the time spent
    committing. Other connections keep their own setting, and readers are unaffected.
    """
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        previous = cursor.fetchone()[0]
        cursor.execute("PRAGMA wal_autocheckpoint=0")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA wal_autocheckpoint={int(previous)}")
            # A checkpoint can't run inside a transaction, and is best effort: the next commit of any
            # connection checkpoints anyway.
            if not connection.in_atomic_block:
                with suppress(OperationalError):
                    cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
