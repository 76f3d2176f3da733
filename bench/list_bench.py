"""List and search benchmark at a million contacts: server time of the API and the contact list page for a
filtered, sorted first page and for searches by email and name prefix, against a bare indexed SELECT of the
same page. Run in a process configured for one database (see ``bench.__main__``)."""

from __future__ import annotations

import json
import os
import random
import sys
import time
from urllib.parse import quote

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.common import summary  # noqa: E402
from bench.data import CITIES, COUNTRIES, FIRST, LAST, STAGES, TITLES  # noqa: E402
from rapport.contacts import normalise, seniority  # noqa: E402
from rapport.contacts.models import Account, Contact, ContactTag, Tag  # noqa: E402
from rapport.core.db import bulk_insert, insert_objects, new_instance  # noqa: E402
from rapport.core.models import Role, Territory  # noqa: E402
from rapport.core.services import token_create, user_create  # noqa: E402

COUNTRY_CODES = [c for c, _ in COUNTRIES]


def populate(contacts: int, seed: int = 5) -> dict:
    """Fill the database with accounts, users and ``contacts`` contacts; return a few facts for queries."""
    call_command("migrate", verbosity=0, interactive=False)
    rng = random.Random(seed)
    admin = user_create(username="bench_admin", role=Role.ADMIN, password="bench-password-123")
    team_mate = user_create(username="bench_mate", role=Role.SALES_REP, team="Bench team")
    rep = user_create(username="bench_rep", role=Role.SALES_REP, team="Bench team", password="bench-password-123")
    territory = Territory.objects.create(name="Bench DACH", countries=["DE", "AT", "CH"])
    territory.members.add(rep)
    owners = [admin.pk, team_mate.pk, rep.pk, None, None]
    now = timezone.now()
    start = time.perf_counter()
    accounts = max(1000, contacts // 50)
    with transaction.atomic():
        insert_objects(
            [
                new_instance(
                    Account,
                    name=f"Company {i}",
                    name_key=f"company {i}",
                    domain=f"company{i}.example",
                    country=COUNTRY_CODES[i % len(COUNTRY_CODES)],
                    created_at=now,
                    updated_at=now,
                )
                for i in range(accounts)
            ]
        )
    account_ids = list(Account.objects.values_list("pk", flat=True))
    chunk = 50_000
    for base in range(0, contacts, chunk):
        batch = []
        for n in range(base, min(contacts, base + chunk)):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            ci = rng.randrange(len(COUNTRIES))
            country = COUNTRIES[ci][0]
            owner = rng.choice(owners)
            title = rng.choice(TITLES)
            fk, lk = normalise.key(first), normalise.key(last)
            batch.append(
                new_instance(
                    Contact,
                    first_name=first,
                    last_name=last,
                    first_name_key=fk,
                    last_name_key=lk,
                    email=f"{fk}.{lk.replace(' ', '')}.{n}@company{n % accounts}.example".replace("'", ""),
                    phone=f"+4930{n:08d}",
                    job_title=title,
                    seniority=seniority.derive(title),
                    account_id=account_ids[n % accounts],
                    city=CITIES[country],
                    country=country,
                    lifecycle_stage=rng.choice(STAGES),
                    owner_id=owner,
                    territory_id=territory.pk if country == "DE" else None,
                    source="bench",
                    created_at=now,
                    updated_at=now,
                )
            )
        with transaction.atomic():
            if connection.vendor == "postgresql":
                copy_objects(batch)
            else:
                insert_objects(batch, batch_size=1000)
    vip = Tag.objects.create(name="vip", key="vip")
    with transaction.atomic():
        ids = list(Contact.objects.order_by("pk").values_list("pk", flat=True)[::20])
        bulk_insert(ContactTag, ["contact", "tag"], [(i, vip.pk) for i in ids], batch_size=2000)
    with connection.cursor() as cursor:
        # A database in use has been vacuumed by autovacuum, which is what lets PostgreSQL answer from
        # indexes alone; a freshly loaded one hasn't yet. SQLite only needs its statistics.
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    _, secret = token_create(user=admin, scope="read")
    _, rep_secret = token_create(user=rep, scope="read")
    return {
        "seconds": round(time.perf_counter() - start, 1),
        "admin": admin,
        "rep": rep,
        "token": secret,
        "rep_token": rep_secret,
    }


def copy_objects(objects: list) -> None:
    """PostgreSQL's fastest way in (COPY), for setting the benchmark up; not what is measured."""
    import json as jsonlib

    meta = objects[0]._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    columns = ", ".join(f.column for f in fields)
    json_columns = {i for i, f in enumerate(fields) if f.get_internal_type() == "JSONField"}
    connection.ensure_connection()
    with connection.connection.cursor() as cursor, cursor.copy(f"COPY {meta.db_table} ({columns}) FROM STDIN") as copy:
        for obj in objects:
            row = [getattr(obj, f.attname) for f in fields]
            for i in json_columns:
                row[i] = jsonlib.dumps(row[i])
            copy.write_row(row)


def timed(fn, repeats: int) -> list[float]:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    contacts = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    repeats = int(os.environ.get("BENCH_REPEATS", "60"))
    facts = populate(contacts)
    rng = random.Random(9)
    sample_emails = (
        list(Contact.objects.order_by("?").values_list("email", flat=True)[:200])
        if connection.vendor == "postgresql"
        else [
            e
            for (e,) in connection.cursor()
            .execute("SELECT email FROM contacts_contact ORDER BY random() LIMIT 200")
            .fetchall()
        ]
    )
    prefixes = [normalise.key(name)[:4] for name in LAST]

    def email_prefix() -> str:
        """What someone types to find a contact by email: the address up to and including the @."""
        email = rng.choice(sample_emails)
        return email[: email.index("@") + 1]

    api, api_rep, page = Client(), Client(), Client()
    api_headers = {"Authorization": f"Bearer {facts['token']}"}
    rep_headers = {"Authorization": f"Bearer {facts['rep_token']}"}
    page.force_login(facts["admin"])

    def get(client: Client, path: str, headers: dict | None = None) -> None:
        response = client.get(path, headers=headers or {})
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}: {response.content[:300]!r}")

    cases = {
        "api_filtered_sorted": lambda: get(
            api, f"/api/v1/contacts?country={rng.choice(COUNTRY_CODES)}&stage=lead&ordering=name&limit=50", api_headers
        ),
        "api_search_email": lambda: get(api, f"/api/v1/contacts?q={quote(email_prefix())}&limit=50", api_headers),
        "api_search_name": lambda: get(api, f"/api/v1/contacts?q={rng.choice(prefixes)}&limit=50", api_headers),
        "api_filtered_sorted_as_rep": lambda: get(
            api_rep, f"/api/v1/contacts?country={rng.choice(COUNTRY_CODES)}&ordering=name&limit=50", rep_headers
        ),
        "page_filtered_sorted": lambda: get(
            page, f"/contacts/?country={rng.choice(COUNTRY_CODES)}&stage=lead&ordering=name"
        ),
        "page_search_email": lambda: get(page, f"/contacts/?q={quote(email_prefix())}"),
        "page_search_name": lambda: get(page, f"/contacts/?q={rng.choice(prefixes)}"),
    }
    results = {}
    for name, fn in cases.items():
        try:
            results[name] = summary(timed(fn, repeats))
        except Exception as exc:  # report, don't hide: a failing case shows as an error in the table
            results[name] = {"error": str(exc)[:300]}

    raw = connection.connection
    marker = "?" if connection.vendor == "sqlite" else "%s"
    columns = (
        "id, first_name, last_name, email, phone, job_title, country, lifecycle_stage, owner_id, account_id, updated_at"
    )

    def raw_query(sql: str, params: list) -> None:
        cursor = raw.cursor()
        cursor.execute(sql.replace("?", marker), params)
        cursor.fetchall()
        cursor.close()

    def upper(prefix: str) -> str:
        return prefix[:-1] + chr(ord(prefix[-1]) + 1)

    raw_cases = {
        "filtered_sorted": lambda: raw_query(
            f"SELECT {columns} FROM contacts_contact WHERE deleted_at IS NULL AND country = ? AND lifecycle_stage = ? "
            "ORDER BY last_name_key, first_name_key, id LIMIT 51",
            [rng.choice(COUNTRY_CODES), "lead"],
        ),
        "search_email": lambda: (
            lambda p: raw_query(
                f"SELECT {columns} FROM contacts_contact WHERE deleted_at IS NULL AND email >= ? AND email < ? AND NOT (email = '') "
                "ORDER BY last_name_key, first_name_key, id LIMIT 51",
                [p, upper(p)],
            )
        )(email_prefix()),
        "search_name": lambda: (
            lambda p: raw_query(
                f"SELECT {columns} FROM contacts_contact WHERE deleted_at IS NULL AND last_name_key >= ? AND last_name_key < ? "
                "ORDER BY last_name_key, first_name_key, id LIMIT 51",
                [p, upper(p)],
            )
        )(rng.choice(prefixes)),
    }
    raw_results = {name: summary(timed(fn, repeats)) for name, fn in raw_cases.items()}
    pairs = {
        "api_filtered_sorted": "filtered_sorted",
        "api_filtered_sorted_as_rep": "filtered_sorted",
        "page_filtered_sorted": "filtered_sorted",
        "api_search_email": "search_email",
        "page_search_email": "search_email",
        "api_search_name": "search_name",
        "page_search_name": "search_name",
    }
    for name, raw_name in pairs.items():
        if "p95_ms" in results.get(name, {}):
            results[name]["ratio_p95_to_raw"] = round(
                results[name]["p95_ms"] / max(raw_results[raw_name]["p95_ms"], 0.01), 1
            )
    print(
        json.dumps(
            {
                "backend": connection.vendor,
                "contacts": contacts,
                "populate_s": facts["seconds"],
                "requests": results,
                "raw_select": raw_results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
