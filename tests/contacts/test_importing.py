"""The import engine: reading CSV and XLSX files of every common shape, mapping, matching, rejecting, resuming."""

from __future__ import annotations

import csv
import datetime as dt
import io
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from openpyxl import Workbook

from rapport.contacts import importing
from rapport.contacts.importing import (
    import_job_create,
    import_job_queue,
    import_mapping_check,
    import_mapping_save,
    import_mapping_suggest,
    import_preview,
    import_run,
    import_samples,
)
from rapport.contacts.models import Account, Contact, CustomField, DataSource, ImportJob
from rapport.core.errors import Forbidden, ValidationFailed
from rapport.core.models import AuditEntry, Via
from tests.factories import AccountFactory, ContactFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Each test keeps its uploads in its own directory (job ids repeat across test databases)."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Path(settings.MEDIA_ROOT)


def write(tmp_path: Path, text: str, name: str = "people.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def create(actor: Any, path: Path, **options: Any) -> ImportJob:
    return import_job_create(
        actor=actor,
        via=Via.CLI,
        object_type=options.pop("object_type", "contact"),
        original_name=path.name,
        source_path=path,
        **options,
    )


def run(actor: Any, path: Path, mapping: dict[str, Any] | None = None, **options: Any) -> ImportJob:
    job = create(actor, path, **options)
    if mapping is not None:
        import_mapping_save(actor=actor, job_id=job.pk, mapping=mapping)
    return import_run(job_id=job.pk)


def rejected_rows(job: ImportJob) -> list[list[str]]:
    path = importing.import_rejects_path(job)
    assert path is not None
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 with a BOM correctly
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def counts(job: ImportJob) -> dict[str, int]:
    return job.summary()


# --- Encodings, delimiters and file shapes ----------------------------------------------------------


def test_a_utf8_file_with_a_bom_is_read_without_the_bom_in_the_first_header(world, tmp_path):
    path = write(tmp_path, "Email,First Name\nada@example.org,Ada\n", encoding="utf-8-sig")

    job = run(world.marketer, path)

    assert job.encoding == "utf-8-sig"
    assert job.headers == ["Email", "First Name"]
    assert job.mapping == {"Email": "email", "First Name": "first_name"}
    assert counts(job) == {"rows": 1, "created": 1, "updated": 0, "merged": 0, "skipped": 0, "rejected": 0}
    assert Contact.objects.get().email == "ada@example.org"


def test_a_semicolon_separated_file_keeps_commas_inside_values(world, tmp_path):
    path = write(tmp_path, "Email;Last Name;Job Title\nbo@example.org;Doe, Jr.;Head of Sales, EMEA\n")

    job = run(world.marketer, path)

    assert job.delimiter == ";"
    contact = Contact.objects.get()
    assert (contact.last_name, contact.job_title) == ("Doe, Jr.", "Head of Sales, EMEA")


def test_tab_and_pipe_separated_files_are_detected(world, tmp_path):
    tabbed = write(tmp_path, "email\tfirst_name\ncy@example.org\tCy\n", name="tabs.tsv")
    piped = write(tmp_path, "email|first_name\ndi@example.org|Di\n", name="pipes.txt")

    assert run(world.marketer, tabbed).delimiter == "\t"
    assert run(world.marketer, piped).delimiter == "|"
    assert sorted(Contact.objects.values_list("first_name", flat=True)) == ["Cy", "Di"]


def test_quoted_newlines_count_as_physical_lines_in_later_rows_line_numbers(world, tmp_path):
    text = (
        "Email,First Name,Street\n"  # line 1
        'ann@example.org,Ann,"1 Main Street\nSuite 2\nBack door"\n'  # lines 2-4
        "bad-email,Ben,\n"  # line 5
        'cat@example.org,"Cat\n",Elm Road\n'  # lines 6-7
        "also@bad,Dan,\n"  # line 8
    )
    path = write(tmp_path, text)

    job = run(world.marketer, path, mapping={"Email": "email", "First Name": "first_name", "Street": "street"})

    assert counts(job) == {"rows": 4, "created": 2, "updated": 0, "merged": 0, "skipped": 0, "rejected": 2}
    assert Contact.objects.get(email="ann@example.org").street == "1 Main Street\nSuite 2\nBack door"
    assert [row[3] for row in rejected_rows(job)[1:]] == ["5", "8"]
    assert job.lines_read == 8


def test_a_windows_1252_file_with_crlf_line_ends_is_read_as_windows_1252(world, tmp_path):
    path = write(
        tmp_path, "Email;Vorname;Nachname;Position\r\nmu@example.de;Jürgen;Müller;Café-Leiter €\r\n", encoding="cp1252"
    )

    job = run(world.marketer, path)

    assert job.encoding == "windows-1252"
    contact = Contact.objects.get()
    assert (contact.first_name, contact.last_name, contact.job_title) == ("Jürgen", "Müller", "Café-Leiter €")


def test_a_utf16_file_is_read_with_or_without_its_bom(world, tmp_path):
    with_bom = write(tmp_path, "Email\tFirst Name\r\nzoe@example.org\tZoë\r\n", name="bom.txt", encoding="utf-16")
    without = write(tmp_path, "Email,First Name\nyan@example.org,Yán\n", name="nobom.csv", encoding="utf-16-le")

    first = run(world.marketer, with_bom)
    second = run(world.marketer, without)

    assert (first.encoding, first.delimiter) == ("utf-16-le", "\t")
    assert (second.encoding, second.delimiter) == ("utf-16-le", ",")
    assert sorted(Contact.objects.values_list("first_name", flat=True)) == ["Yán", "Zoë"]
    assert first.bytes_read == with_bom.stat().st_size


def test_an_empty_file_is_refused_and_leaves_no_job_behind(world, tmp_path, media_root):
    path = write(tmp_path, "")

    with pytest.raises(ValidationFailed) as caught:
        create(world.marketer, path)

    assert caught.value.errors[0].message == "The file is empty."
    assert ImportJob.objects.count() == 0
    assert not any((media_root / "imports").iterdir())


def test_a_file_with_only_a_header_is_refused(world, tmp_path):
    path = write(tmp_path, "email,first_name\n\n")

    with pytest.raises(ValidationFailed) as caught:
        create(world.marketer, path)

    assert caught.value.errors[0].message == "The file has a header line but no data rows."


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("email,,first_name", "Column 2 has no header; give every column a name in the first line."),
        ("Email,first_name,EMAIL", "Columns 1 and 3 are both called 'EMAIL'; give each column its own name."),
    ],
)
def test_blank_and_repeated_headers_are_refused(world, tmp_path, header, message):
    path = write(tmp_path, f"{header}\na@example.org,Al,x\n")

    with pytest.raises(ValidationFailed) as caught:
        create(world.marketer, path)

    assert caught.value.errors[0].message == message


