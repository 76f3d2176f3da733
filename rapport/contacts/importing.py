"""Importing contacts and accounts from CSV and XLSX files: the engine behind the import wizard and ``rapport import``.

The steps, each a service the pages and the command line share:

1. ``import_job_create`` copies the file into the data directory, detects its format, encoding and delimiter,
   reads the header row and suggests a mapping of columns to fields.
2. ``import_mapping_save`` checks and stores the mapping; ``import_preview`` shows the first rows as they
   would be cleaned, with their problems, without writing anything.
3. ``import_job_queue`` hands the job to the worker; ``import_run`` streams the file in batches through
   ``contacts_upsert_batch`` / ``accounts_upsert_batch``. Each batch commits together with the job's
   counters and its position in the file, so a crashed run resumes where the last batch ended and nothing
   is lost or written twice. Rejected rows go to a CSV file beside the upload, with their line and reason.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import functools
import io
import json
import logging
import multiprocessing as mp
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from rapport.contacts import normalise
from rapport.contacts.models import ConsentChannel, CustomField, ImportJob, ObjectType, Party
from rapport.contacts.services import (
    PreparedContacts,
    Provenance,
    RowOutcome,
    RowStatus,
    accounts_upsert_batch,
    contacts_prepare,
    contacts_upsert_batch,
)
from rapport.contacts.validation import Lookups, clean_account, clean_contact
from rapport.core.access import require
from rapport.core.bulk import fewer_collections
from rapport.core.db import bulk_writes, statistics_refresh
from rapport.core.errors import FieldError, NotFound, RapportError, ValidationFailed, invalid
from rapport.core.models import Role, User, Via

logger = logging.getLogger(__name__)

BATCH_SIZE = 5000
# A queued or running job whose row hasn't changed for this long has lost its worker (each batch touches it).
STALLED_AFTER = dt.timedelta(minutes=5)
# Bytes read to sniff the encoding and the delimiter; enough for the header and a few dozen rows.
SAMPLE_BYTES = 64 * 1024
COPY_CHUNK_BYTES = 1024 * 1024
REJECTS_NAME = "rejected.csv"
DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_XLSX_MAGIC = b"PK\x03\x04"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # old binary .xls (and .doc) files
_ENCODING_LABELS = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 (with BOM)",
    "utf-16-le": "UTF-16",
    "utf-16-be": "UTF-16 (big-endian)",
    "windows-1252": "Windows-1252",
    "latin-1": "Latin-1",
}


class ImportFileError(RapportError):
    """The file can't be read as the job expects (a broken quote, bytes in the wrong encoding)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="unreadable_file", status=422)


# --- Fields a column can be mapped to ---------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A field a column can be mapped to: ``email``, ``company``, ``custom.<key>``, ``consent.<channel>``."""

    name: str
    label: str
    group: str


_CONTACT_TARGETS = (
    ("first_name", "First name", "Contact"),
    ("last_name", "Last name", "Contact"),
    ("email", "Email", "Contact"),
    ("phone", "Phone", "Contact"),
    ("job_title", "Job title", "Contact"),
    ("seniority", "Seniority", "Contact"),
    ("department", "Department", "Contact"),
    ("lifecycle_stage", "Lifecycle stage", "Contact"),
    ("owner", "Owner (username, email or name)", "Contact"),
    ("source", "Source", "Contact"),
    ("external_id", "External id", "Contact"),
    ("tags", "Tags (separated by , or ;)", "Contact"),
    ("company", "Company (account name)", "Company"),
    ("company_domain", "Company domain", "Company"),
    ("account_id", "Account id (Rapport's)", "Company"),
    ("street", "Street", "Address"),
    ("postal_code", "Postal code", "Address"),
    ("city", "City", "Address"),
    ("region", "State or region", "Address"),
    ("country", "Country", "Address"),
)
_ACCOUNT_TARGETS = (
    ("name", "Name", "Account"),
    ("domain", "Domain", "Account"),
    ("industry", "Industry", "Account"),
    ("size_band", "Size (employees)", "Account"),
    ("annual_revenue", "Annual revenue", "Account"),
    ("currency", "Currency", "Account"),
    ("lifecycle_stage", "Lifecycle stage", "Account"),
    ("owner", "Owner (username, email or name)", "Account"),
    ("external_id", "External id", "Account"),
    ("partner_organisation_id", "Partner organisation (name or id)", "Account"),
    ("parent_id", "Parent account id (Rapport's)", "Account"),
    ("city", "City", "Address"),
    ("region", "State or region", "Address"),
    ("country", "Country", "Address"),
)
# Names a mapping file may use for a target, besides the target's own name.
_TARGET_ALIASES = {"owner_id": "owner"}


def import_targets(*, object_type: str, custom_fields: Iterable[CustomField] | None = None) -> list[Target]:
    """The fields a column of a contacts or accounts file can be mapped to, in the order a form shows them."""
    if custom_fields is None:
        custom_fields = CustomField.objects.filter(object_type=object_type)
    base = _CONTACT_TARGETS if object_type == ObjectType.CONTACT else _ACCOUNT_TARGETS
    targets = [Target(name, label, group) for name, label, group in base]
    if object_type == ObjectType.CONTACT:
        targets += [Target(f"consent.{c.value}", f"{c.label} consent", "Consent") for c in ConsentChannel]
    targets += [Target(f"custom.{f.key}", f.label, "Custom fields") for f in custom_fields]
    return targets


# Service messages that read as the end of a sentence whose subject is the field ("is required.").
_PREDICATES = ("is ", "are ", "must ", "can't ", "cannot ", "has ", "does ", "should ")
_PLAIN_LABELS = {"consent": "Consent", "custom": "Custom fields", "owner_id": "Owner"}


def problem_labels(*, object_type: str, custom_fields: Iterable[CustomField] | None = None) -> dict[str, str]:
    """What to call each field a row's problem can name, as a person reads it: ``email`` → "Email",
    ``consent.email`` → "Email consent", ``custom.<key>`` → the custom field's label.

    Targets' hints in brackets ("Owner (username, email or name)") are left out.
    """
    labels = dict(_PLAIN_LABELS)
    for target in import_targets(object_type=object_type, custom_fields=custom_fields):
        labels[target.name] = (
            re.sub(r"\s*\(.*\)$", "", target.label) if target.group != "Custom fields" else target.label
        )
    return labels


def problem_text(error: FieldError, labels: Mapping[str, str]) -> str:
    """One problem as a sentence that names the field by its label ("Email: 'x' is not a valid email address")."""
    message = error.message.strip()
    if not error.field:
        return message
    label = labels.get(error.field) or error.field.replace("_", " ").replace(".", " ").capitalize()
    if message.startswith(label) or message[:1].isupper():
        return message  # a sentence of its own: "Industry is required.", "An account needs a name."
    if message.startswith(_PREDICATES):
        return f"{label} {message}"
    return f"{label}: {message}"


def problems_text(errors: Iterable[FieldError], labels: Mapping[str, str]) -> str:
    """A row's problems as one line, for the rejected-rows file."""
    return "; ".join(problem_text(e, labels) for e in errors)


def _header_key(text: str) -> str:
    """A header reduced to lower-case letters and digits: ``"State/Region"`` → ``stateregion``."""
    return re.sub(r"[^0-9a-z]", "", normalise.key(text))


def _synonyms(table: Mapping[str, Iterable[str]]) -> dict[str, str]:
    return {_header_key(words): target for target, many in table.items() for words in many}


