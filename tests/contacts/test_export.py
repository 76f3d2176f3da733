"""Exports of the contact and account lists (CSV, XLSX, vCard), from the pages and from ``rapport export``."""

from __future__ import annotations

import csv
import datetime as dt
import io
import subprocess
from pathlib import Path

import openpyxl
import pytest
from django.core.management import call_command
from django.urls import reverse

from rapport.contacts.models import Account, Contact, ContactTag, CustomField, Tag
from tests.core.test_config import RAPPORT, rapport_env
from tests.factories import AccountFactory, ContactFactory

AT = dt.datetime(2026, 1, 31, 9, 30, tzinfo=dt.UTC)
CONTACT_HEADER = (
    "id,first_name,last_name,email,phone,job_title,seniority,department,account_id,company,street,postal_code,"
    "city,region,country,lifecycle_stage,owner,source,tags,consent_email,consent_phone,consent_sms,consent_post,"
    "external_id,created_at,updated_at"
)


def body(response) -> str:
    return b"".join(response.streaming_content).decode()


def freeze(*records) -> None:
    """Give records fixed creation and change times, so exports can be compared exactly."""
    for record in records:
        type(record).all_objects.filter(pk=record.pk).update(created_at=AT, updated_at=AT)


@pytest.fixture
def records(world):
    acme = AccountFactory(name="Acme, Inc.", name_key="acme inc", domain="acme.example", country="US", owner=world.rep)
    ada = ContactFactory(
        first_name="Ada",
        last_name="Lovelace",
        first_name_key="ada",
        last_name_key="lovelace",
        email="ada@acme.example",
        phone="+14155550100",
        job_title="CTO",
        seniority="c_level",
        account=acme,
        country="US",
        owner=world.rep,
        lifecycle_stage="customer",
        consent_email="granted",
        source="Web form",
        custom={"score": 7, "topics": ["CRM", "Ads"]},
    )
    bob = ContactFactory(
        first_name="Bob",
        last_name="Builder",
        first_name_key="bob",
        last_name_key="builder",
        email="bob@example.org",
        job_title='Head of "Things"',
        country="DE",
        owner=world.other_rep,
    )
    ContactTag.objects.create(contact=ada, tag=Tag.objects.create(name="VIP", key="vip"))
    ContactTag.objects.create(contact=ada, tag=Tag.objects.create(name="Beta", key="beta"))
    CustomField.objects.create(object_type="contact", key="score", label="Score", field_type="number", position=1)
    CustomField.objects.create(
        object_type="contact",
        key="topics",
        label="Topics",
        field_type="multi_choice",
        choices=["CRM", "Ads"],
        position=2,
    )
    freeze(ada, bob, acme)
    return {"ada": ada, "bob": bob, "acme": acme}


# --- Pages -----------------------------------------------------------------------------------------------


def test_contact_csv_has_the_header_and_rows_exactly(world, logged_in, records):
    response = logged_in(world.admin).get(reverse("contacts:contact_export", args=["csv"]))

    ada, bob, acme = records["ada"], records["bob"], records["acme"]
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="contacts-')
    assert body(response).splitlines() == [
        CONTACT_HEADER + ",custom.score,custom.topics",
        f'{bob.pk},Bob,Builder,bob@example.org,,"Head of ""Things""",,,,,,,,,DE,lead,other_rep,,,unknown,unknown,'
        "unknown,unknown,,2026-01-31T09:30:00Z,2026-01-31T09:30:00Z,,",
        f'{ada.pk},Ada,Lovelace,ada@acme.example,+14155550100,CTO,c_level,,{acme.pk},"Acme, Inc.",,,,,US,customer,rep,'
        "Web form,Beta;VIP,granted,unknown,unknown,unknown,,2026-01-31T09:30:00Z,2026-01-31T09:30:00Z,7,CRM;Ads",
    ]


def test_export_applies_the_list_filters_and_order(world, logged_in, records):
    client = logged_in(world.admin)

    only_us = body(client.get(reverse("contacts:contact_export", args=["csv"]), {"country": "US"})).splitlines()
    by_email_desc = body(
        client.get(reverse("contacts:contact_export", args=["csv"]), {"ordering": "-email"})
    ).splitlines()

    assert [line.split(",")[3] for line in only_us[1:]] == ["ada@acme.example"]
    assert [line.split(",")[3] for line in by_email_desc[1:]] == ["bob@example.org", "ada@acme.example"]


def test_export_contains_only_what_the_user_may_see(world, logged_in, records, client):
    rep_rows = body(logged_in(world.rep).get(reverse("contacts:contact_export", args=["csv"]))).splitlines()[1:]
    client.logout()
    AccountFactory(name="Shared", partner_organisation=world.partner.partner_organisation)
    partner_contacts = body(logged_in(world.partner).get(reverse("contacts:contact_export", args=["csv"])))
    partner_accounts = body(logged_in(world.partner).get(reverse("contacts:account_export", args=["csv"])))

    assert [row.split(",")[1] for row in rep_rows] == ["Ada"]
    assert partner_contacts.splitlines()[1:] == []
    assert [row.split(",")[1] for row in partner_accounts.splitlines()[1:]] == ["Shared"]