def test_a_trailing_delimiter_on_the_header_is_not_a_blank_column(world, tmp_path):
    path = write(tmp_path, "email,first_name,\na@example.org,Al,\n")

    job = run(world.marketer, path)

    assert job.headers == ["email", "first_name"]
    assert job.created == 1


def test_a_file_over_the_size_limit_is_refused(world, tmp_path, settings):
    settings.IMPORT_MAX_FILE_BYTES = 100
    path = write(tmp_path, "email\n" + "a@example.org\n" * 20)

    with pytest.raises(ValidationFailed) as caught:
        create(world.marketer, path)

    assert caught.value.errors[0].message == (
        "The file is 286 bytes; imports take files of up to 100 bytes. Split it into parts."
    )


def test_binary_files_and_old_excel_files_are_refused_by_their_content(world, tmp_path):
    old_excel = tmp_path / "people.csv"
    old_excel.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100)
    binary = tmp_path / "photo.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")

    with pytest.raises(ValidationFailed) as first:
        create(world.marketer, old_excel)
    with pytest.raises(ValidationFailed) as second:
        create(world.marketer, binary)

    assert first.value.errors[0].message == "This is an old Excel (.xls) file; save it as .xlsx or CSV and upload that."
    assert second.value.errors[0].message == "The file is not a CSV or Excel (.xlsx) file: it contains binary data."


def test_an_xlsx_file_is_read_by_its_content_with_sheet_rows_as_line_numbers(world, tmp_path):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["First Name", "Last Name", "Email", "Phone Number", "Postal Code", "Created"])
    sheet.append(["Ada", "Lovelace", "ada@example.org", 4930123456, 10115, dt.datetime(2026, 1, 31)])
    sheet.append([None, None, None, None, None, None])  # blank rows are not rows
    sheet.append(["Bob", "Bad", "not-an-email", None, None, None])
    sheet.append(["Cy", 12.0, "cy@example.org", "+1 415 555 0100", "02139", None])
    path = tmp_path / "export.csv"  # the name lies; the content decides
    workbook.save(path)

    job = run(world.marketer, path)

    assert job.file_format == "xlsx"
    assert job.mapping == {
        "First Name": "first_name",
        "Last Name": "last_name",
        "Email": "email",
        "Phone Number": "phone",
        "Postal Code": "postal_code",
    }
    assert counts(job) == {"rows": 3, "created": 2, "updated": 0, "merged": 0, "skipped": 0, "rejected": 1}
    ada = Contact.objects.get(email="ada@example.org")
    assert (ada.phone, ada.postal_code) == ("+14930123456", "10115")
    assert Contact.objects.get(email="cy@example.org").last_name == "12"
    rows = rejected_rows(job)
    assert rows[0] == ["First Name", "Last Name", "Email", "Phone Number", "Postal Code", "Created", "line", "reason"]
    assert rows[1][:3] == ["Bob", "Bad", "not-an-email"]
    assert rows[1][6] == "4"
    assert import_samples(job=job)["Created"] == ["2026-01-31"]


# --- Mapping --------------------------------------------------------------------------------------