# Headers of common exports (HubSpot, Salesforce, Pipedrive, Mailchimp, spreadsheets) and what they mean.
_CONTACT_SYNONYMS = _synonyms(
    {
        "first_name": ["first name", "firstname", "given name", "forename", "first", "vorname", "prénom"],
        "last_name": ["last name", "lastname", "surname", "family name", "last", "nachname", "nom"],
        "email": ["email", "e-mail", "email address", "e-mail address", "mail", "work email", "primary email"],
        "phone": ["phone", "phone number", "telephone", "telephone number", "tel", "work phone", "business phone"],
        "job_title": ["job title", "title", "position", "job", "role", "job position"],
        "seniority": ["seniority", "seniority level"],
        "department": ["department", "dept"],
        "lifecycle_stage": ["lifecycle stage", "lifecycle", "stage", "lifecyclestage"],
        "owner": ["contact owner", "owner", "owner name", "owner email", "record owner", "hubspot owner"],
        "source": ["source", "lead source", "contact source", "original source"],
        "external_id": ["external id", "record id", "contact id", "id", "crm id", "hubspot id", "salesforce id"],
        "tags": ["tags", "tag", "labels", "label"],
        "company": [
            "company",
            "company name",
            "account name",
            "account",
            "organisation",
            "organization",
            "organisation name",
            "organization name",
            "employer",
            "associated company",
        ],
        "company_domain": ["company domain", "company domain name", "company website", "website", "domain"],
        "street": ["street", "street address", "address", "mailing street", "address line 1", "address 1"],
        "postal_code": [
            "postal code",
            "zip",
            "zip code",
            "postcode",
            "post code",
            "mailing zip/postal code",
            "zip/postal code",
        ],
        "city": ["city", "mailing city", "town"],
        "region": [
            "state",
            "state/region",
            "region",
            "province",
            "state/province",
            "mailing state/province",
            "county",
        ],
        "country": ["country", "country/region", "mailing country", "country code"],
        "consent.email": [
            "consent email",
            "email consent",
            "email opt in",
            "email opt-in",
            "email optin",
            "opt in",
            "opt-in",
            "marketing email consent",
            "email marketing consent",
        ],
        "consent.phone": ["consent phone", "phone consent", "phone opt in", "call opt in"],
        "consent.sms": ["consent sms", "sms consent", "sms opt in", "text opt in"],
        "consent.post": ["consent post", "post consent", "postal consent", "mail opt in", "direct mail opt in"],
    }
)
# Weaker guesses, used only when no column took the field by the tables above.
_CONTACT_FALLBACKS = _synonyms(
    {
        "phone": ["mobile phone number", "mobile phone", "mobile", "cell phone", "cell", "mobile number"],
        "source": ["original source type", "latest source"],
    }
)
_ACCOUNT_SYNONYMS = _synonyms(
    {
        "name": [
            "name",
            "account name",
            "company name",
            "company",
            "organisation",
            "organization",
            "organisation name",
            "organization name",
        ],
        "domain": ["domain", "company domain name", "website", "website url", "web site", "url", "company domain"],
        "industry": ["industry", "sector"],
        "size_band": ["size", "size band", "company size", "employees band"],
        "annual_revenue": ["annual revenue", "revenue", "yearly revenue"],
        "currency": ["currency", "currency code", "account currency"],
        "lifecycle_stage": ["lifecycle stage", "lifecycle", "stage"],
        "owner": ["account owner", "company owner", "owner", "owner name", "owner email", "record owner"],
        "external_id": ["external id", "record id", "account id", "company id", "id", "crm id"],
        "partner_organisation_id": ["partner", "partner organisation", "partner organization", "reseller"],
        "city": ["city", "billing city", "town"],
        "region": ["state", "state/region", "region", "province", "state/province", "billing state/province"],
        "country": ["country", "country/region", "billing country", "country code"],
    }
)
# Prefixes that exports put before a field's name ("Mailing City", "Billing Country", "Contact Email").
_PREFIXES = ("mailing", "billing", "shipping", "primary", "contact", "work", "business", "company", "account")


def import_mapping_suggest(
    *, object_type: str, headers: Sequence[str], custom_fields: Iterable[CustomField] | None = None
) -> dict[str, str]:
    """Suggest ``{header: field}`` for the headers a file has; columns with no good guess are left out.

    Matching ignores case, spaces and punctuation. A field is given to at most one column: an exact field
    name wins over a custom field's key or label, which wins over the usual export headers, which win over
    weaker guesses (a mobile number is taken as the phone only when there is no other phone column).
    """
    if custom_fields is None:
        custom_fields = list(CustomField.objects.filter(object_type=object_type))
    custom: dict[str, str] = {}
    for definition in custom_fields:
        custom.setdefault(_header_key(definition.key), f"custom.{definition.key}")
        custom.setdefault(_header_key(definition.label), f"custom.{definition.key}")
    contacts = object_type == ObjectType.CONTACT
    names = {t.name for t in import_targets(object_type=object_type, custom_fields=[])}
    synonyms = _CONTACT_SYNONYMS if contacts else _ACCOUNT_SYNONYMS
    fallbacks = _CONTACT_FALLBACKS if contacts else {}

    def exact(header: str) -> str | None:
        name = header.strip().lower()
        return name if name in names else None

    def unprefixed(header: str) -> str | None:
        key_ = _header_key(header)
        for prefix in _PREFIXES:
            if key_.startswith(prefix) and len(key_) > len(prefix):
                found = synonyms.get(key_[len(prefix) :])
                if found is not None:
                    return found
        return None

    tiers: list[Callable[[str], str | None]] = [
        exact,
        lambda h: custom.get(_header_key(h)),
        lambda h: synonyms.get(_header_key(h)),
        unprefixed,
        lambda h: fallbacks.get(_header_key(h)),
    ]
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for tier in tiers:
        for header in headers:
            if header in mapping:
                continue
            target = tier(header)
            # Rapport's own account ids are only suggested for a column named exactly so: an export's
            # "Account ID" is the other system's id, not ours.
            if target is None or target in taken or (target in ("account_id", "parent_id") and tier is not exact):
                continue
            mapping[header] = target
            taken.add(target)
    return {header: mapping[header] for header in headers if header in mapping}


def import_mapping_check(
    *,
    object_type: str,
    headers: Sequence[str],
    mapping: Mapping[str, object],
    mode: str,
    match_on: str,
    custom_fields: Iterable[CustomField] | None = None,
) -> dict[str, str]:
    """Check a ``{header: field}`` mapping and return it cleaned (ignored columns dropped, aliases resolved).

    Raises ``ValidationFailed`` listing every problem: a column the file doesn't have, an unknown field,
    a field chosen for two columns, a contacts import with no name, email or phone column, or a match
    key (email, external id, name and company, domain) without its column.
    """
    targets = {t.name: t for t in import_targets(object_type=object_type, custom_fields=custom_fields)}
    what = "contact" if object_type == ObjectType.CONTACT else "account"
    errors: list[FieldError] = []
    cleaned: dict[str, str] = {}
    chosen_by: dict[str, str] = {}
    known_headers = set(headers)
    for header, raw_target in mapping.items():
        if raw_target is None or (isinstance(raw_target, str) and not raw_target.strip()):
            continue
        if header not in known_headers:
            errors.append(FieldError(str(header), f"The file has no column {header!r}."))
            continue
        if not isinstance(raw_target, str):
            errors.append(FieldError(header, f"Column {header!r} must be mapped to a field name, such as email."))
            continue
        target = raw_target.strip()
        target = _TARGET_ALIASES.get(target, target)
        if target not in targets:
            if target.startswith("custom."):
                message = f"Column {header!r} is mapped to {target[7:]!r}, which is not a custom field of {what}s."
            else:
                message = f"Column {header!r} is mapped to {target!r}, which is not a {what} field."
            errors.append(FieldError(header, message))
            continue
        if target in chosen_by:
            errors.append(
                FieldError(
                    header,
                    f"Column {header!r} is mapped to {targets[target].label}, "
                    f"which is already chosen for column {chosen_by[target]!r}.",
                )
            )
            continue
        chosen_by[target] = header
        cleaned[header] = target
    mapped = set(cleaned.values())
    if object_type == ObjectType.CONTACT:
        if not mapped & {"first_name", "last_name", "email", "phone"}:
            errors.append(FieldError("", "Map at least one column to first name, last name, email or phone."))
    elif "name" not in mapped and mode != ImportJob.Mode.UPDATE:
        errors.append(FieldError("", "Map a column to the account's name: new accounts need one."))
    needs = _match_needs(object_type, match_on)
    if needs is None:
        errors.append(FieldError("match_on", _match_choices(object_type)))
    else:
        required, alternatives, sentence = needs
        if not (required <= mapped and (not alternatives or alternatives & mapped)):
            errors.append(FieldError("match_on", sentence))
    if errors:
        raise ValidationFailed("The column mapping can't be used.", errors)
    return cleaned