def test_export_reads_in_chunks_and_keeps_every_row(world, logged_in, monkeypatch):
    from rapport.contacts import exporting

    monkeypatch.setattr(exporting, "CHUNK", 7)
    for i in range(30):
        ContactFactory(last_name=f"N{i:02d}", last_name_key=f"n{i:02d}")

    lines = body(logged_in(world.admin).get(reverse("contacts:contact_export", args=["csv"]))).splitlines()

    assert [line.split(",")[2] for line in lines[1:]] == [f"N{i:02d}" for i in range(30)]


def test_export_query_count_does_not_grow_with_rows(world, logged_in, django_assert_max_num_queries, monkeypatch):
    from rapport.contacts import exporting

    monkeypatch.setattr(exporting, "CHUNK", 1000)
    account = AccountFactory()
    tag = Tag.objects.create(name="t", key="t")
    for _ in range(40):
        ContactTag.objects.create(contact=ContactFactory(account=account, owner=world.rep), tag=tag)

    client = logged_in(world.admin)

    with django_assert_max_num_queries(6):
        lines = body(client.get(reverse("contacts:contact_export", args=["csv"]))).splitlines()

    assert len(lines) == 41


def test_xlsx_export_opens_in_openpyxl_with_typed_values(world, logged_in, records):
    Contact.objects.filter(pk=records["bob"].pk).update(job_title='=HYPERLINK("http://evil")')

    response = logged_in(world.admin).get(reverse("contacts:contact_export", args=["xlsx"]))

    content = b"".join(response.streaming_content)
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0] == [*CONTACT_HEADER.split(","), "custom.score", "custom.topics"]
    assert values[2][:4] == [records["ada"].pk, "Ada", "Lovelace", "ada@acme.example"]
    assert values[2][-4:] == [dt.datetime(2026, 1, 31, 9, 30), dt.datetime(2026, 1, 31, 9, 30), 7, "CRM;Ads"]
    assert values[1][5] == '=HYPERLINK("http://evil")'  # text, never a formula
    assert sheet.cell(row=2, column=6).data_type == "s"


def test_vcard_export_is_parsable_vcard_3(world, logged_in, records):
    Contact.objects.filter(pk=records["ada"].pk).update(
        street="1 Engine Way; Floor 2",
        city="London",
        postal_code="N1 9GU",
        country="GB",
        job_title="Chief Technology Officer and Head of Analytical Engines, Mechanical Computing and Poetry",
    )

    response = logged_in(world.admin).get(reverse("contacts:contact_export", args=["vcf"]))

    text = body(response)
    assert response["Content-Type"] == "text/vcard; charset=utf-8"
    assert all(line.endswith("\r") or line == "" for line in text.split("\n"))
    physical = text.split("\r\n")
    assert max(len(line.encode()) for line in physical) <= 75
    unfolded = text.replace("\r\n ", "").split("\r\n")
    cards = [
        unfolded[i : unfolded.index("END:VCARD", i) + 1] for i, line in enumerate(unfolded) if line == "BEGIN:VCARD"
    ]
    assert len(cards) == 2
    ada = dict(line.split(":", 1) for line in cards[1])
    assert ada["VERSION"] == "3.0"
    assert ada["N"] == "Lovelace;Ada;;;"
    assert ada["FN"] == "Ada Lovelace"
    assert ada["ORG"] == "Acme\\, Inc."
    assert ada["TITLE"] == "Chief Technology Officer and Head of Analytical Engines\\, Mechanical Computing and Poetry"
    assert ada["EMAIL;TYPE=INTERNET,PREF"] == "ada@acme.example"
    assert ada["TEL;TYPE=WORK,VOICE"] == "+14155550100"
    assert ada["ADR;TYPE=WORK"] == ";;1 Engine Way\\; Floor 2;London;;N1 9GU;GB"
    assert ada["CATEGORIES"] == "Beta,VIP"
    assert ada["UID"] == f"urn:rapport:contact:{records['ada'].pk}"


def test_account_csv_export(world, logged_in, records):
    ContactFactory(account=records["acme"])
    CustomField.objects.create(object_type="account", key="tier", label="Tier", field_type="text")
    Account.objects.filter(pk=records["acme"].pk).update(custom={"tier": "Gold"}, annual_revenue="1500000.00")

    lines = body(logged_in(world.admin).get(reverse("contacts:account_export", args=["csv"]))).splitlines()

    acme = records["acme"]
    assert lines == [
        "id,name,domain,industry,size_band,annual_revenue,currency,country,region,city,owner,partner_organisation,"
        "parent_id,parent,lifecycle_stage,external_id,contacts,created_at,updated_at,custom.tier",
        f'{acme.pk},"Acme, Inc.",acme.example,,,1500000.00,USD,US,,,rep,,,,lead,,2,2026-01-31T09:30:00Z,'
        "2026-01-31T09:30:00Z,Gold",
    ]