HUBSPOT_HEADERS = [
    "Record ID",
    "First Name",
    "Last Name",
    "Email",
    "Phone Number",
    "Mobile Phone Number",
    "Job Title",
    "Company Name",
    "Lifecycle Stage",
    "Contact owner",
    "Street Address",
    "City",
    "State/Region",
    "Postal Code",
    "Country/Region",
    "Create Date",
]
SALESFORCE_HEADERS = [
    "Contact ID",
    "Salutation",
    "First Name",
    "Last Name",
    "Title",
    "Account Name",
    "Account ID",
    "Mailing Street",
    "Mailing City",
    "Mailing State/Province",
    "Mailing Zip/Postal Code",
    "Mailing Country",
    "Phone",
    "Mobile",
    "Email",
    "Email Opt Out",
    "Lead Source",
    "Contact Owner",
    "Department",
]


def test_a_hubspot_export_is_mapped_from_its_headers(db):
    mapping = import_mapping_suggest(object_type="contact", headers=HUBSPOT_HEADERS, custom_fields=[])

    assert mapping == {
        "Record ID": "external_id",
        "First Name": "first_name",
        "Last Name": "last_name",
        "Email": "email",
        "Phone Number": "phone",
        "Job Title": "job_title",
        "Company Name": "company",
        "Lifecycle Stage": "lifecycle_stage",
        "Contact owner": "owner",
        "Street Address": "street",
        "City": "city",
        "State/Region": "region",
        "Postal Code": "postal_code",
        "Country/Region": "country",
    }


def test_a_salesforce_export_is_mapped_from_its_headers(db):
    mapping = import_mapping_suggest(object_type="contact", headers=SALESFORCE_HEADERS, custom_fields=[])

    # Salesforce's own account id and the opt-out flag (the opposite of consent) are left for the user.
    assert mapping == {
        "Contact ID": "external_id",
        "First Name": "first_name",
        "Last Name": "last_name",
        "Title": "job_title",
        "Account Name": "company",
        "Mailing Street": "street",
        "Mailing City": "city",
        "Mailing State/Province": "region",
        "Mailing Zip/Postal Code": "postal_code",
        "Mailing Country": "country",
        "Phone": "phone",
        "Email": "email",
        "Lead Source": "source",
        "Contact Owner": "owner",
        "Department": "department",
    }


def test_a_mobile_number_is_the_phone_when_there_is_no_other_phone_column(db):
    mapping = import_mapping_suggest(object_type="contact", headers=["Email", "Mobile Phone Number"], custom_fields=[])

    assert mapping == {"Email": "email", "Mobile Phone Number": "phone"}


def test_custom_fields_tags_and_consent_columns_are_suggested(db):
    language = CustomField.objects.create(
        object_type="contact",
        key="preferred_language",
        label="Language",
        field_type="choice",
        choices=["English", "German"],
    )
    CustomField.objects.create(object_type="contact", key="shoe_size", label="Shoe size", field_type="number")

    mapping = import_mapping_suggest(
        object_type="contact",
        headers=["E-mail", "LANGUAGE", "shoe_size", "Tags", "consent_email", "Email opt-in", "SMS opt in"],
    )

    assert language.key == "preferred_language"
    assert mapping == {
        "E-mail": "email",
        "LANGUAGE": "custom.preferred_language",
        "shoe_size": "custom.shoe_size",
        "Tags": "tags",
        "consent_email": "consent.email",
        "SMS opt in": "consent.sms",
    }


def test_an_accounts_file_is_mapped_to_account_fields(db):
    mapping = import_mapping_suggest(
        object_type="account",
        headers=["Account Name", "Website", "Industry", "Annual Revenue", "Billing Country", "Account ID", "parent_id"],
        custom_fields=[],
    )

    assert mapping == {
        "Account Name": "name",
        "Website": "domain",
        "Industry": "industry",
        "Annual Revenue": "annual_revenue",
        "Billing Country": "country",
        "Account ID": "external_id",
        "parent_id": "parent_id",
    }


def test_a_mapping_with_unknown_or_repeated_fields_is_refused_with_every_problem(db):
    headers = ["Email", "Mail", "Shoe", "Notes"]

    with pytest.raises(ValidationFailed) as caught:
        import_mapping_check(
            object_type="contact",
            headers=headers,
            mapping={"Email": "email", "Mail": "email", "Shoe": "custom.shoe", "Notes": "notes", "Fax": "phone"},
            mode="upsert",
            match_on="email",
            custom_fields=[],
        )

    assert [(e.field, e.message) for e in caught.value.errors] == [
        ("Mail", "Column 'Mail' is mapped to Email, which is already chosen for column 'Email'."),
        ("Shoe", "Column 'Shoe' is mapped to 'shoe', which is not a custom field of contacts."),
        ("Notes", "Column 'Notes' is mapped to 'notes', which is not a contact field."),
        ("Fax", "The file has no column 'Fax'."),
    ]