def _match_needs(object_type: str, match_on: str) -> tuple[set[str], set[str], str] | None:
    """The fields a match key needs mapped: (all of, at least one of, the sentence saying so)."""
    if object_type == ObjectType.CONTACT:
        return {
            ImportJob.MatchOn.EMAIL: ({"email"}, set(), "To match on email, map a column to Email."),
            ImportJob.MatchOn.EXTERNAL_ID: (
                {"external_id"},
                set(),
                "To match on external id, map a column to External id.",
            ),
            ImportJob.MatchOn.NAME_COMPANY: (
                set(),
                {"first_name", "last_name"},
                "To match on name and company, map columns to a name and to Company (or Account id).",
            ),
        }.get(match_on)  # type: ignore[call-overload]
    return {
        ImportJob.MatchOn.DOMAIN: ({"domain"}, set(), "To match on domain, map a column to Domain."),
        ImportJob.MatchOn.EXTERNAL_ID: (
            {"external_id"},
            set(),
            "To match on external id, map a column to External id.",
        ),
        ImportJob.MatchOn.NAME_COMPANY: ({"name"}, set(), "To match on name, map a column to Name."),
    }.get(match_on)  # type: ignore[call-overload]


def _match_choices(object_type: str) -> str:
    if object_type == ObjectType.CONTACT:
        return "Contacts are matched on email, external_id or name_company."
    return "Accounts are matched on domain, external_id or name_company (the account's name)."


def match_choices(object_type: str) -> list[tuple[str, str]]:
    """The match keys an object type offers, as (value, label) pairs for forms."""
    if object_type == ObjectType.CONTACT:
        values = [ImportJob.MatchOn.EMAIL, ImportJob.MatchOn.EXTERNAL_ID, ImportJob.MatchOn.NAME_COMPANY]
        return [(v.value, v.label) for v in values]
    return [
        (ImportJob.MatchOn.DOMAIN.value, "Domain"),
        (ImportJob.MatchOn.EXTERNAL_ID.value, ImportJob.MatchOn.EXTERNAL_ID.label),
        (ImportJob.MatchOn.NAME_COMPANY.value, "Name"),
    ]


def default_match_on(object_type: str) -> str:
    """The usual match key: email for contacts, domain for accounts."""
    return ImportJob.MatchOn.EMAIL if object_type == ObjectType.CONTACT else ImportJob.MatchOn.DOMAIN


# --- Reading files ----------------------------------------------------------------------------------


def _codec(encoding: str) -> str:
    """The codec that reads the bytes after the BOM."""
    return {"utf-8-sig": "utf-8", "windows-1252": "cp1252"}.get(encoding, encoding)


def _bom_length(path: Path, encoding: str) -> int:
    with path.open("rb") as raw:
        start = raw.read(3)
    for bom, name in _BOMS:
        if name == encoding and start.startswith(bom):
            return len(bom)
    return 0


def _utf16_without_bom(sample: bytes) -> str | None:
    """Guess UTF-16 without a BOM from the zero bytes that ASCII text has in every other position."""
    pairs = len(sample) // 2
    if pairs < 4:
        return None
    even = sum(1 for i in range(0, pairs * 2, 2) if sample[i] == 0)
    odd = sum(1 for i in range(1, pairs * 2, 2) if sample[i] == 0)
    if odd > pairs * 0.3 and even < pairs * 0.05:
        return "utf-16-le"
    if even > pairs * 0.3 and odd < pairs * 0.05:
        return "utf-16-be"
    return None


class _EncodingCheck:
    """Decodes the file's chunks as they are copied, to learn which encodings read the whole file."""

    def __init__(self, candidates: Sequence[str]) -> None:
        self.decoders = {name: codecs.getincrementaldecoder(_codec(name))() for name in candidates}
        self.candidates = list(candidates)

    def feed(self, chunk: bytes, *, final: bool = False) -> None:
        for name in list(self.candidates):
            try:
                self.decoders[name].decode(chunk, final)
            except UnicodeDecodeError:
                self.candidates.remove(name)

    @property
    def encoding(self) -> str:
        # Latin-1 maps every byte to a character, so a file that is neither UTF-8 nor Windows-1252 still reads.
        return self.candidates[0] if self.candidates else "latin-1"


def _cell_text(value: object) -> str:
    """A spreadsheet cell as the text a CSV file would hold."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


@dataclass
class _Position:
    """Where reading stands: physical lines (or sheet rows) consumed, header included, and bytes read."""

    line: int = 0
    offset: int = 0


class _Reader:
    """Streams a job's file as ``(first line, cells)`` records, tracking the position after each one.

    CSV files are read line by line from a byte offset, so a resumed run seeks straight to where the
    last committed batch ended. Line numbers are physical lines: a record with quoted newlines spans
    several, and the next record's number counts them all.
    """

    def __init__(self, job: ImportJob, start: _Position) -> None:
        self.job = job
        self.position = _Position(start.line, start.offset)
        self.path = import_file_path(job)
        self._closers: list[Callable[[], None]] = []

    def __enter__(self) -> _Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        for close in self._closers:
            close()

    def records(self) -> Iterator[tuple[int, list[str]]]:
        """Yield each record from the current position; ``self.position`` is after the record yielded."""
        if self.job.file_format == "xlsx":
            return self._xlsx_records()
        return self._csv_records()

    def _csv_records(self) -> Iterator[tuple[int, list[str]]]:
        codec = _codec(self.job.encoding)
        raw = self.path.open("rb")
        self._closers.append(raw.close)
        position = self.position
        if position.offset == 0:
            position.offset = _bom_length(self.path, self.job.encoding)
        raw.seek(position.offset)
        text = io.TextIOWrapper(raw, encoding=codec, newline="")
        consumed = [position.offset]

        def lines() -> Iterator[str]:
            # The reader pulls lines only as it needs them, so the count after each record is exact.
            for line in text:
                consumed[0] += len(line.encode(codec))
                yield line

        reader = csv.reader(lines(), delimiter=self.job.delimiter or ",")
        base = position.line
        try:
            for cells in reader:
                first = position.line + 1
                # The position moves only past whole records, so after an error it is still after the last good one.
                position.line = base + reader.line_num
                position.offset = consumed[0]
                yield first, cells
        except csv.Error as exc:
            raise ImportFileError(
                f"Line {position.line + 1} can't be read as CSV ({exc}); check for a quote that is never closed."
            ) from None
        except UnicodeDecodeError:
            label = _ENCODING_LABELS.get(self.job.encoding, self.job.encoding)
            raise ImportFileError(f"Line {position.line + 1} contains bytes that are not {label} text.") from None

    def _xlsx_records(self) -> Iterator[tuple[int, list[str]]]:
        workbook = _open_workbook(self.path)
        self._closers.append(workbook.close)
        sheet = workbook.worksheets[0]
        position = self.position
        total_rows = sheet.max_row or 0
        size = self.job.file_size
        for values in sheet.iter_rows(min_row=position.line + 1, values_only=True):
            position.line += 1
            # A workbook can't be read by byte offset; progress is estimated from the sheet's row count.
            if total_rows:
                position.offset = min(size, size * position.line // total_rows)
            yield position.line, [_cell_text(v) for v in values]


def _open_workbook(path: Path) -> Any:
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError):
        raise invalid("file", "The file looks like a zip archive but is not an Excel workbook (.xlsx).") from None
    if not workbook.worksheets:
        workbook.close()
        raise invalid("file", "The workbook has no sheets.")
    return workbook


def import_file_path(job: ImportJob) -> Path:
    """The uploaded file's place in the data directory."""
    return Path(settings.MEDIA_ROOT) / job.file_path


