"""``rapport demo``: a realistic, reproducible synthetic company, loaded once and safely again."""

from __future__ import annotations

import io
import random
import re
import stat
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import phonenumbers
import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import Client, override_settings

from rapport.contacts import normalise
from rapport.contacts.models import (
    Account,
    ConsentChange,
    Contact,
    CustomField,
    DataSource,
    LifecycleChange,
    LifecycleStage,
    Seniority,
    SizeBand,
    Tag,
)
from rapport.contacts.seniority import derive
from rapport.core import demo as demo_module
from rapport.core.demo import COUNTRIES, SIZE_BANDS, TITLES, demo_phone, plan_accounts, plan_contacts
from rapport.core.errors import invalid
from rapport.core.models import ApiToken, AuditEntry, PartnerOrganisation, Role, Team, Territory, User
from tests.factories import UserFactory

E164 = re.compile(r"\+[1-9]\d{6,14}")


@dataclass
class Run:
    """What ``rapport demo`` did: exit status, output and the login it printed."""

    code: int
    out: str
    err: str

    @property
    def password(self) -> str:
        found = re.search(r"^Log in at http://testserver as \S+ / (\S+)$", self.out, re.MULTILINE)
        assert found, self.out
        return found.group(1)


def run_demo(*args: str) -> Run:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("demo", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return Run(code, out.getvalue(), err.getvalue())


def saved_password(data_dir: Path) -> str:
    lines = (data_dir / "demo-login.txt").read_text().splitlines()
    return next(line.split(":", 1)[1].strip() for line in lines if line.startswith("password:"))


# --- The default demo, loaded once for the tests that only read it ----------------------------------------


@dataclass
class LoadedDemo:
    run: Run
    data_dir: Path


@pytest.fixture(scope="class")
def loaded(django_db_setup, django_db_blocker, tmp_path_factory):
    """The default demo (2,000 contacts), loaded once for the class that reads it and rolled back after it."""
    data_dir = tmp_path_factory.mktemp("demo")
    with django_db_blocker.unblock(), override_settings(DATA_DIR=data_dir), transaction.atomic():
        yield LoadedDemo(run_demo(), data_dir)
        transaction.set_rollback(True)


@pytest.fixture
def demo(loaded, db) -> LoadedDemo:
    return loaded


class TestDefaultDemo:
    """The default demo, loaded once: what a user finds after ``make run``."""

    def test_default_demo_creates_a_company_of_the_promised_size(self, demo):
        assert demo.run.code == 0, demo.run.err
        assert Contact.objects.count() == 2000
        assert Account.objects.count() == 286
        assert (User.objects.count(), Team.objects.count(), Territory.objects.count()) == (18, 5, 7)
        assert (PartnerOrganisation.objects.count(), CustomField.objects.count(), Tag.objects.count()) == (1, 3, 10)
        first_line = demo.run.out.splitlines()[0]
        assert re.fullmatch(
            r"Loaded demo data \(seed 1\) in [\d.]+ s: 18 users, 5 teams, 7 territories, 1 partner organisation, "
            r"3 custom fields, 286 accounts, 2,000 contacts, 10 tags, 3 product lines, 10 products, 2 pipelines, "
            r"\d+ opportunities, [\d,]+ stage changes, \d+ orders, \d+ tasks, \d+ appointments, \d+ calls and notes, "
            r"\d+ emails, 108 quotas\.",
            first_line,
        )

    def test_demo_has_users_of_every_role_with_real_names_in_teams(self, demo):
        roles = Counter(User.objects.values_list("role", flat=True))
        assert roles == {
            Role.ADMIN: 1, Role.MARKETING: 2, Role.SALES_MANAGER: 3, Role.SALES_REP: 9, Role.SERVICE_AGENT: 2,
            Role.PARTNER: 1,
        }  # fmt: skip
        assert not User.objects.filter(first_name="").exists()
        assert not User.objects.filter(last_name="").exists()
        assert set(Team.objects.values_list("name", flat=True)) == {
            "Enterprise", "Mid-Market", "EMEA", "Marketing", "Customer Success",
        }  # fmt: skip
        assert not User.objects.filter(role=Role.SALES_REP, team=None).exists()
        assert User.objects.get(username="admin").is_superuser

    def test_territories_cover_the_right_countries_with_reps_as_members(self, demo):
        territories = {t.name: (sorted(t.countries), t.regions) for t in Territory.objects.all()}
        assert territories == {
            "US West": (["US"], ["CA", "WA", "OR", "CO", "AZ", "NV", "UT"]),
            "North America": (["CA", "US"], []),
            "UK & Ireland": (["GB", "IE"], []),
            "DACH": (["AT", "CH", "DE"], []),
            "France & Benelux": (["BE", "FR", "LU", "NL"], []),
            "Nordics": (["DK", "FI", "IS", "NO", "SE"], []),
            "Southern Europe": (["ES", "IT", "PT"], []),
        }
        for territory in Territory.objects.prefetch_related("members"):
            assert territory.members.exists()
            assert {m.role for m in territory.members.all()} == {Role.SALES_REP}

    def test_records_fall_in_the_territory_of_their_country(self, demo):
        by_name = {t.name: t.pk for t in Territory.objects.all()}
        for account in Account.objects.all():
            if account.country == "US" and account.region in {"CA", "WA", "OR", "CO", "AZ", "NV", "UT"}:
                assert account.territory_id == by_name["US West"]
            elif account.country in ("DE", "AT", "CH"):
                assert account.territory_id == by_name["DACH"]
            elif account.country == "AU":
                assert account.territory_id is None
        assert Account.objects.filter(territory=None).count() == Account.objects.filter(country="AU").count()

    def test_partner_sees_exactly_the_accounts_shared_with_it_and_their_contacts(self, demo):
        partner = User.objects.get(role=Role.PARTNER)
        shared = Account.objects.filter(partner_organisation=partner.partner_organisation)

        assert 0 < shared.count() < Account.objects.count()
        assert Account.objects.visible_to(partner).count() == shared.count()
        assert Contact.objects.visible_to(partner).count() == Contact.objects.filter(account__in=shared).count() > 0
        assert set(shared.values_list("country", flat=True)) <= {"DE", "AT", "CH"}

    def test_reps_see_their_own_team_and_unowned_records_in_their_territory(self, demo):
        jonas = User.objects.get(username="jonas.hoffmann")
        dach = Territory.objects.get(name="DACH")
        unowned_in_dach = Contact.objects.filter(owner=None, territory=dach)

        visible = Contact.objects.visible_to(jonas)

        assert unowned_in_dach.exists()
        assert visible.filter(pk__in=unowned_in_dach).count() == unowned_in_dach.count()
        assert 0 < visible.count() < Contact.objects.count()
        assert set(Account.objects.exclude(owner=None).values_list("owner__role", flat=True)) == {Role.SALES_REP}
        assert Account.objects.filter(owner=None).exclude(territory=None).exists()

    def test_every_phone_is_valid_e164_for_the_contacts_country(self, demo):
        phones = list(Contact.objects.exclude(phone="").values_list("phone", "country"))

        assert len(phones) > 1500
        for phone, country in phones:
            assert E164.fullmatch(phone), phone
            number = phonenumbers.parse(phone)
            assert phonenumbers.is_valid_number(number), phone
            assert phonenumbers.region_code_for_number(number) == country, (phone, country)

    def test_every_email_is_valid_unique_and_at_its_accounts_domain(self, demo):
        rows = list(Contact.objects.values_list("email", "account__domain"))

        assert len({email for email, _ in rows}) == len(rows) == 2000
        for email, domain in rows:
            assert normalise.email(email) == email
            assert email.endswith(f"@{domain}")
        domains = list(Account.objects.values_list("domain", flat=True))
        assert len(set(domains)) == len(domains)
        assert all(normalise.domain(d) == d for d in domains)

    def test_contacts_span_every_seniority_stage_and_many_locales(self, demo):
        assert set(Contact.objects.values_list("seniority", flat=True)) == set(Seniority.values)
        stages = Counter(Contact.objects.values_list("lifecycle_stage", flat=True))
        assert set(stages) == set(LifecycleStage.values)
        # A funnel: each qualifying stage is narrower than the one before it.
        assert stages["lead"] > stages["mql"] > stages["sql"]
        assert stages["customer"] > stages["evangelist"]
        languages = Counter(
            c["preferred_language"]
            for c in Contact.objects.values_list("custom", flat=True)
            if c.get("preferred_language")
        )
        assert {"English", "German", "French", "Spanish", "Swedish", "Dutch"} <= set(languages)
        assert len(set(Contact.objects.values_list("department", flat=True))) >= 10
        assert Contact.objects.filter(first_name__in=["Jürgen", "Søren", "Élodie", "Björn", "Álvaro"]).exists()

    def test_accounts_span_industries_countries_sizes_and_currencies(self, demo):
        accounts = list(Account.objects.all())
        assert len({a.industry for a in accounts}) == 15
        assert len({a.country for a in accounts}) >= 15
        assert {a.size_band for a in accounts} == set(SizeBand.values)
        currency = {c.code: c.currency for c in COUNTRIES}
        bands = {band: (low, high) for band, _, low, high in SIZE_BANDS}
        for account in accounts:
            assert account.currency == currency[account.country]
            low, high = bands[account.size_band]
            assert low <= account.custom["employees"] <= high
        revenues = [a.annual_revenue for a in accounts if a.annual_revenue is not None]
        assert 0.8 * len(accounts) < len(revenues) < len(accounts)
        assert all(r > 0 for r in revenues)

    def test_some_accounts_are_subsidiaries_of_a_parent_in_another_country(self, demo):
        children = list(Account.objects.exclude(parent=None).select_related("parent"))

        assert len(children) == 23
        for child in children:
            assert child.parent.parent_id is None
            assert child.country != child.parent.country
            assert child.industry == child.parent.industry

    def test_consent_is_mostly_granted_for_email_and_sometimes_denied(self, demo):
        email = Counter(Contact.objects.values_list("consent_email", flat=True))

        assert email["granted"] > 0.6 * 2000
        assert 0 < email["denied"] < 0.2 * 2000
        assert Contact.objects.filter(consent_phone="granted").exists()
        assert ConsentChange.objects.filter(channel="email", status="denied").count() == email["denied"]

    def test_custom_fields_are_defined_and_filled(self, demo):
        fields = {(f.object_type, f.key): f for f in CustomField.objects.all()}

        assert set(fields) == {
            ("contact", "preferred_language"),
            ("contact", "newsletter_topics"),
            ("account", "employees"),
        }
        assert fields["contact", "preferred_language"].field_type == "choice"
        assert fields["contact", "newsletter_topics"].field_type == "multi_choice"
        assert fields["account", "employees"].label == "Employees (exact)"
        customs = list(Contact.objects.values_list("custom", flat=True))
        assert sum("preferred_language" in c for c in customs) > 1000
        topics = [t for c in customs for t in c.get("newsletter_topics", [])]
        assert set(topics) == set(fields["contact", "newsletter_topics"].choices)

    def test_every_record_has_its_history_and_demo_provenance(self, demo):
        contact_ids = set(Contact.objects.values_list("pk", flat=True))
        account_ids = set(Account.objects.values_list("pk", flat=True))

        created = AuditEntry.objects.filter(action="create", via="system")
        assert set(created.filter(object_type="contact").values_list("object_id", flat=True)) == contact_ids
        assert set(created.filter(object_type="account").values_list("object_id", flat=True)) == account_ids
        assert set(LifecycleChange.objects.exclude(contact=None).values_list("contact_id", flat=True)) == contact_ids
        assert set(LifecycleChange.objects.exclude(account=None).values_list("account_id", flat=True)) == account_ids
        contact = Contact.objects.order_by("pk").first()
        source = DataSource.objects.get(pk=contact.provenance["email"])
        assert (source.name, source.party, source.via) == ("Demo data", "first", "system")

    def test_login_file_is_private_and_its_password_opens_every_demo_account(self, demo):
        path = demo.data_dir / "demo-login.txt"
        password = saved_password(demo.data_dir)

        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert demo.run.out.endswith(f"Log in at http://testserver as admin / {password}\n")
        assert "emma.clarke (marketing)" in demo.run.out
        for username in ("admin", "emma.clarke", "jonas.hoffmann", "katrin.vogel"):
            assert Client().login(username=username, password=password), username
        assert not ApiToken.objects.exists()


# --- Runs of their own ------------------------------------------------------------------------------------


@pytest.fixture
def data_dir(settings, tmp_path) -> Path:
    settings.DATA_DIR = tmp_path
    return tmp_path


def snapshot() -> list[tuple]:
    """What must be identical between two runs with the same seed (ids aside)."""
    return sorted(
        Contact.objects.values_list(
            "email", "first_name", "last_name", "phone", "job_title", "seniority", "lifecycle_stage",
            "owner__username", "account__name", "account__domain", "account__annual_revenue", "consent_email",
            "custom", "street", "postal_code",
        )
    )  # fmt: skip


def wipe() -> None:
    """Empty the tables the demo fills, as a fresh database would be."""
    from rapport.sales import models as sales

    for model in (sales.Order, sales.Message, sales.Opportunity, sales.Product, sales.ProductLine, sales.Pipeline):
        model.objects.all().delete()
    Contact.all_objects.all().delete()
    Account.all_objects.all().delete()
    for model in (Tag, CustomField, AuditEntry, LifecycleChange, Territory, User, Team, PartnerOrganisation):
        model.objects.all().delete()


def test_same_seed_gives_identical_data_and_another_seed_different_data(db, data_dir):
    assert run_demo("--contacts", "150", "--seed", "7").code == 0
    first = snapshot()
    wipe()
    run_demo("--contacts", "150", "--seed", "7")
    second = snapshot()
    wipe()
    run_demo("--contacts", "150", "--seed", "8")
    other = snapshot()

    assert len(first) == 150
    assert first == second
    assert {row[0] for row in first}.isdisjoint({row[0] for row in other})


def test_if_empty_loads_nothing_when_contacts_exist_but_prints_the_login(db, data_dir):
    first = run_demo("--contacts", "40", "--if-empty")
    before = (
        Contact.all_objects.count(),
        Account.all_objects.count(),
        User.objects.count(),
        AuditEntry.objects.count(),
    )

    again = run_demo("--contacts", "40", "--if-empty")

    assert (
        Contact.all_objects.count(),
        Account.all_objects.count(),
        User.objects.count(),
        AuditEntry.objects.count(),
    ) == before
    assert again.code == 0
    assert again.out == (
        "The database already has contacts, so no demo data was loaded.\n"
        f"The login is kept in {data_dir / 'demo-login.txt'}.\n"
        f"Log in at http://testserver as admin / {first.password}\n"
    )


def test_running_again_with_the_same_seed_creates_and_changes_nothing(db, data_dir):
    run_demo("--contacts", "40", "--seed", "3")
    before = (Contact.objects.count(), Account.objects.count(), User.objects.count(), AuditEntry.objects.count())

    again = run_demo("--contacts", "40", "--seed", "3")

    assert (
        Contact.objects.count(),
        Account.objects.count(),
        User.objects.count(),
        AuditEntry.objects.count(),
    ) == before
    assert again.out.splitlines()[0] == "The demo data of seed 3 was already there: nothing new was created."


def test_password_is_generated_once_and_kept_when_the_database_is_recreated(db, data_dir):
    first = run_demo("--contacts", "10")
    wipe()

    second = run_demo("--contacts", "10")

    assert first.password == second.password == saved_password(data_dir)
    assert Client().login(username="admin", password=second.password)


def test_existing_admin_keeps_its_password_and_the_login_names_another_demo_user(db, data_dir):
    UserFactory(username="admin", role=Role.ADMIN, is_superuser=True)  # password: correct-horse-battery

    result = run_demo("--contacts", "10")

    assert User.objects.get(username="admin").check_password("correct-horse-battery")
    assert result.out.endswith(f"Log in at http://testserver as emma.clarke / {result.password}\n")
    assert Client().login(username="emma.clarke", password=result.password)


def test_login_reports_a_password_changed_since_the_file_was_written(db, data_dir):
    run_demo("--contacts", "10")
    admin = User.objects.get(username="admin")
    admin.set_password("someone-changed-it-99")
    admin.save()

    result = run_demo("--if-empty")

    assert result.out.splitlines()[-1] == (
        f"The password of 'admin' was changed after {data_dir / 'demo-login.txt'} was written; "
        "log in at http://testserver with the new one."
    )


def test_zero_contacts_loads_the_company_without_customers(db, data_dir):
    result = run_demo("--contacts", "0")

    assert result.code == 0
    assert (User.objects.count(), Account.objects.count(), Contact.objects.count()) == (18, 0, 0)


@pytest.mark.parametrize("value", ["-1", "1000001"])
def test_demo_refuses_a_contact_count_out_of_range(db, data_dir, value):
    result = run_demo("--contacts", value)

    assert (result.code, result.out) == (2, "")
    assert result.err == "Can't load the demo data: --contacts: must be between 0 and 1,000,000.\n"
    assert not User.objects.exists()


def test_a_failing_step_leaves_nothing_behind(db, data_dir, monkeypatch):
    def broken(demo):
        raise invalid("tickets", "the demo's tickets don't fit the rules.")

    monkeypatch.setattr(demo_module, "STEPS", [*demo_module.STEPS, broken])

    result = run_demo("--contacts", "20")

    assert result.code == 2
    assert result.err == ("Can't load the demo data: tickets: the demo's tickets don't fit the rules.\n")
    assert (User.objects.count(), Contact.all_objects.count(), AuditEntry.objects.count()) == (0, 0, 0)
    assert not (data_dir / "demo-login.txt").exists()


# --- The generator's parts --------------------------------------------------------------------------------


@pytest.mark.parametrize("level", list(TITLES))
def test_every_demo_title_derives_to_its_intended_seniority(level):
    assert {title: derive(title) for title, _, _ in TITLES[level]} == {title: level for title, _, _ in TITLES[level]}


@pytest.mark.parametrize("country", COUNTRIES, ids=lambda c: c.code)
def test_demo_phones_are_valid_in_every_country_and_city(country):
    rng = random.Random(country.code)
    for city in country.cities:
        for _ in range(15):
            number = phonenumbers.parse(demo_phone(rng, country.code, city.area))
            assert phonenumbers.is_valid_number(number)
            assert phonenumbers.region_code_for_number(number) == country.code


def test_plans_are_reproducible_without_a_database():
    accounts = plan_accounts(random.Random("a"), 300)
    again = plan_accounts(random.Random("a"), 300)

    assert [a.name for a in accounts] == [a.name for a in again]
    assert len({a.name.lower() for a in accounts}) == len({a.domain for a in accounts}) == 300
    contacts = list(plan_contacts(random.Random("c"), accounts, 1000))
    assert contacts == list(plan_contacts(random.Random("c"), accounts, 1000))
    assert {c["account"] for c in contacts} == set(range(300))


def test_many_accounts_keep_unique_names_and_domains():
    accounts = plan_accounts(random.Random("big"), 5000)

    assert len({a.name.lower() for a in accounts}) == len({a.domain for a in accounts}) == 5000
    assert all(normalise.domain(a.domain) == a.domain for a in accounts)