@pytest.mark.parametrize(
    ("object_type", "mapping", "match_on", "mode", "message"),
    [
        (
            "contact",
            {"Company": "company", "Mail": "external_id"},
            "external_id",
            "upsert",
            "Map at least one column to first name, last name, email or phone.",
        ),
        ("contact", {"Company": "first_name"}, "email", "upsert", "To match on email, map a column to Email."),
        (
            "contact",
            {"Company": "email"},
            "external_id",
            "upsert",
            "To match on external id, map a column to External id.",
        ),
        (
            "contact",
            {"Company": "email"},
            "name_company",
            "upsert",
            "To match on name and company, map columns to a name and to Company (or Account id).",
        ),
        (
            "account",
            {"Company": "domain"},
            "domain",
            "upsert",
            "Map a column to the account's name: new accounts need one.",
        ),
        ("account", {"Company": "name"}, "domain", "upsert", "To match on domain, map a column to Domain."),
    ],
)
def test_a_mapping_missing_required_columns_is_refused(db, object_type, mapping, match_on, mode, message):
    with pytest.raises(ValidationFailed) as caught:
        import_mapping_check(
            object_type=object_type,
            headers=["Company", "Mail"],
            mapping=mapping,
            mode=mode,
            match_on=match_on,
            custom_fields=[],
        )

    assert [e.message for e in caught.value.errors] == [message]


def test_a_file_without_name_email_or_phone_columns_can_be_uploaded_but_not_started(world, tmp_path):
    path = write(tmp_path, "Company,City\nAcme,Berlin\n")
    job = create(world.marketer, path)

    with pytest.raises(ValidationFailed) as caught:
        import_job_queue(actor=world.marketer, job_id=job.pk)

    assert [e.message for e in caught.value.errors] == [
        "Map at least one column to first name, last name, email or phone.",
        "To match on email, map a column to Email.",
    ]
    job.refresh_from_db()
    assert job.status == ImportJob.Status.UPLOADED


# --- Matching, modes and outcomes -----------------------------------------------------------------


def test_rows_repeating_a_record_within_the_file_are_counted_as_merged(world, tmp_path):
    path = write(
        tmp_path,
        "email,first_name,job_title\n"
        "dup@example.org,Dee,Engineer\n"
        "other@example.org,Oz,\n"
        "DUP@example.org,,Head of Engineering\n"
        "dup@example.org,Deirdre,\n",
    )

    job = run(world.marketer, path)

    assert counts(job) == {"rows": 4, "created": 2, "updated": 0, "merged": 2, "skipped": 0, "rejected": 0}
    dee = Contact.objects.get(email="dup@example.org")
    assert (dee.first_name, dee.job_title, dee.seniority) == ("Deirdre", "Head of Engineering", "vp")
    assert Contact.objects.count() == 2


def test_rows_repeating_a_record_in_a_later_batch_are_merged_too(world, tmp_path, monkeypatch):
    monkeypatch.setattr(importing, "BATCH_SIZE", 2)
    path = write(tmp_path, "email,first_name\na@example.org,A\nb@example.org,B\na@example.org,Ann\n")

    job = run(world.marketer, path)

    assert counts(job) == {"rows": 3, "created": 2, "updated": 0, "merged": 1, "skipped": 0, "rejected": 0}
    assert Contact.objects.get(email="a@example.org").first_name == "Ann"


def test_existing_records_are_updated_and_empty_cells_leave_their_values(world, tmp_path):
    existing = ContactFactory(email="known@example.org", first_name="Kim", job_title="Engineer", city="Oslo")
    same = ContactFactory(email="same@example.org", first_name="Sam")
    path = write(
        tmp_path, "email,first_name,job_title,city\nknown@example.org,,VP Engineering,\nsame@example.org,Sam,,\n"
    )

    job = run(world.marketer, path)

    assert counts(job) == {"rows": 2, "created": 0, "updated": 1, "merged": 0, "skipped": 1, "rejected": 0}
    existing.refresh_from_db()
    assert (existing.first_name, existing.job_title, existing.city, existing.seniority) == (
        "Kim",
        "VP Engineering",
        "Oslo",
        "vp",
    )
    assert existing.version == 2
    same.refresh_from_db()
    assert same.version == 1
    assert AuditEntry.objects.filter(object_type="contact", object_id=existing.pk, via=Via.IMPORT).count() == 1


def test_create_only_skips_rows_matching_existing_records(world, tmp_path):
    existing = ContactFactory(email="known@example.org", first_name="Kim")
    path = write(tmp_path, "email,first_name\nknown@example.org,Changed\nnew@example.org,Nia\n")

    job = run(world.marketer, path, mode="create")

    assert counts(job) == {"rows": 2, "created": 1, "updated": 0, "merged": 0, "skipped": 1, "rejected": 0}
    existing.refresh_from_db()
    assert existing.first_name == "Kim"


def test_update_only_skips_rows_matching_nothing(world, tmp_path):
    existing = ContactFactory(email="known@example.org", first_name="Kim")
    path = write(tmp_path, "email,first_name\nknown@example.org,Kimberly\nnew@example.org,Nia\n")

    job = run(world.marketer, path, mode="update")

    assert counts(job) == {"rows": 2, "created": 0, "updated": 1, "merged": 0, "skipped": 1, "rejected": 0}
    existing.refresh_from_db()
    assert existing.first_name == "Kimberly"
    assert not Contact.objects.filter(email="new@example.org").exists()


def test_matching_on_external_id_updates_the_record_with_that_id(world, tmp_path):
    existing = ContactFactory(email="old@example.org", external_id="HS-1", first_name="Old")
    path = write(tmp_path, "Record ID,Email,First Name\nHS-1,new@example.org,New\nHS-2,,Second\n")

    job = run(world.marketer, path, match_on="external_id")

    assert counts(job) == {"rows": 2, "created": 1, "updated": 1, "merged": 0, "skipped": 0, "rejected": 0}
    existing.refresh_from_db()
    assert (existing.email, existing.first_name) == ("new@example.org", "New")
    assert Contact.objects.get(external_id="HS-2").first_name == "Second"


