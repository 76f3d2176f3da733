"""Exports of contact and account lists as CSV, XLSX and vCard, for pages and ``rapport export``.

Rows come from ``contacts_filtered`` / ``accounts_filtered`` (so only what the user may see, with the
list's filters), read in keyset-ordered chunks so that a million-row export never holds more than one
chunk in memory. Writers produce bytes incrementally (CSV, vCard) or into a temporary file (XLSX).
"""

from __future__ import annotations

import csv
import datetime as dt
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any

from django.db.models import Count, Q
from django.utils import timezone

from rapport.contacts.models import Account, Contact, CustomField, ObjectType
from rapport.contacts.queries import (
    ACCOUNT_ORDERINGS,
    CONTACT_ORDERINGS,
    ListFilters,
    accounts_filtered,
    contacts_filtered,
)
from rapport.core.db import keyset_page
from rapport.core.models import User

CHUNK = 1000
FORMATS = {"csv": "csv", "xlsx": "xlsx", "vcf": "vcf", "vcard": "vcf"}
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "vcf": "text/vcard; charset=utf-8",
}

# Column headers use the field names imports and the API understand, so an export can be re-imported.
CONTACT_COLUMNS: list[tuple[str, Callable[[Contact], Any]]] = [
    ("id", lambda c: c.pk),
    ("first_name", lambda c: c.first_name),
    ("last_name", lambda c: c.last_name),
    ("email", lambda c: c.email),
    ("phone", lambda c: c.phone),
    ("job_title", lambda c: c.job_title),
    ("seniority", lambda c: c.seniority),
    ("department", lambda c: c.department),
    ("account_id", lambda c: c.account_id),
    ("company", lambda c: c.account.name if c.account else ""),
    ("street", lambda c: c.street),
    ("postal_code", lambda c: c.postal_code),
    ("city", lambda c: c.city),
    ("region", lambda c: c.region),
    ("country", lambda c: c.country),
    ("lifecycle_stage", lambda c: c.lifecycle_stage),
    ("owner", lambda c: c.owner.username if c.owner else ""),
    ("source", lambda c: c.source),
    ("tags", lambda c: ";".join(t.name for t in c.tags.all())),
    ("consent_email", lambda c: c.consent_email),
    ("consent_phone", lambda c: c.consent_phone),
    ("consent_sms", lambda c: c.consent_sms),
    ("consent_post", lambda c: c.consent_post),
    ("external_id", lambda c: c.external_id),
    ("created_at", lambda c: c.created_at),
    ("updated_at", lambda c: c.updated_at),
]
ACCOUNT_COLUMNS: list[tuple[str, Callable[[Account], Any]]] = [
    ("id", lambda a: a.pk),
    ("name", lambda a: a.name),
    ("domain", lambda a: a.domain),
    ("industry", lambda a: a.industry),
    ("size_band", lambda a: a.size_band),
    ("annual_revenue", lambda a: a.annual_revenue),
    ("currency", lambda a: a.currency),
    ("country", lambda a: a.country),
    ("region", lambda a: a.region),
    ("city", lambda a: a.city),
    ("owner", lambda a: a.owner.username if a.owner else ""),
    ("partner_organisation", lambda a: a.partner_organisation.name if a.partner_organisation else ""),
    ("parent_id", lambda a: a.parent_id),
    ("parent", lambda a: a.parent.name if a.parent else ""),
    ("lifecycle_stage", lambda a: a.lifecycle_stage),
    ("external_id", lambda a: a.external_id),
    ("contacts", lambda a: getattr(a, "contact_count", None)),
    ("created_at", lambda a: a.created_at),
    ("updated_at", lambda a: a.updated_at),
]


@dataclass
class Export:
    """What an export needs: whose view, which records, which filters, and the custom fields to add."""

    user: User | None
    object_type: str
    filters: ListFilters
    custom_fields: list[CustomField]

    @property
    def headers(self) -> list[str]:
        """The header row: standard columns, then one ``custom.<key>`` column per custom field."""
        columns = CONTACT_COLUMNS if self.object_type == ObjectType.CONTACT else ACCOUNT_COLUMNS
        return [name for name, _ in columns] + [f"custom.{f.key}" for f in self.custom_fields]