def import_job_directory(job: ImportJob) -> Path:
    """The directory holding a job's upload and its rejected-rows file."""
    return Path(settings.MEDIA_ROOT) / "imports" / str(job.pk)


def import_rejects_path(job: ImportJob) -> Path | None:
    """The rejected-rows CSV of a job, or None when no row was rejected."""
    path = import_job_directory(job) / REJECTS_NAME
    return path if job.rejected and path.exists() else None


# --- Creating a job ---------------------------------------------------------------------------------


def _chunks_of(source_path: str | os.PathLike[str] | None, uploaded: Any) -> Iterator[bytes]:
    if uploaded is not None:
        uploaded.seek(0)
        yield from uploaded.chunks(COPY_CHUNK_BYTES)
        return
    assert source_path is not None
    with open(source_path, "rb") as source:
        while chunk := source.read(COPY_CHUNK_BYTES):
            yield chunk


def _too_large(size: int) -> ValidationFailed:
    limit = settings.IMPORT_MAX_FILE_BYTES
    return invalid(
        "file", f"The file is {_size_text(size)}; imports take files of up to {_size_text(limit)}. Split it into parts."
    )


def _size_text(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):,.1f} MB"
    if size >= 1024:
        return f"{size / 1024:,.1f} KB"
    return f"{size:,} bytes"


def _copy_and_detect(chunks: Iterator[bytes], target: Path) -> tuple[int, str, str]:
    """Copy the file to ``target`` and return its size, format (csv or xlsx) and encoding (CSV only)."""
    limit = settings.IMPORT_MAX_FILE_BYTES
    size = 0
    file_format = "csv"
    check: _EncodingCheck | None = None
    head = b""
    with target.open("wb") as out:
        for chunk in chunks:
            if not chunk:
                continue
            if size == 0 or len(head) < SAMPLE_BYTES:
                head = (head + chunk)[:SAMPLE_BYTES]
            if check is None:
                file_format, candidates = _sniff(head)
                check = _EncodingCheck(candidates)
            size += len(chunk)
            if size > limit:
                raise _too_large(size)
            if file_format == "csv":
                check.feed(chunk)
            out.write(chunk)
    if size == 0:
        raise invalid("file", "The file is empty.")
    assert check is not None
    if file_format == "csv":
        declared = check.decoders.keys() - {"utf-8", "windows-1252"}
        check.feed(b"", final=True)
        if declared and not check.candidates:
            # The file announced its encoding (a BOM, or UTF-16's zero bytes) and then broke it: guessing
            # another encoding would garble the text, so say what is wrong instead.
            label = _ENCODING_LABELS[declared.pop()]
            raise invalid(
                "file", f"The file says it is {label} but contains bytes that are not; save it again as {label}."
            )
    return size, file_format, check.encoding if file_format == "csv" else ""


def _sniff(head: bytes) -> tuple[str, list[str]]:
    """Tell the format from the first bytes, and the encodings worth trying for a CSV file."""
    if head.startswith(_XLSX_MAGIC):
        return "xlsx", []
    if head.startswith(_OLE2_MAGIC):
        raise invalid("file", "This is an old Excel (.xls) file; save it as .xlsx or CSV and upload that.")
    for bom, name in _BOMS:
        if head.startswith(bom):
            return "csv", [name]
    utf16 = _utf16_without_bom(head[:4096])
    if utf16 is not None:
        return "csv", [utf16]
    if b"\x00" in head:
        raise invalid("file", "The file is not a CSV or Excel (.xlsx) file: it contains binary data.")
    return "csv", ["utf-8", "windows-1252"]