def test_matching_on_name_and_company_finds_the_person_at_that_account(world, tmp_path):
    acme = AccountFactory(name="Acme GmbH")
    at_acme = ContactFactory(first_name="Eva", last_name="Braun", email="", account=acme)
    path = write(
        tmp_path,
        "First Name,Last Name,Company Name,Job Title\n"
        "eva,BRAUN,acme gmbh,CFO\n"  # same person: names and company compared without case
        "Eva,Braun,Globex,CTO\n",  # a namesake at another company
    )

    job = run(world.marketer, path, match_on="name_company")

    assert counts(job) == {"rows": 2, "created": 1, "updated": 1, "merged": 0, "skipped": 0, "rejected": 0}
    at_acme.refresh_from_db()
    assert at_acme.job_title == "CFO"
    namesake = Contact.objects.exclude(pk=at_acme.pk).get()
    assert namesake.account.name == "Globex"
    assert namesake.account.import_job_id == job.pk


def test_bad_rows_are_rejected_with_line_and_reason_while_good_rows_go_in(world, tmp_path):
    text = (
        "Email,First Name,Phone,Lifecycle Stage,Country\n"
        "good@example.org,Gus,+49 30 123456,lead,DE\n"
        "not an email,Ned,,,\n"
        "pho@example.org,Phil,12,,\n"
        "stage@example.org,Stu,,winner,\n"
        "extra@example.org,Ed,,,,surplus\n"
        ",,,,\n"
        "good2@example.org,Gia,,customer,Germany\n"
    )
    path = write(tmp_path, text, name="leads.csv")

    job = run(world.marketer, path)

    assert counts(job) == {"rows": 6, "created": 2, "updated": 0, "merged": 0, "skipped": 0, "rejected": 4}
    assert sorted(Contact.objects.values_list("email", "country", "lifecycle_stage")) == [
        ("good2@example.org", "DE", "customer"),
        ("good@example.org", "DE", "lead"),
    ]
    assert rejected_rows(job) == [
        ["Email", "First Name", "Phone", "Lifecycle Stage", "Country", "line", "reason"],
        [
            "not an email",
            "Ned",
            "",
            "",
            "",
            "3",
            "Email: 'not an email' is not a valid email address: An email address must have an @-sign.",
        ],
        [
            "pho@example.org",
            "Phil",
            "12",
            "",
            "",
            "4",
            "Phone: '12' is not a valid phone number (wrong length for its country).",
        ],
        [
            "stage@example.org",
            "Stu",
            "",
            "winner",
            "",
            "5",
            "Lifecycle stage: 'winner' is not a lifecycle stage; use one of: subscriber, lead, mql, sql, "
            "opportunity, customer, evangelist, other.",
        ],
        [
            "extra@example.org",
            "Ed",
            "",
            "",
            "",
            "6",
            "The row has 6 values but the header has 5 columns; quote values that contain the delimiter.",
        ],
    ]


def test_custom_fields_tags_consent_and_owners_are_imported(world, tmp_path):
    CustomField.objects.create(
        object_type="contact", key="language", label="Language", field_type="choice", choices=["English", "German"]
    )
    world.rep.first_name, world.rep.last_name = "Rita", "Rep"
    world.rep.save()
    path = write(
        tmp_path,
        "Email,Language,Tags,Email opt in,Contact owner\n"
        "a@example.org,german,VIP; Fair 2026,yes,Rita Rep\n"
        "b@example.org,english,,no,manager\n"
        "c@example.org,Klingon,,,\n"
        "d@example.org,,,,Nobody Known\n",
    )

    job = run(world.marketer, path)

    assert counts(job) == {"rows": 4, "created": 2, "updated": 0, "merged": 0, "skipped": 0, "rejected": 2}
    a = Contact.objects.get(email="a@example.org")
    assert (a.custom, a.consent_email, a.owner_id) == ({"language": "German"}, "granted", world.rep.pk)
    assert sorted(a.tags.values_list("name", flat=True)) == ["Fair 2026", "VIP"]
    b = Contact.objects.get(email="b@example.org")
    assert (b.consent_email, b.owner_id) == ("denied", world.manager.pk)
    assert [row[-1] for row in rejected_rows(job)[1:]] == [
        "Language: 'Klingon' is not a choice here; use one of: English, German.",
        "Owner: no active user 'Nobody Known'; use an id, username or email of a Rapport user.",
    ]


def test_provenance_of_imported_values_names_the_party_and_source(world, tmp_path):
    path = write(tmp_path, "email,first_name\np@example.org,Pat\n")

    job = run(world.marketer, path, party="third", party_name="Acme Data")

    contact = Contact.objects.get()
    data_source = DataSource.objects.get(pk=contact.provenance["email"])
    assert (data_source.party, data_source.name, data_source.via, data_source.import_job_id) == (
        "third",
        "Acme Data",
        Via.IMPORT,
        job.pk,
    )