def export_prepare(*, user: User | None, object_type: str, filters: ListFilters) -> Export:
    """Describe an export of the records ``user`` may see (all records when ``user`` is None)."""
    fields = list(CustomField.objects.filter(object_type=object_type).order_by("position", "label", "id"))
    return Export(user=user, object_type=object_type, filters=filters, custom_fields=fields)


def export_records(export: Export) -> Iterator[Contact | Account]:
    """The visible, filtered records in the list's order, read one keyset chunk at a time."""
    if export.object_type == ObjectType.CONTACT:
        contacts = contacts_filtered(export.user, export.filters).select_related("owner", "account")
        contacts = contacts.prefetch_related("tags")
        yield from _chunks(contacts, CONTACT_ORDERINGS[export.filters.ordering])
    else:
        accounts = accounts_filtered(export.user, export.filters).select_related(
            "owner", "partner_organisation", "parent"
        )
        # Count each account's live contacts in the same query; an index on contact.account_id serves it.
        live = Q(contacts__deleted_at__isnull=True)
        if export.user is not None:
            visible = Contact.objects.visible_to(export.user).values("pk")
            live &= Q(contacts__in=visible)
        accounts = accounts.annotate(contact_count=Count("contacts", filter=live))
        yield from _chunks(accounts, ACCOUNT_ORDERINGS[export.filters.ordering])


def _chunks(queryset: Any, order: tuple[str, ...]) -> Iterator[Any]:
    cursor = None
    while True:
        rows, cursor = keyset_page(queryset, order, cursor, CHUNK)
        yield from rows
        if cursor is None:
            return


def export_rows(export: Export) -> Iterator[list[Any]]:
    """Each record as a list of typed values in header order (None for empty numbers and links)."""
    columns: list[tuple[str, Callable[[Any], Any]]]
    columns = CONTACT_COLUMNS if export.object_type == ObjectType.CONTACT else ACCOUNT_COLUMNS  # type: ignore[assignment]
    keys = [f.key for f in export.custom_fields]
    for record in export_records(export):
        row = [getter(record) for _, getter in columns]
        row.extend(record.custom.get(key_) for key_ in keys)
        yield row