def _detect_delimiter(sample: str, *, complete: bool) -> str:
    """Pick the delimiter that splits the header into most columns with the rows agreeing on the count."""
    best, best_score = ",", (-1, 0)
    for delimiter in DELIMITERS:
        rows: list[list[str]] = []
        try:
            for row in csv.reader(io.StringIO(sample), delimiter=delimiter):
                if row:
                    rows.append(row)
                if len(rows) > 50:
                    break
        except csv.Error:
            complete = False  # what was read before the broken record still counts
        if not complete and len(rows) > 1:
            rows = rows[:-1]  # the sample may end in the middle of a record
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        agreeing = sum(1 for r in rows[1:] if len(r) == width)
        score = (agreeing, width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _check_headers(cells: Sequence[str]) -> list[str]:
    """Return the stripped headers, or raise if one is blank or two are the same."""
    headers = [cell.strip() for cell in cells]
    while headers and not headers[-1]:
        headers.pop()  # trailing empty columns (a delimiter at the end of the line) carry nothing
    if not headers:
        raise invalid("file", "The first line is empty; it must hold the column headers.")
    for position, header in enumerate(headers, start=1):
        if not header:
            raise invalid("file", f"Column {position} has no header; give every column a name in the first line.")
    seen: dict[str, int] = {}
    for position, header in enumerate(headers, start=1):
        folded = header.casefold()
        if folded in seen:
            raise invalid(
                "file",
                f"Columns {seen[folded]} and {position} are both called {header!r}; give each column its own name.",
            )
        seen[folded] = position
    return headers


def _first_records(job: ImportJob, limit: int) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Read the header and up to ``limit`` non-blank data records from the start of the file."""
    rows: list[tuple[int, list[str]]] = []
    with _Reader(job, _Position()) as reader:
        records = reader.records()
        header: list[str] | None = None
        for line, cells in records:
            if header is None:
                header = cells
                continue
            if not any(cells):
                continue
            rows.append((line, cells))
            if len(rows) >= limit:
                break
    return header or [], rows


def import_job_create(
    *,
    actor: User | None,
    via: str,
    object_type: str,
    original_name: str,
    source_path: str | os.PathLike[str] | None = None,
    uploaded: Any = None,
    mode: str = ImportJob.Mode.UPSERT,
    match_on: str | None = None,
    party: str = Party.FIRST,
    party_name: str = "",
) -> ImportJob:
    """Store a CSV or XLSX file as a new import job and suggest how its columns map to fields.

    Give either ``source_path`` (a file on disk) or ``uploaded`` (a Django ``UploadedFile``). The format is
    told by the file's first bytes, not its name; a CSV file's encoding (UTF-8 with or without a BOM,
    UTF-16, else Windows-1252) and delimiter (comma, semicolon, tab or pipe) are detected and recorded.
    Raises ``ValidationFailed`` with one clear sentence for an empty, header-only or oversized file, or
    for blank or repeated headers.
    """
    if actor is not None:
        require(actor, "records.import")
    match_on = match_on or default_match_on(object_type)
    _check_options(object_type=object_type, mode=mode, match_on=match_on, party=party, party_name=party_name)
    if uploaded is None and source_path is None:
        raise invalid("file", "Choose a file to import.")
    declared = getattr(uploaded, "size", None) if uploaded is not None else _source_size(source_path)
    if declared is not None and declared > settings.IMPORT_MAX_FILE_BYTES:
        raise _too_large(declared)
    job = ImportJob(
        object_type=object_type,
        created_by=actor,
        via=via,
        original_name=(original_name or "import.csv")[:255],
        mode=mode,
        match_on=match_on,
        party=party,
        party_name=party_name.strip(),
        status=ImportJob.Status.UPLOADED,
    )
    # The file is copied and checked before the job is saved, so no transaction (on SQLite: no write lock)
    # stays open while a large upload is copied.
    staging = Path(settings.MEDIA_ROOT) / "imports" / f"upload-{uuid.uuid4().hex}"
    staging.mkdir(parents=True)
    try:
        target = staging / "upload.tmp"
        size, file_format, encoding = _copy_and_detect(_chunks_of(source_path, uploaded), target)
        final = target.rename(staging / f"upload.{file_format}")
        job.file_path = str(final.relative_to(Path(settings.MEDIA_ROOT)))
        job.file_size = size
        job.file_format = file_format
        job.encoding = encoding
        if file_format == "csv":
            job.delimiter = _sniff_delimiter(final, encoding)
        header, rows = _first_records(job, 1)
        if not header or not any(cell.strip() for cell in header):
            raise invalid(
                "file",
                "The file is empty." if not rows else "The first line is empty; it must hold the column headers.",
            )
        job.headers = _check_headers(header)
        if not rows:
            raise invalid("file", "The file has a header line but no data rows.")
        job.mapping = import_mapping_suggest(object_type=object_type, headers=job.headers)
        with transaction.atomic():
            job.save()
            directory = import_job_directory(job)
            # An id can come back after a rolled-back upload (SQLite); whatever is left there is stale.
            shutil.rmtree(directory, ignore_errors=True)
            staging.rename(directory)
            job.file_path = str((directory / final.name).relative_to(Path(settings.MEDIA_ROOT)))
            job.save(update_fields=["file_path"])
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return job


def _source_size(source_path: str | os.PathLike[str] | None) -> int | None:
    if source_path is None:
        return None
    try:
        return os.stat(source_path).st_size
    except OSError as exc:
        raise invalid("file", f"The file {os.fspath(source_path)!r} can't be opened ({exc.strerror}).") from None


def _sniff_delimiter(path: Path, encoding: str) -> str:
    codec = _codec(encoding)
    with path.open("rb") as raw:
        raw.seek(_bom_length(path, encoding))
        data = raw.read(SAMPLE_BYTES + 1)
    complete = len(data) <= SAMPLE_BYTES
    text = codecs.getincrementaldecoder(codec)(errors="replace").decode(data[:SAMPLE_BYTES], complete)
    return _detect_delimiter(text, complete=complete)


def _check_options(*, object_type: str, mode: str, match_on: str, party: str, party_name: str) -> None:
    errors: list[FieldError] = []
    if object_type not in ObjectType.values:
        errors.append(FieldError("object_type", "Choose contacts or accounts."))
    if mode not in ImportJob.Mode.values:
        errors.append(FieldError("mode", f"{mode!r} is not a mode; use create, update or upsert."))
    if object_type in ObjectType.values and match_on not in dict(match_choices(object_type)):
        errors.append(FieldError("match_on", _match_choices(object_type)))
    if party not in Party.values:
        errors.append(FieldError("party", f"{party!r} is not a party; use first, second or third."))
    elif party != Party.FIRST and not party_name.strip():
        who = "partner" if party == Party.SECOND else "data provider"
        errors.append(FieldError("party_name", f"Name the {who} the data comes from."))
    if len(party_name.strip()) > 100:
        errors.append(FieldError("party_name", "is too long (at most 100 characters)."))
    if errors:
        raise ValidationFailed("The import options are not valid.", errors)


# --- Looking at a job before it runs ----------------------------------------------------------------


def import_job_get(*, actor: User | None, job_id: int) -> ImportJob:
    """Fetch a job its creator or an admin may see; anyone else gets ``NotFound``, as if it didn't exist."""
    if actor is not None:
        require(actor, "records.import")
    try:
        job = ImportJob.objects.select_related("created_by").get(pk=job_id)
    except (ImportJob.DoesNotExist, ValueError, TypeError):
        raise NotFound(f"No import with id {job_id}.") from None
    if actor is not None and actor.role != Role.ADMIN and job.created_by_id != actor.pk:
        raise NotFound(f"No import with id {job_id}.")
    return job


def import_jobs_visible(*, actor: User) -> QuerySet[ImportJob]:
    """The import history the user may see: their own jobs, or every job for an admin."""
    require(actor, "records.import")
    jobs = ImportJob.objects.select_related("created_by").order_by("-created_at", "-id")
    return jobs if actor.role == Role.ADMIN else jobs.filter(created_by=actor)


def import_samples(*, job: ImportJob, per_column: int = 3, rows: int = 200) -> dict[str, list[str]]:
    """Up to ``per_column`` distinct non-empty values of each column, from the first rows of the file."""
    _, records = _first_records(job, rows)
    samples: dict[str, list[str]] = {header: [] for header in job.headers}
    for _, cells in records:
        for header, cell in zip(job.headers, cells, strict=False):
            value = " ".join(cell.split())
            found = samples[header]
            if value and len(found) < per_column and value not in found:
                found.append(value[:60] + ("…" if len(value) > 60 else ""))
    return samples


def import_mapping_save(*, actor: User | None, job_id: int, mapping: Mapping[str, object]) -> ImportJob:
    """Check and store a job's column mapping; only a job that hasn't started can be re-mapped."""
    with transaction.atomic():
        job = import_job_get(actor=actor, job_id=job_id)
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        if job.status != ImportJob.Status.UPLOADED:
            raise invalid("mapping", "This import has already started; its mapping can't change.")
        job.mapping = import_mapping_check(
            object_type=job.object_type, headers=job.headers, mapping=mapping, mode=job.mode, match_on=job.match_on
        )
        job.save(update_fields=["mapping", "updated_at"])
    return job


@dataclass
class PreviewCell:
    """One mapped cell of a preview row: the column, the value as it would be stored, and its problem."""

    header: str
    target: str
    value: str
    problem: str = ""


@dataclass
class PreviewRow:
    """One row of the preview: its line in the file, its mapped cells and the problems that would reject it."""

    line: int
    cells: list[PreviewCell]
    problems: list[str] = field(default_factory=list)


@dataclass
class Preview:
    """The first rows of a file as they would be imported, and how many of them have problems."""

    rows: list[PreviewRow]
    problem_rows: int
    ignored: list[str]


class _RowBuilder:
    """Turns a record's cells into the values ``contacts_upsert_batch`` / ``accounts_upsert_batch`` take."""

    def __init__(self, job: ImportJob, owners: _Owners) -> None:
        self.width = len(job.headers)
        index = {header: i for i, header in enumerate(job.headers)}
        self.plain: list[tuple[int, str]] = []
        self.custom: list[tuple[int, str]] = []
        self.consent: list[tuple[int, str]] = []
        self.owner: int | None = None
        for header, target in job.mapping.items():
            if header not in index:
                continue
            i = index[header]
            if target.startswith("custom."):
                self.custom.append((i, target[7:]))
            elif target.startswith("consent."):
                self.consent.append((i, target[8:]))
            elif target == "owner":
                self.owner = i
            else:
                self.plain.append((i, target))
        self.owners = owners

    def values(self, cells: Sequence[str]) -> dict[str, Any]:
        """Mapped values of one record; empty cells are left out, so they never blank what a record has."""
        n = len(cells)
        values: dict[str, Any] = {}
        for i, name in self.plain:
            if i < n:
                value = cells[i]
                if value and not value.isspace():
                    values[name] = value
        if self.owner is not None and self.owner < n:
            value = cells[self.owner]
            if value and not value.isspace():
                values["owner_id"] = self.owners.resolve(value)
        if self.custom:
            custom = {key_: cells[i] for i, key_ in self.custom if i < n and cells[i] and not cells[i].isspace()}
            if custom:
                values["custom"] = custom
        if self.consent:
            consent = {c: cells[i] for i, c in self.consent if i < n and cells[i] and not cells[i].isspace()}
            if consent:
                values["consent"] = consent
        return values

    def width_problem(self, cells: Sequence[str]) -> str | None:
        """A record with more values than the header has columns is misaligned (an unquoted delimiter)."""
        if len(cells) > self.width and any(cell.strip() for cell in cells[self.width :]):
            return (
                f"The row has {len(cells)} values but the header has {self.width} columns; "
                "quote values that contain the delimiter."
            )
        return None


class _Owners:
    """Resolves an owner cell (id, username, email or full name) to a user id, with one query per run."""

    def __init__(self) -> None:
        self._by_ref: dict[str, str] | None = None

    def load(self) -> None:
        """Read the users now (a read-ahead process resolves owners without the database)."""
        if self._by_ref is None:
            by_ref: dict[str, str] = {}
            names: dict[str, list[int]] = {}
            users = User.objects.filter(is_active=True).exclude(role=Role.PARTNER)
            for pk, username, email, first, last in users.values_list(
                "pk", "username", "email", "first_name", "last_name"
            ):
                by_ref[username.lower()] = str(pk)
                if email:
                    by_ref.setdefault(email.lower(), str(pk))
                full = " ".join(f"{first} {last}".lower().split())
                if full:
                    names.setdefault(full, []).append(pk)
            for full, pks in names.items():
                if len(pks) == 1:  # a name two users share can't say which of them is meant
                    by_ref.setdefault(full, str(pks[0]))
            self._by_ref = by_ref

    def resolve(self, value: str) -> str:
        self.load()
        assert self._by_ref is not None
        # Unknown values pass through, for validation to reject with its own clear message.
        return self._by_ref.get(" ".join(value.lower().split()), value)


def _display(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def import_preview(*, job: ImportJob, limit: int = 50) -> Preview:
    """The first ``limit`` rows as they would be cleaned, each with the problems that would reject it.

    Nothing is written. A row is checked on its own, as a new record would be (in update-only mode, as
    a change to an existing one), so a problem that depends on what the database holds (an email that
    another contact has) shows only when the import runs.
    """
    lookups = Lookups.load(actor=job.created_by, object_type=job.object_type)
    builder = _RowBuilder(job, _Owners())
    _, records = _first_records(job, limit)
    contacts = job.object_type == ObjectType.CONTACT
    labels = problem_labels(object_type=job.object_type, custom_fields=lookups.custom_fields.values())
    rows: list[PreviewRow] = []
    new_records = job.mode != ImportJob.Mode.UPDATE
    for line, cells in records:
        values = builder.values(cells)
        problems: list[FieldError] = []
        width = builder.width_problem(cells)
        if width:
            problems.append(FieldError("", width))
        cleaned: dict[str, Any] = {}
        company = str(values.pop("company", ""))
        company_domain = str(values.pop("company_domain", ""))
        try:
            if contacts:
                cleaned = clean_contact(values, lookups, partial=True, from_text=True)
            else:
                cleaned = clean_account(values, lookups, partial=True, from_text=True)
        except ValidationFailed as exc:
            problems += exc.errors
        if company:
            cleaned["company"] = " ".join(company.split())
            if len(cleaned["company"]) > 200:
                problems.append(FieldError("company", "is too long (at most 200 characters)."))
        if company_domain:
            try:
                cleaned["company_domain"] = normalise.domain(company_domain)
            except ValueError as exc:
                problems.append(FieldError("company_domain", str(exc)))
        if new_records and not problems:
            if contacts and not any(cleaned.get(f) for f in ("first_name", "last_name", "email", "phone")):
                problems.append(FieldError("", "A contact needs at least a name, an email address or a phone number."))
            if not contacts and not cleaned.get("name"):
                problems.append(FieldError("name", "An account needs a name."))
            custom = cleaned.get("custom", {})
            for key_, definition in lookups.custom_fields.items():
                if definition.required and custom.get(key_) in (None, "", []):
                    problems.append(FieldError(f"custom.{key_}", f"{definition.label} is required."))
        rows.append(_preview_row(job, line, cells, cleaned, problems, labels))
    ignored = [h for h in job.headers if h not in job.mapping]
    return Preview(rows=rows, problem_rows=sum(1 for r in rows if r.problems), ignored=ignored)


def _preview_row(
    job: ImportJob,
    line: int,
    cells: Sequence[str],
    cleaned: Mapping[str, Any],
    problems: list[FieldError],
    labels: Mapping[str, str],
) -> PreviewRow:
    index = {header: i for i, header in enumerate(job.headers)}
    by_field: dict[str, str] = {}
    for error in problems:
        by_field.setdefault({"owner_id": "owner"}.get(error.field, error.field), error.message)
    preview_cells = []
    for header in job.headers:  # in the file's order (a JSON object's key order is not kept by every database)
        target = job.mapping.get(header)
        if target is None:
            continue
        i = index.get(header)
        raw = cells[i] if i is not None and i < len(cells) else ""
        if target.startswith("custom."):
            value = cleaned.get("custom", {}).get(target[7:], raw)
        elif target.startswith("consent."):
            value = cleaned.get("consent", {}).get(target[8:], raw)
        elif target == "owner":
            value = raw
        else:
            value = cleaned.get(target, raw)
        problem = by_field.get(target, "")
        if not problem and target.startswith("consent."):
            problem = by_field.get("consent", "")
        preview_cells.append(PreviewCell(header=header, target=target, value=_display(value), problem=problem))
    return PreviewRow(line=line, cells=preview_cells, problems=[problem_text(p, labels) for p in problems])


def import_job_delete(*, actor: User | None, job_id: int) -> None:
    """Remove a job that is not queued or running, with its uploaded file and rejected-rows file."""
    with transaction.atomic():
        job = import_job_get(actor=actor, job_id=job_id)
        if job.status in (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING) and not import_job_stalled(job):
            raise invalid("status", "This import is running; it can be removed once it has finished.")
        directory = import_job_directory(job)
        job.delete()
        transaction.on_commit(lambda: shutil.rmtree(directory, ignore_errors=True))


# --- Running a job ----------------------------------------------------------------------------------


def import_job_stalled(job: ImportJob) -> bool:
    """Whether a queued or running job has made no progress for a while (its worker died), so it can be resumed."""
    active = job.status in (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING)
    return active and job.updated_at < timezone.now() - STALLED_AFTER


def import_job_queue(*, actor: User | None, job_id: int) -> ImportJob:
    """Hand a job (new, failed part-way, or stalled) to the worker, once the current transaction commits."""
    from rapport.contacts.tasks import import_run_task

    with transaction.atomic():
        job = import_job_get(actor=actor, job_id=job_id)
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        resumable = job.status in (ImportJob.Status.UPLOADED, ImportJob.Status.FAILED) or import_job_stalled(job)
        if not resumable:
            raise invalid("status", f"This import is {job.get_status_display().lower()}; it can't be started again.")
        import_mapping_check(
            object_type=job.object_type, headers=job.headers, mapping=job.mapping, mode=job.mode, match_on=job.match_on
        )
        job.status = ImportJob.Status.QUEUED
        job.error = ""
        job.save(update_fields=["status", "error", "updated_at"])
        transaction.on_commit(lambda: import_run_task(job.pk))
    return job


def imports_resume_stalled() -> int:
    """Queue again every import whose worker stopped mid-way (crash, restart); return how many.

    Committed rows are never written twice (a run resumes after the last committed batch, and a second
    run of a job that is still going stops at its first commit), so re-queuing a slow job is harmless.
    """
    from rapport.contacts.tasks import import_run_task

    stalled = ImportJob.objects.filter(
        status__in=(ImportJob.Status.QUEUED, ImportJob.Status.RUNNING), updated_at__lt=timezone.now() - STALLED_AFTER
    )
    resumed = 0
    with transaction.atomic():
        for job in stalled.select_for_update(skip_locked=True):
            job.status = ImportJob.Status.QUEUED
            job.save(update_fields=["status", "updated_at"])
            transaction.on_commit(functools.partial(import_run_task, job.pk))
            resumed += 1
    return resumed


class _Superseded(Exception):
    """Another run of the same job committed first; this one stops without writing."""


class _DryRunDone(Exception):
    """Raised at the end of a dry run to roll everything back."""

    def __init__(self, job: ImportJob) -> None:
        self.job = job


@dataclass
class _Counts:
    rows: int = 0
    created: int = 0
    updated: int = 0
    merged: int = 0
    skipped: int = 0
    rejected: int = 0

    def add(self, status: str) -> None:
        setattr(self, status, getattr(self, status) + 1)


class _Rejects:
    """The rejected-rows CSV: the original columns plus ``line`` and ``reason``, in UTF-8 with a BOM for Excel."""

    def __init__(self, job: ImportJob) -> None:
        self.path = import_job_directory(job) / REJECTS_NAME
        self.headers = list(job.headers)
        # Lines written after the last commit belong to a batch that rolled back; a resumed run drops them.
        with self.path.open("ab") as out:
            out.truncate(job.rejects_bytes)
        self.size = job.rejects_bytes

    def write(self, rows: Sequence[tuple[Sequence[str], int, str]]) -> None:
        if not rows:
            return
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        width = len(self.headers)
        if self.size == 0:
            writer.writerow([*self.headers, "line", "reason"])
        for cells, line, reason in rows:
            padded = list(cells[:width]) + [""] * (width - len(cells))
            writer.writerow([*padded, line, reason])
        data = buffer.getvalue().encode("utf-8")
        if self.size == 0:
            data = codecs.BOM_UTF8 + data
        with self.path.open("ab") as out:
            out.write(data)
            out.flush()  # before the batch commits, so the size recorded with it is on disk
        self.size += len(data)


ProgressCallback = Callable[[ImportJob], None]


def import_run(*, job_id: int, dry_run: bool = False, on_progress: ProgressCallback | None = None) -> ImportJob:
    """Import a job's file in batches; resume after the last committed batch if an earlier run stopped.

    Each batch of rows is written with the job's counters and position in one transaction, so a crash
    loses and duplicates nothing: running the job again carries on where it stopped. A problem with the
    file itself (a quote never closed) fails the job with a message naming the line; any other error
    fails it too, and is raised again so that the worker retries. ``dry_run`` runs the whole import in
    one transaction and rolls it back: the job records the counts it would have had, and the
    rejected-rows file is kept. ``on_progress`` is called with the job after each batch.
    """
    if not dry_run:
        return _run(job_id, on_progress)
    try:
        with transaction.atomic():
            return _run(job_id, on_progress, dry_run=True)  # returns only when the job had already finished
    except _DryRunDone as done:
        result = done.job
    ImportJob.objects.filter(pk=job_id).update(
        status=ImportJob.Status.DONE,
        dry_run=True,
        started_at=result.started_at,
        finished_at=timezone.now(),
        rows_done=result.rows_done,
        created=result.created,
        updated=result.updated,
        merged=result.merged,
        skipped=result.skipped,
        rejected=result.rejected,
        bytes_read=result.bytes_read,
        lines_read=result.lines_read,
        rejects_bytes=result.rejects_bytes,
        error="",
    )
    return ImportJob.objects.get(pk=job_id)


def _run(job_id: int, on_progress: ProgressCallback | None, *, dry_run: bool = False) -> ImportJob:
    with transaction.atomic():
        job = ImportJob.objects.select_for_update(of=("self",)).select_related("created_by").get(pk=job_id)
        if job.status == ImportJob.Status.DONE:
            return job
        job.status = ImportJob.Status.RUNNING
        job.started_at = job.started_at or timezone.now()
        job.error = ""
        job.save(update_fields=["status", "started_at", "error", "updated_at"])
    try:
        import_mapping_check(
            object_type=job.object_type, headers=job.headers, mapping=job.mapping, mode=job.mode, match_on=job.match_on
        )
        with bulk_writes(), fewer_collections():
            _stream(job, on_progress)
    except _Superseded:
        return ImportJob.objects.get(pk=job_id)
    except RapportError as exc:
        if dry_run:
            raise
        # The file, the mapping or the user's role is wrong: running again would fail the same way, so don't retry.
        _fail(job, str(exc))
        return ImportJob.objects.get(pk=job_id)
    except Exception as exc:
        if dry_run:
            raise
        logger.exception("Import %s stopped at line %s", job_id, job.lines_read)
        _fail(
            job,
            f"The import stopped after line {job.lines_read:,} because of an unexpected error "
            f"({exc.__class__.__name__}: {exc}). Rows up to there are saved; start it again to carry on from there.",
        )
        raise
    with transaction.atomic():
        ImportJob.objects.filter(pk=job_id).update(
            status=ImportJob.Status.DONE,
            finished_at=timezone.now(),
            bytes_read=job.file_size,
            updated_at=timezone.now(),
        )
        job.refresh_from_db()
        if dry_run:
            raise _DryRunDone(job)
    statistics_refresh(["contacts_contact", "contacts_account"])
    if on_progress is not None:
        on_progress(job)
    return job


def _fail(job: ImportJob, message: str) -> None:
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.FAILED, error=message[:2000], finished_at=timezone.now(), updated_at=timezone.now()
    )


# Files this large are read and cleaned ahead, in a forked process, while this one writes.
READ_AHEAD_BYTES = 2_000_000


@dataclass
class _Batch:
    """Records read and cleaned, ready to write, and where the file stands after them."""

    size: int
    position: _Position
    rows: list[tuple[int, Mapping[str, Any]]]  # for contacts, only those ``ready`` left pending
    rejected: list[tuple[Sequence[str], int, str]]
    cells_by_line: dict[int, list[str] | str]  # every row that goes to the upsert (packed: as JSON)
    ready: PreparedContacts | None = None

    def cells(self, line: int) -> list[str]:
        cells = self.cells_by_line[line]
        return json.loads(cells) if isinstance(cells, str) else cells

    def pack(self) -> _Batch:
        """Make the batch cheaper to pass to another process: the cells, needed only for the few rows that
        end up rejected, travel as one string a row instead of one a value."""
        self.cells_by_line = {
            line: c if isinstance(c, str) else json.dumps(c) for line, c in self.cells_by_line.items()
        }
        return self


def _stream(job: ImportJob, on_progress: ProgressCallback | None) -> None:
    """Read the file from the job's committed position and import it batch by batch."""
    actor = job.created_by
    lookups = Lookups.load(actor=actor, object_type=job.object_type)
    builder = _RowBuilder(job, _Owners())
    # Read now what cleaning looks up, so that a read-ahead process can clean without the database.
    if builder.owner is not None:
        builder.owners.load()
        lookups.preload_users()
    if any(target.startswith("partner") for target in job.mapping.values()):
        lookups.preload_partners()
    rejects = _Rejects(job)
    labels = problem_labels(object_type=job.object_type, custom_fields=lookups.custom_fields.values())
    provenance = Provenance(job.party, job.party_name or f"import #{job.pk}: {job.original_name}"[:200])
    contacts = job.object_type == ObjectType.CONTACT
    # Nothing committed yet means starting from the top, whatever the byte count says.
    committed = _Position(job.lines_read, job.bytes_read if job.lines_read else 0)

    def prepare(records: list[tuple[int, list[str]]], position: _Position) -> _Batch:
        batch = _Batch(len(records), position, [], [], {})
        for line, cells in records:
            problem = builder.width_problem(cells)
            if problem:
                batch.rejected.append((cells, line, problem))
                continue
            batch.rows.append((line, builder.values(cells)))
            batch.cells_by_line[line] = cells
        if contacts and batch.rows:
            batch.ready = contacts_prepare(batch.rows, lookups=lookups, match_on=job.match_on, from_text=True)
            # What is cleaned need not travel twice (the read-ahead process pickles each batch).
            batch.rows = [row for row in batch.rows if row[0] in batch.ready.pending]
        return batch

    def commit(batch: _Batch) -> None:
        counts = _Counts()
        rejected, position = batch.rejected, batch.position
        with transaction.atomic():
            # Lock the job and check that no other run moved it on since this one read its position.
            current = ImportJob.objects.select_for_update().values_list("lines_read", flat=True).get(pk=job.pk)
            if current != committed.line:
                raise _Superseded
            outcomes: list[RowOutcome] = []
            if batch.ready is not None:
                outcomes = contacts_upsert_batch(
                    actor=actor,
                    via=Via.IMPORT,
                    rows=batch.rows,
                    mode=job.mode,
                    match_on=job.match_on,
                    provenance=provenance,
                    from_text=True,
                    import_job=job,
                    lookups=lookups,
                    ready=batch.ready,
                )
            elif batch.rows:
                outcomes = accounts_upsert_batch(
                    actor=actor,
                    via=Via.IMPORT,
                    rows=batch.rows,
                    mode=job.mode,
                    match_on=job.match_on,
                    provenance=provenance,
                    from_text=True,
                    import_job=job,
                    lookups=lookups,
                )
            for outcome in outcomes:
                counts.add(outcome.status)
                if outcome.status == RowStatus.REJECTED:
                    rejected.append((batch.cells(outcome.index), outcome.index, problems_text(outcome.errors, labels)))
            counts.rejected += batch.size - len(batch.cells_by_line)
            counts.rows = batch.size
            rejected.sort(key=lambda r: r[1])
            rejects.write(rejected)
            ImportJob.objects.filter(pk=job.pk).update(
                rows_done=F("rows_done") + counts.rows,
                created=F("created") + counts.created,
                updated=F("updated") + counts.updated,
                merged=F("merged") + counts.merged,
                skipped=F("skipped") + counts.skipped,
                rejected=F("rejected") + counts.rejected,
                lines_read=position.line,
                bytes_read=position.offset,
                rejects_bytes=rejects.size,
                updated_at=timezone.now(),
            )
        committed.line, committed.offset = position.line, position.offset
        for name in ("created", "updated", "merged", "skipped", "rejected"):
            setattr(job, name, getattr(job, name) + getattr(counts, name))
        job.rows_done += counts.rows
        job.lines_read, job.bytes_read, job.rejects_bytes = position.line, position.offset, rejects.size
        if on_progress is not None:
            on_progress(job)

    start = _Position(committed.line, committed.offset)
    ahead = job.file_size - committed.offset >= READ_AHEAD_BYTES and "fork" in mp.get_all_start_methods()
    batches = _read_ahead(job, start, prepare) if ahead else _read_batches(job, start, prepare)
    for batch in batches:
        if batch.size or batch.position.line != committed.line:
            commit(batch)


def _read_batches(
    job: ImportJob,
    start: _Position,
    prepare: Callable[[list[tuple[int, list[str]]], _Position], _Batch],
    first: int | None = None,
) -> Iterator[_Batch]:
    """The file's batches from ``start`` (the first one at most ``first`` rows), the last one possibly
    empty (trailing blank lines still move the position on). An unreadable record ends them: the batch
    before it comes first, then the error."""
    with _Reader(job, start) as reader:
        records = reader.records()
        chunk: list[tuple[int, list[str]]] = []
        size = first or BATCH_SIZE

        def here() -> _Position:
            return _Position(reader.position.line, reader.position.offset)

        try:
            if start.line == 0:
                next(records, None)  # the header
            for line, cells in records:
                if any(cells):  # blank lines are not rows
                    chunk.append((line, cells))
                    if len(chunk) >= size:
                        yield prepare(chunk, here())
                        chunk, size = [], BATCH_SIZE
        except ImportFileError:
            # The rows before the unreadable record are good: they go in before the job fails.
            yield prepare(chunk, here())
            raise
        yield prepare(chunk, here())


def _read_ahead(
    job: ImportJob, start: _Position, prepare: Callable[[list[tuple[int, list[str]]], _Position], _Batch]
) -> Iterator[_Batch]:
    """``_read_batches`` run in a forked process, so that reading and cleaning the next batch overlaps
    writing this one on another core. The child never touches the database (what cleaning looks up was
    read before the fork; anything else is left pending for this process) and leaves with ``os._exit``,
    so the connection it inherited is not closed under this process."""
    receiver, sender = mp.get_context("fork").Pipe(duplex=False)

    def child() -> None:
        receiver.close()
        try:
            # A small first batch: the writer waits for it with nothing else to do.
            for batch in _read_batches(job, start, prepare, first=BATCH_SIZE // 5):
                sender.send(("batch", batch.pack()))
        except ImportFileError as exc:
            sender.send(("unreadable", str(exc)))
        except BaseException as exc:  # the parent raises it as the import's failure
            sender.send(("failed", f"{exc.__class__.__name__}: {exc}"))
        else:
            sender.send(("end", None))
        sender.close()

    process = mp.get_context("fork").Process(target=child, name=f"rapport-import-{job.pk}-reader", daemon=True)
    process.start()
    sender.close()
    try:
        while True:
            try:
                kind, payload = receiver.recv()
            except EOFError:
                raise RuntimeError("the process reading the file ahead stopped unexpectedly") from None
            if kind == "batch":
                yield payload
            elif kind == "unreadable":
                raise ImportFileError(payload)
            elif kind == "failed":
                raise RuntimeError(f"reading the file failed: {payload}")
            else:
                return
    finally:
        receiver.close()
        if process.is_alive():
            process.terminate()
        process.join()


# --- Reading a job's outcome ------------------------------------------------------------------------


def import_summary_lines(job: ImportJob) -> list[str]:
    """The outcome of a job in a few lines of text, for the command line."""
    what = "contacts" if job.object_type == ObjectType.CONTACT else "accounts"
    head = f"Import #{job.pk} of {job.original_name} ({what}): {job.rows_done:,} row{'' if job.rows_done == 1 else 's'}"
    if job.dry_run:
        head += " — dry run, nothing was written"
    lines = [head]
    for name in ("created", "updated", "merged", "skipped", "rejected"):
        lines.append(f"  {name:<9}{getattr(job, name):>10,}")
    return lines


def encoding_label(encoding: str) -> str:
    """A reader-friendly name of a detected encoding."""
    return _ENCODING_LABELS.get(encoding, encoding)


def import_file_description(job: ImportJob) -> str:
    """What was detected about the file: ``CSV, UTF-8 (with BOM), semicolon-separated, 12.3 KB``."""
    if job.file_format == "xlsx":
        return f"Excel workbook (first sheet), {_size_text(job.file_size)}"
    delimiter = DELIMITER_NAMES.get(job.delimiter, repr(job.delimiter))
    return f"CSV, {encoding_label(job.encoding)}, {delimiter}-separated, {_size_text(job.file_size)}"