def test_second_and_third_party_imports_need_a_source_name(world, tmp_path):
    path = write(tmp_path, "email\na@example.org\n")

    with pytest.raises(ValidationFailed) as caught:
        create(world.marketer, path, party="second")

    assert [(e.field, e.message) for e in caught.value.errors] == [
        ("party_name", "Name the partner the data comes from.")
    ]


def test_roles_that_may_not_import_are_refused(world, tmp_path):
    path = write(tmp_path, "email\na@example.org\n")

    with pytest.raises(Forbidden):
        create(world.rep, path)
    assert ImportJob.objects.count() == 0


def test_an_accounts_file_creates_updates_and_merges_accounts(world, tmp_path):
    existing = AccountFactory(name="Initech", domain="initech.example", industry="")
    path = write(
        tmp_path,
        "Company Name,Website,Industry,Annual Revenue,Country\n"
        "Acme,https://www.acme.example/about,Manufacturing,1250000,DE\n"
        "Initech,initech.example,Software,,US\n"
        "Acme Corp,acme.example,,,\n"
        "Broken,not a domain,,,\n"
        ",nameless.example,,,\n",
    )

    job = run(world.marketer, path, object_type="account")

    assert job.match_on == "domain"
    assert counts(job) == {"rows": 5, "created": 1, "updated": 1, "merged": 1, "skipped": 0, "rejected": 2}
    acme = Account.objects.get(domain="acme.example")
    assert (acme.name, acme.industry, str(acme.annual_revenue), acme.country) == (
        "Acme Corp",
        "Manufacturing",
        "1250000.00",
        "DE",
    )
    existing.refresh_from_db()
    assert (existing.industry, existing.country) == ("Software", "US")
    assert [(row[5], row[6]) for row in rejected_rows(job)[1:]] == [
        ("5", "Domain: 'not a domain' is not a valid domain; write it like example.com."),
        ("6", "An account needs a name."),
    ]


def test_preview_problems_and_rejected_reasons_name_fields_by_their_labels(world, tmp_path):
    # Given a custom field and a file with a bad custom value, a bad consent value and a bad stage
    CustomField.objects.create(
        object_type="contact", key="shoe_size", label="Shoe size", field_type="number", choices=[]
    )
    path = write(
        tmp_path,
        "Email,Shoe size,Email opt in,Lifecycle Stage\n"
        "a@example.org,huge,,\n"
        "b@example.org,,perhaps,\n"
        "c@example.org,,,winner\n",
    )
    job = create(world.marketer, path)
    import_mapping_save(
        actor=world.marketer,
        job_id=job.pk,
        mapping={
            "Email": "email",
            "Shoe size": "custom.shoe_size",
            "Email opt in": "consent.email",
            "Lifecycle Stage": "lifecycle_stage",
        },
    )

    # When the user previews it, and then runs it
    preview = import_preview(job=job)
    done = import_run(job_id=job.pk)

    # Then each problem starts with the field's label, not its key, in the preview and the rejected rows
    problems = [row.problems for row in preview.rows]
    reasons = [(row[-2], row[-1]) for row in rejected_rows(done)[1:]]
    assert [p[0].split(":")[0] for p in problems] == ["Shoe size", "Email consent", "Lifecycle stage"]
    assert [(line, reason.split(":")[0]) for line, reason in reasons] == [
        ("2", "Shoe size"),
        ("3", "Email consent"),
        ("4", "Lifecycle stage"),
    ]
    assert [reason for _, reason in reasons] == [p[0] for p in problems]
    assert not any(r.startswith(("custom.", "consent.", "lifecycle_stage")) for _, r in reasons)


# --- Preview, dry run, resume ---------------------------------------------------------------------


def test_the_preview_shows_cleaned_values_and_problems_without_writing(world, tmp_path):
    path = write(tmp_path, "Email,Phone,Country\nGOOD@Example.org,030 123456,Germany\nbad@,,\n,,\n,,Germany\n")
    job = create(world.marketer, path)

    preview = import_preview(job=job)

    assert preview.problem_rows == 2
    assert [row.line for row in preview.rows] == [2, 3, 5]  # the blank row is not a row
    assert [(c.value, c.problem) for c in preview.rows[0].cells] == [
        ("good@example.org", ""),
        ("+4930123456", ""),
        ("DE", ""),
    ]
    assert (
        preview.rows[1].cells[0].problem
        == "'bad@' is not a valid email address: There must be something after the @-sign."
    )
    assert preview.rows[2].problems == ["A contact needs at least a name, an email address or a phone number."]
    assert Contact.objects.count() == 0


def test_a_dry_run_writes_nothing_and_reports_the_same_counts(world, tmp_path):
    existing = ContactFactory(email="known@example.org", first_name="Kim")
    path = write(
        tmp_path, "email,first_name,company\nknown@example.org,Kimberly,Acme\nnew@example.org,Nia,Acme\nbad,,\n"
    )
    job = create(world.marketer, path)
    audits_before = AuditEntry.objects.count()

    job = import_run(job_id=job.pk, dry_run=True)

    assert (job.status, job.dry_run) == (ImportJob.Status.DONE, True)
    assert counts(job) == {"rows": 3, "created": 1, "updated": 1, "merged": 0, "skipped": 0, "rejected": 1}
    assert list(Contact.objects.values_list("email", "first_name")) == [("known@example.org", "Kim")]
    assert Account.objects.count() == 0
    assert AuditEntry.objects.count() == audits_before
    existing.refresh_from_db()
    assert existing.version == 1
    assert [row[3] for row in rejected_rows(job)[1:]] == ["4"]