def _text(value: Any) -> str:
    """A value as CSV text: times in ISO 8601 UTC, lists joined with ';', booleans as true/false."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class _Line:
    """A write-only buffer that hands back what ``csv.writer`` writes to it."""

    def write(self, value: str) -> str:
        return value


def csv_chunks(export: Export) -> Iterator[bytes]:
    """The export as UTF-8 CSV, a few hundred rows per yielded chunk."""
    writer = csv.writer(_Line())
    yield writer.writerow(export.headers).encode()
    batch: list[str] = []
    for row in export_rows(export):
        batch.append(writer.writerow([_text(v) for v in row]))
        if len(batch) >= 200:
            yield "".join(batch).encode()
            batch = []
    if batch:
        yield "".join(batch).encode()


def _xlsx_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        # Spreadsheets have no time zones: write UTC wall-clock time.
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    if isinstance(value, str):
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        return ILLEGAL_CHARACTERS_RE.sub("", value)
    return value


def xlsx_write(export: Export, out: IO[bytes]) -> None:
    """Write the export as an XLSX workbook, streaming rows (openpyxl's write-only mode)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Contacts" if export.object_type == ObjectType.CONTACT else "Accounts")
    sheet.append(export.headers)
    for row in export_rows(export):
        cells: list[Any] = []
        for value in row:
            value = _xlsx_value(value)
            if isinstance(value, str) and value.startswith("="):
                # openpyxl would store text starting with "=" as a formula; keep it as the text it is.
                cell = WriteOnlyCell(sheet, value=value)
                cell.data_type = "s"
                cells.append(cell)
            else:
                cells.append(value)
        sheet.append(cells)
    workbook.save(out)


def xlsx_tempfile(export: Export) -> IO[bytes]:
    """The XLSX export in an anonymous temporary file, rewound, removed when closed."""
    handle = tempfile.TemporaryFile(suffix=".xlsx")  # noqa: SIM115 - the caller streams and closes it
    xlsx_write(export, handle)
    handle.seek(0)
    return handle


# --- vCard 3.0 (RFC 2426) -----------------------------------------------------------------------------


def _vcard_escape(value: str) -> str:
    return (
        value.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;").replace("\r\n", "\\n").replace("\n", "\\n")
    )


def _fold(line: str) -> str:
    """Fold a content line at 75 octets, continuation lines starting with a space (RFC 2425 5.8.1)."""
    data = line.encode()
    if len(data) <= 75:
        return line + "\r\n"
    parts: list[str] = []
    current = ""
    size = 0
    limit = 75
    for char in line:
        width = len(char.encode())
        if size + width > limit:
            parts.append(current)
            current, size, limit = "", 0, 74
        current += char
        size += width
    parts.append(current)
    return "\r\n ".join(parts) + "\r\n"


def vcard(contact: Contact) -> str:
    """One contact as a vCard 3.0 card (CRLF line endings, folded at 75 octets)."""
    e = _vcard_escape
    name = contact.full_name or contact.email or contact.phone or f"Contact {contact.pk}"
    lines = [
        "BEGIN:VCARD",
        "VERSION:3.0",
        f"N:{e(contact.last_name)};{e(contact.first_name)};;;",
        f"FN:{e(name)}",
    ]
    company = contact.account.name if contact.account_id and contact.account else ""
    if company or contact.department:
        lines.append(f"ORG:{e(company)}" + (f";{e(contact.department)}" if contact.department else ""))
    if contact.job_title:
        lines.append(f"TITLE:{e(contact.job_title)}")
    if contact.email:
        lines.append(f"EMAIL;TYPE=INTERNET,PREF:{e(contact.email)}")
    if contact.phone:
        lines.append(f"TEL;TYPE=WORK,VOICE:{e(contact.phone)}")
    if any([contact.street, contact.city, contact.region, contact.postal_code, contact.country]):
        parts = [contact.street, contact.city, contact.region, contact.postal_code, contact.country]
        lines.append("ADR;TYPE=WORK:;;" + ";".join(e(p) for p in parts))
    tags = [t.name for t in contact.tags.all()]
    if tags:
        lines.append("CATEGORIES:" + ",".join(e(t) for t in tags))
    lines.append(f"UID:urn:rapport:contact:{contact.pk}")
    lines.append("REV:" + timezone.localtime(contact.updated_at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    lines.append("END:VCARD")
    return "".join(_fold(line) for line in lines)


def vcard_chunks(export: Export) -> Iterator[bytes]:
    """The exported contacts as one vCard file, a hundred cards per yielded chunk."""
    batch: list[str] = []
    for record in export_records(export):
        assert isinstance(record, Contact)
        batch.append(vcard(record))
        if len(batch) >= 100:
            yield "".join(batch).encode()
            batch = []
    if batch:
        yield "".join(batch).encode()


def export_filename(object_type: str, fmt: str) -> str:
    """``contacts-2026-01-31.csv`` and the like."""
    plural = "contacts" if object_type == ObjectType.CONTACT else "accounts"
    return f"{plural}-{timezone.localdate().isoformat()}.{FORMATS[fmt]}"


def export_write(export: Export, fmt: str, out: IO[bytes]) -> None:
    """Write the whole export in a format (``csv``, ``xlsx``, ``vcf``) to a binary file."""
    fmt = FORMATS[fmt]
    if fmt == "xlsx":
        xlsx_write(export, out)
        return
    chunks: Iterable[bytes] = csv_chunks(export) if fmt == "csv" else vcard_chunks(export)
    for chunk in chunks:
        out.write(chunk)


__all__ = [
    "CONTENT_TYPES",
    "FORMATS",
    "Export",
    "csv_chunks",
    "export_filename",
    "export_prepare",
    "export_records",
    "export_rows",
    "export_write",
    "vcard",
    "vcard_chunks",
    "xlsx_tempfile",
    "xlsx_write",
]