def test_service_agents_may_not_export(world, logged_in, records):
    client = logged_in(world.agent)

    for url in (reverse("contacts:contact_export", args=["csv"]), reverse("contacts:account_export", args=["xlsx"])):
        assert client.get(url).status_code == 403


def test_accounts_have_no_vcard_and_unknown_formats_are_not_found(world, logged_in):
    client = logged_in(world.admin)

    assert client.get(reverse("contacts:account_export", args=["vcf"])).status_code == 404
    assert client.get(reverse("contacts:contact_export", args=["pdf"])).status_code == 404


def test_bad_export_filters_are_explained(world, logged_in):
    response = logged_in(world.admin).get(reverse("contacts:contact_export", args=["csv"]), {"stage": "hot"})

    assert response.status_code == 422
    assert "&#x27;hot&#x27; is not a lifecycle stage." in response.content.decode()


# --- rapport export -------------------------------------------------------------------------------------


def run_export(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("export", *args, stdout=out, stderr=err)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def test_command_exports_csv_to_stdout_with_filters(records):
    code, out, _ = run_export("contacts", "--country", "DE")

    assert code == 0
    assert [row["email"] for row in csv.DictReader(io.StringIO(out))] == ["bob@example.org"]


def test_command_without_user_exports_everything_and_with_user_only_what_they_see(world, records):
    _, everything, _ = run_export("contacts")
    _, reps, _ = run_export("contacts", "--user", "rep")

    assert [r["first_name"] for r in csv.DictReader(io.StringIO(everything))] == ["Bob", "Ada"]
    assert [r["first_name"] for r in csv.DictReader(io.StringIO(reps))] == ["Ada"]


def test_command_owner_by_username_and_stage(world, records):
    _, out, _ = run_export("contacts", "--owner", "rep", "--stage", "customer,lead")

    assert [r["first_name"] for r in csv.DictReader(io.StringIO(out))] == ["Ada"]


def test_command_writes_xlsx_and_vcard_files(world, records, tmp_path):
    xlsx = tmp_path / "contacts.xlsx"
    vcf = tmp_path / "contacts.vcf"

    assert run_export("contacts", "--format", "xlsx", "--output", str(xlsx))[0] == 0
    assert run_export("contacts", "--format", "vcard", "--output", str(vcf), "--q", "ada")[0] == 0

    sheet = openpyxl.load_workbook(xlsx).active
    assert [row[1] for row in sheet.iter_rows(min_row=2, values_only=True)] == ["Bob", "Ada"]
    assert vcf.read_text().count("BEGIN:VCARD") == 1 and "FN:Ada Lovelace" in vcf.read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["contacts", "--format", "pdf"], "--format must be csv, xlsx or vcard, not 'pdf'."),
        (["accounts", "--format", "vcard"], "vCard exports are for contacts only; use csv or xlsx for accounts."),
        (["contacts", "--user", "nobody"], "--user: there is no active user named 'nobody'."),
        (["contacts", "--user", "agent"], "--user: agent's role (Service agent) may not export."),
        (["contacts", "--owner", "me"], "--owner me needs --user to say who 'me' is."),
        (["contacts", "--stage", "hot"], "The filters are not valid: --stage 'hot' is not a lifecycle stage."),
        (["contacts", "--output", "/nonexistent/dir/x.csv"], "--output: the folder /nonexistent/dir doesn't exist."),
        (["contacts", "--format", "xlsx"], "XLSX is binary: write it to a file with --output FILE."),
    ],
)
def test_command_refuses_bad_arguments_with_one_sentence_and_exit_2(world, args, message):
    code, out, err = run_export(*args)

    assert code == 2
    assert out == ""
    assert err.strip() == message


def test_rapport_export_runs_as_a_real_command(tmp_path):
    env = rapport_env(tmp_path / "data")
    migrate = subprocess.run(
        [RAPPORT, "migrate", "--no-input", "-v", "0"], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert migrate.returncode == 0, migrate.stderr
    setup = (
        "from rapport.contacts.services import contact_create; "
        "contact_create(actor=None, via='cli', data={'first_name': 'Cli', 'last_name': 'Person', "
        "'email': 'cli@example.org', 'country': 'FR'})"
    )
    created = subprocess.run(
        [RAPPORT, "shell", "-c", setup], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert created.returncode == 0, created.stderr

    result = subprocess.run(
        [RAPPORT, "export", "contacts", "--country", "FR"], env=env, capture_output=True, timeout=120, check=False
    )
    refused = subprocess.run(
        [RAPPORT, "export", "contacts", "--format", "pdf"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    to_file = subprocess.run(
        [RAPPORT, "export", "accounts", "--format", "xlsx", "--output", str(tmp_path / "a.xlsx")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout.decode())))
    assert [(r["first_name"], r["email"], r["country"], r["source"]) for r in rows] == [
        ("Cli", "cli@example.org", "FR", "Command line")
    ]
    assert refused.returncode == 2
    assert refused.stderr.strip() == "--format must be csv, xlsx or vcard, not 'pdf'."
    assert to_file.returncode == 0, to_file.stderr
    assert Path(tmp_path / "a.xlsx").stat().st_size > 0