RESUME_FILE = (
    "email,first_name\n"
    "r1@example.org,R1\n"
    "r2@example.org,R2\n"
    "bad-one,R3\n"  # line 4, batch 1
    "r4@example.org,R4\n"
    "r5@example.org,R5\n"
    "bad-two,R6\n"  # line 7, batch 2: the batch that crashes once
    "r1@example.org,R1 again\n"
    "r8@example.org,R8\n"
    "bad-three,R9\n"  # line 10, batch 3
    "r10@example.org,R10\n"
)


@pytest.mark.parametrize("crash", [False, True], ids=["uninterrupted", "crashed-and-resumed"])
def test_a_resumed_import_ends_as_an_uninterrupted_one_would(world, tmp_path, monkeypatch, crash):
    monkeypatch.setattr(importing, "BATCH_SIZE", 3)
    real_upsert = importing.contacts_upsert_batch
    calls = {"n": 0}

    def crashing_upsert(**kwargs: Any) -> Any:
        calls["n"] += 1
        outcomes = real_upsert(**kwargs)
        if crash and calls["n"] == 2:
            raise OSError("disk on fire")  # after writing: the batch's transaction must roll back
        return outcomes

    monkeypatch.setattr(importing, "contacts_upsert_batch", crashing_upsert)
    path = write(tmp_path, RESUME_FILE)
    job = create(world.marketer, path)

    if crash:
        with pytest.raises(OSError):
            import_run(job_id=job.pk)
        job.refresh_from_db()
        assert job.status == ImportJob.Status.FAILED
        assert job.error == (
            "The import stopped after line 4 because of an unexpected error (OSError: disk on fire). "
            "Rows up to there are saved; start it again to carry on from there."
        )
        assert (job.rows_done, job.lines_read, Contact.objects.count()) == (3, 4, 2)
    job = import_run(job_id=job.pk)

    assert (job.status, job.error) == (ImportJob.Status.DONE, "")
    assert counts(job) == {"rows": 10, "created": 6, "updated": 0, "merged": 1, "skipped": 0, "rejected": 3}
    assert sorted(Contact.objects.values_list("first_name", flat=True)) == ["R1 again", "R10", "R2", "R4", "R5", "R8"]
    assert rejected_rows(job) == [
        ["email", "first_name", "line", "reason"],
        ["bad-one", "R3", "4", "Email: 'bad-one' is not a valid email address: An email address must have an @-sign."],
        ["bad-two", "R6", "7", "Email: 'bad-two' is not a valid email address: An email address must have an @-sign."],
        [
            "bad-three",
            "R9",
            "10",
            "Email: 'bad-three' is not a valid email address: An email address must have an @-sign.",
        ],
    ]
    assert (job.bytes_read, job.lines_read) == (path.stat().st_size, 11)


def test_running_a_finished_import_again_changes_nothing(world, tmp_path):
    path = write(tmp_path, "email\na@example.org\n")
    job = run(world.marketer, path)

    again = import_run(job_id=job.pk)

    assert counts(again) == counts(job)
    assert Contact.objects.count() == 1


@pytest.fixture
def small_field_limit():
    """Make the CSV reader's field limit small, so a runaway quoted field hits it soon."""
    before = csv.field_size_limit(1000)
    yield
    csv.field_size_limit(before)


def test_a_quote_that_never_closes_fails_the_job_with_the_line(world, tmp_path, small_field_limit):
    path = write(tmp_path, 'email,first_name\na@example.org,A\nb@example.org,"B\n' + "x@example.org,X\n" * 100)

    job = run(world.marketer, path)

    assert job.status == ImportJob.Status.FAILED
    assert job.error.startswith("Line 3 can't be read as CSV (field larger than field limit (1000))")
    assert Contact.objects.get().email == "a@example.org"


def test_queueing_runs_the_import_after_the_transaction_commits(world, tmp_path, django_capture_on_commit_callbacks):
    path = write(tmp_path, "email\na@example.org\n")
    job = create(world.marketer, path)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        import_job_queue(actor=world.marketer, job_id=job.pk)
        assert Contact.objects.count() == 0

    job.refresh_from_db()
    assert len(callbacks) == 1
    assert (job.status, job.created) == (ImportJob.Status.DONE, 1)


# --- Streaming ------------------------------------------------------------------------------------


def test_reading_a_large_file_keeps_memory_bounded(world, tmp_path):
    path = tmp_path / "big.csv"
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["Email", "First Name", "Last Name", "Company Name", "Notes"])
        writer.writerows(
            (f"person{i}@example.org", f"First{i}", f"Last{i}", f"Company {i % 997}", "a longer note " * 10)
            for i in range(100_000)
        )
    size = path.stat().st_size
    assert size > 18_000_000

    tracemalloc.start()
    try:
        job = create(world.marketer, path)
        import_preview(job=job)
        import_samples(job=job)
        rows = 0
        with importing._Reader(job, importing._Position()) as reader:
            for _line, _cells in reader.records():
                rows += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert rows == 100_001
    assert reader.position.offset == size
    assert peak < 6_000_000  # a third of the file: reading streams it


def test_an_xlsx_import_resumes_after_the_last_committed_sheet_row(world, tmp_path, monkeypatch):
    monkeypatch.setattr(importing, "BATCH_SIZE", 2)
    real_upsert = importing.contacts_upsert_batch
    calls = {"n": 0}

    def crash_once(**kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("worker killed")
        return real_upsert(**kwargs)

    monkeypatch.setattr(importing, "contacts_upsert_batch", crash_once)
    workbook = Workbook()
    workbook.active.append(["Email", "First Name"])
    for n in range(1, 6):
        workbook.active.append([f"x{n}@example.org" if n != 4 else "broken", f"X{n}"])
    path = tmp_path / "people.xlsx"
    workbook.save(path)
    job = create(world.marketer, path)

    with pytest.raises(RuntimeError):
        import_run(job_id=job.pk)
    job = import_run(job_id=job.pk)

    assert counts(job) == {"rows": 5, "created": 4, "updated": 0, "merged": 0, "skipped": 0, "rejected": 1}
    assert sorted(Contact.objects.values_list("first_name", flat=True)) == ["X1", "X2", "X3", "X5"]
    assert [row[2] for row in rejected_rows(job)[1:]] == ["5"]  # sheet row 5: the header is row 1


def test_an_import_costs_a_fixed_number_of_queries_per_batch_not_per_row(
    world, tmp_path, django_assert_max_num_queries
):
    rows = "".join(
        f"p{n}@example.org,P{n},Company {n % 5},{'manager' if n % 2 else 'Rita Rep'},vip;fair,yes\n" for n in range(300)
    )
    world.rep.first_name, world.rep.last_name = "Rita", "Rep"
    world.rep.save()
    path = write(tmp_path, "Email,First Name,Company Name,Contact owner,Tags,Email opt in\n" + rows)
    job = create(world.marketer, path)

    with django_assert_max_num_queries(40):
        job = import_run(job_id=job.pk)

    assert counts(job) == {"rows": 300, "created": 300, "updated": 0, "merged": 0, "skipped": 0, "rejected": 0}
    assert Contact.objects.filter(owner=world.rep).count() == 150


def test_a_stalled_import_can_be_queued_again(world, tmp_path):
    path = write(tmp_path, "email\na@example.org\n")
    job = create(world.marketer, path)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.RUNNING)

    with pytest.raises(ValidationFailed) as caught:
        import_job_queue(actor=world.marketer, job_id=job.pk)
    ImportJob.objects.filter(pk=job.pk).update(updated_at=timezone.now() - dt.timedelta(minutes=6))
    queued = import_job_queue(actor=world.marketer, job_id=job.pk)

    assert caught.value.errors[0].message == "This import is running; it can't be started again."
    assert queued.status == ImportJob.Status.QUEUED


def test_a_file_that_breaks_the_encoding_its_bom_announces_is_refused(world, tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"\xef\xbb\xbfemail,first_name\na@example.org,J\xfcrgen\n")  # a UTF-8 BOM, then Latin-1

    with pytest.raises(ValidationFailed) as caught:
        create(world.marketer, path)

    assert caught.value.errors[0].message == (
        "The file says it is UTF-8 (with BOM) but contains bytes that are not; save it again as UTF-8 (with BOM)."
    )


def test_imports_left_running_by_a_dead_worker_are_resumed(db, tmp_path, django_capture_on_commit_callbacks):
    """Given a job stuck in 'running' for ten minutes, when the worker's resume task runs, it finishes the import."""
    import datetime as dt

    from django.utils import timezone

    from rapport.contacts.importing import import_job_create, imports_resume_stalled
    from rapport.contacts.models import Contact, ImportJob

    path = tmp_path / "stuck.csv"
    path.write_text("Email,First Name\na@example.com,Ann\nb@example.com,Ben\n", encoding="utf-8")
    job = import_job_create(
        actor=None,
        via="cli",
        source_path=path,
        original_name="stuck.csv",
        object_type="contact",
        mode="upsert",
        match_on="email",
        party="first",
        party_name="",
    )
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.RUNNING,
        mapping={"Email": "email", "First Name": "first_name"},
        updated_at=timezone.now() - dt.timedelta(minutes=10),
    )
    fresh = ImportJob.objects.create(object_type="contact", file_path="x", original_name="x.csv", status="running")
    with django_capture_on_commit_callbacks(execute=True):
        assert imports_resume_stalled() == 1
    job.refresh_from_db()
    fresh.refresh_from_db()
    assert (job.status, job.created) == (ImportJob.Status.DONE, 2)
    assert fresh.status == ImportJob.Status.RUNNING
    assert set(Contact.objects.values_list("email", flat=True)) == {"a@example.com", "b@example.com"}
