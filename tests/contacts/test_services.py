"""The contact and account services: validation, derived fields, histories, access and conflicts."""

from __future__ import annotations

import pytest

from rapport.contacts import services
from rapport.contacts.models import (
    Account,
    ConsentChange,
    Contact,
    CustomField,
    DataSource,
    ImportJob,
    LifecycleChange,
    Party,
)
from rapport.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from rapport.core.models import AuditEntry, Role, Via
from tests.factories import AccountFactory, ContactFactory, TerritoryFactory


def fields_of(error: ValidationFailed) -> dict[str, str]:
    return {e.field: e.message for e in error.errors}


class TestContactCreate:
    def test_normalises_email_phone_country_and_derives_keys_seniority_territory(self, world):
        territory = world.rep.territories.get()
        contact = services.contact_create(
            actor=world.marketer,
            via=Via.PAGE,
            data={
                "first_name": "Jürgen",
                "last_name": "Müller",
                "email": " J.Mueller@Example.COM ",
                "phone": "030 1234567",
                "country": "Germany",
                "job_title": "Geschäftsführer",
            },
        )
        contact.refresh_from_db()
        assert contact.email == "j.mueller@example.com"
        assert contact.phone == "+49301234567"
        assert contact.country == "DE"
        assert (contact.first_name_key, contact.last_name_key) == ("jurgen", "muller")
        assert contact.seniority == "c_level"
        assert contact.seniority_manual is False
        assert contact.territory_id == territory.pk
        assert contact.lifecycle_stage == "lead"
        assert contact.version == 1

    def test_records_audit_lifecycle_consent_and_provenance(self, world):
        contact = services.contact_create(
            actor=world.marketer,
            via=Via.API,
            data={"email": "a@example.com", "consent": {"email": "granted"}, "lifecycle_stage": "mql"},
            provenance=services.Provenance(Party.THIRD, "ZoomInfo"),
        )
        entry = AuditEntry.objects.get(object_type="contact", object_id=contact.pk)
        assert (entry.action, entry.via, entry.actor) == ("create", "api", world.marketer)
        assert entry.changes["email"] == [None, "a@example.com"]
        assert entry.changes["lifecycle_stage"] == [None, "mql"]
        stage = LifecycleChange.objects.get(contact=contact)
        assert (stage.from_stage, stage.to_stage) == ("", "mql")
        consent = ConsentChange.objects.get(contact=contact)
        assert (consent.channel, consent.previous, consent.status, consent.source) == (
            "email",
            "unknown",
            "granted",
            "ZoomInfo",
        )
        source = DataSource.objects.get(pk=contact.provenance["email"])
        assert (source.party, source.name, source.via, source.actor) == ("third", "ZoomInfo", "api", world.marketer)
        assert contact.provenance["consent_email"] == source.pk

    def test_duplicate_email_is_a_conflict_naming_the_existing_contact(self, world):
        first = services.contact_create(actor=world.admin, via=Via.PAGE, data={"email": "dup@example.com"})
        with pytest.raises(Conflict) as caught:
            services.contact_create(actor=world.admin, via=Via.PAGE, data={"email": "DUP@example.com"})
        assert caught.value.existing_id == first.pk
        assert Contact.objects.count() == 1

    def test_every_invalid_field_is_reported_at_once_and_nothing_is_written(self, world):
        CustomField.objects.create(object_type="contact", key="employees", label="Employees", field_type="number")
        with pytest.raises(ValidationFailed) as caught:
            services.contact_create(
                actor=world.admin,
                via=Via.API,
                data={
                    "email": "not-an-email",
                    "phone": "12",
                    "country": "Atlantis",
                    "lifecycle_stage": "hot",
                    "colour": "blue",
                    "custom": {"employees": "many", "nope": 1},
                },
            )
        problems = fields_of(caught.value)
        assert set(problems) == {
            "email",
            "phone",
            "country",
            "lifecycle_stage",
            "colour",
            "custom.employees",
            "custom.nope",
        }
        assert problems["colour"] == "is not a contact field."
        assert Contact.objects.count() == 0
        assert AuditEntry.objects.filter(object_type="contact").count() == 0

    def test_a_contact_needs_a_name_email_or_phone(self, world):
        with pytest.raises(ValidationFailed) as caught:
            services.contact_create(actor=world.admin, via=Via.API, data={"job_title": "CEO"})
        assert caught.value.errors[0].message == "A contact needs at least a name, an email address or a phone number."

    def test_rep_becomes_owner_of_what_they_create(self, world):
        contact = services.contact_create(actor=world.rep, via=Via.PAGE, data={"last_name": "Rep's"})
        assert contact.owner_id == world.rep.pk

    def test_partner_must_file_contacts_under_a_shared_account(self, world):
        shared = AccountFactory(partner_organisation=world.partner.partner_organisation)
        other = AccountFactory()
        with pytest.raises(ValidationFailed):
            services.contact_create(actor=world.partner, via=Via.PAGE, data={"last_name": "Loose"})
        with pytest.raises(ValidationFailed) as caught:
            services.contact_create(actor=world.partner, via=Via.PAGE, data={"last_name": "X", "account_id": other.pk})
        assert fields_of(caught.value) == {"account_id": f"no account with id {other.pk}."}
        contact = services.contact_create(
            actor=world.partner, via=Via.PAGE, data={"last_name": "Ok", "account_id": shared.pk}
        )
        assert contact.account_id == shared.pk

    def test_custom_fields_are_validated_by_type(self, world):
        CustomField.objects.create(object_type="contact", key="n", label="N", field_type="number")
        CustomField.objects.create(object_type="contact", key="d", label="D", field_type="date")
        CustomField.objects.create(
            object_type="contact", key="lang", label="Language", field_type="choice", choices=["English", "Deutsch"]
        )
        CustomField.objects.create(
            object_type="contact", key="topics", label="Topics", field_type="multi_choice", choices=["AI", "Cloud"]
        )
        CustomField.objects.create(object_type="contact", key="ok", label="OK", field_type="boolean")
        contact = services.contact_create(
            actor=world.admin,
            via=Via.API,
            data={
                "last_name": "C",
                "custom": {"n": 12, "d": "2026-01-31", "lang": "deutsch", "topics": ["cloud", "AI"], "ok": True},
            },
        )
        assert contact.custom == {"n": 12, "d": "2026-01-31", "lang": "Deutsch", "topics": ["Cloud", "AI"], "ok": True}
        with pytest.raises(ValidationFailed) as caught:
            services.contact_create(
                actor=world.admin,
                via=Via.API,
                data={
                    "last_name": "C",
                    "custom": {"n": "12", "d": "31/01/2026", "lang": "Klingon", "topics": "AI", "ok": "yes"},
                },
            )
        assert set(fields_of(caught.value)) == {"custom.n", "custom.d", "custom.lang", "custom.topics", "custom.ok"}

    def test_custom_values_from_files_are_parsed(self, world):
        CustomField.objects.create(object_type="contact", key="n", label="N", field_type="number")
        CustomField.objects.create(object_type="contact", key="ok", label="OK", field_type="boolean")
        contact = services.contact_create(
            actor=world.admin,
            via=Via.IMPORT,
            data={"last_name": "C", "custom": {"n": "1,5", "ok": "ja"}},
            from_text=True,
        )
        assert contact.custom == {"n": 1.5, "ok": True}

    def test_required_custom_field_must_be_given(self, world):
        CustomField.objects.create(
            object_type="contact", key="region_code", label="Region code", field_type="text", required=True
        )
        with pytest.raises(ValidationFailed) as caught:
            services.contact_create(actor=world.admin, via=Via.API, data={"last_name": "C"})
        assert fields_of(caught.value) == {"custom.region_code": "Region code is required."}


class TestContactUpdate:
    def test_records_only_changed_fields_and_bumps_version(self, world):
        contact = services.contact_create(
            actor=world.admin, via=Via.PAGE, data={"first_name": "Ann", "job_title": "Engineer"}
        )
        updated = services.contact_update(
            actor=world.manager,
            via=Via.API,
            contact_id=contact.pk,
            data={"job_title": "VP Engineering", "first_name": "Ann"},
        )
        assert updated.version == 2
        assert updated.seniority == "vp"
        entry = AuditEntry.objects.filter(object_type="contact", object_id=contact.pk, action="update").get()
        assert entry.changes == {"job_title": ["Engineer", "VP Engineering"], "seniority": ["ic", "vp"]}
        assert entry.actor == world.manager

    def test_an_update_with_nothing_new_writes_no_history(self, world):
        contact = services.contact_create(actor=world.admin, via=Via.PAGE, data={"first_name": "Ann"})
        services.contact_update(actor=world.admin, via=Via.API, contact_id=contact.pk, data={"first_name": "Ann"})
        assert AuditEntry.objects.filter(object_id=contact.pk, action="update").count() == 0
        assert Contact.objects.get(pk=contact.pk).version == 1

    def test_stale_version_is_refused_and_changes_nothing(self, world):
        contact = services.contact_create(actor=world.admin, via=Via.PAGE, data={"first_name": "Ann"})
        services.contact_update(
            actor=world.admin, via=Via.PAGE, contact_id=contact.pk, data={"city": "Oslo"}, expected_version=1
        )
        with pytest.raises(Conflict):
            services.contact_update(
                actor=world.admin, via=Via.PAGE, contact_id=contact.pk, data={"city": "Rome"}, expected_version=1
            )
        assert Contact.objects.get(pk=contact.pk).city == "Oslo"

    def test_manual_seniority_survives_title_changes_until_cleared(self, world):
        contact = services.contact_create(
            actor=world.admin, via=Via.PAGE, data={"last_name": "S", "job_title": "Engineer", "seniority": "director"}
        )
        assert (contact.seniority, contact.seniority_manual) == ("director", True)
        contact = services.contact_update(
            actor=world.admin, via=Via.PAGE, contact_id=contact.pk, data={"job_title": "CEO"}
        )
        assert contact.seniority == "director"
        contact = services.contact_update(
            actor=world.admin, via=Via.PAGE, contact_id=contact.pk, data={"seniority": None}
        )
        assert (contact.seniority, contact.seniority_manual) == ("c_level", False)

    def test_taking_another_contacts_email_is_a_conflict(self, world):
        a = services.contact_create(actor=world.admin, via=Via.PAGE, data={"email": "a@example.com"})
        b = services.contact_create(actor=world.admin, via=Via.PAGE, data={"email": "b@example.com"})
        with pytest.raises(Conflict) as caught:
            services.contact_update(actor=world.admin, via=Via.PAGE, contact_id=b.pk, data={"email": "A@example.com"})
        assert caught.value.existing_id == a.pk

    def test_hidden_contact_is_not_found_for_a_rep(self, world):
        hidden = ContactFactory(owner=world.other_rep)
        with pytest.raises(NotFound):
            services.contact_update(actor=world.rep, via=Via.API, contact_id=hidden.pk, data={"city": "X"})

    def test_lifecycle_and_consent_changes_are_kept_with_time_and_actor(self, world):
        contact = services.contact_create(actor=world.admin, via=Via.PAGE, data={"last_name": "L"})
        services.contact_update(
            actor=world.marketer,
            via=Via.PAGE,
            contact_id=contact.pk,
            data={"lifecycle_stage": "sql", "consent": {"email": "denied"}},
        )
        stages = list(
            LifecycleChange.objects.filter(contact=contact).order_by("id").values_list("from_stage", "to_stage")
        )
        assert stages == [("", "lead"), ("lead", "sql")]
        change = ConsentChange.objects.get(contact=contact)
        assert (change.previous, change.status, change.actor) == ("unknown", "denied", world.marketer)

    def test_replacing_tags_is_audited(self, world):
        contact = services.contact_create(actor=world.admin, via=Via.PAGE, data={"last_name": "T", "tags": ["a", "b"]})
        services.contact_update(actor=world.admin, via=Via.PAGE, contact_id=contact.pk, data={"tags": ["b", "c"]})
        assert sorted(contact.tags.values_list("name", flat=True)) == ["b", "c"]
        entry = AuditEntry.objects.filter(object_id=contact.pk, action="update").get()
        assert entry.changes == {"tags": [["a", "b"], ["b", "c"]]}


class TestBulkActions:
    def test_rep_bulk_edits_touch_only_visible_contacts(self, world):
        mine = ContactFactory(owner=world.rep, lifecycle_stage="lead")
        hidden = ContactFactory(owner=world.other_rep, lifecycle_stage="lead")
        changed = services.contacts_set_stage(
            actor=world.rep, via=Via.PAGE, contact_ids=[mine.pk, hidden.pk], stage="sql"
        )
        assert changed == 1
        assert Contact.objects.get(pk=mine.pk).lifecycle_stage == "sql"
        assert Contact.objects.get(pk=hidden.pk).lifecycle_stage == "lead"
        assert LifecycleChange.objects.filter(contact=mine, to_stage="sql").count() == 1

    def test_assign_owner_and_tag(self, world):
        a, b = ContactFactory(), ContactFactory()
        assert (
            services.contacts_assign_owner(
                actor=world.manager, via=Via.PAGE, contact_ids=[a.pk, b.pk], owner_id=world.rep.pk
            )
            == 2
        )
        assert set(Contact.objects.filter(owner=world.rep).values_list("pk", flat=True)) == {a.pk, b.pk}
        assert services.contacts_tag(actor=world.manager, via=Via.PAGE, contact_ids=[a.pk], add=["VIP"]) == 1
        assert list(a.tags.values_list("name", flat=True)) == ["VIP"]
        services.contacts_tag(actor=world.manager, via=Via.PAGE, contact_ids=[a.pk], remove=["vip"])
        assert a.tags.count() == 0

    def test_delete_needs_the_capability_and_can_be_restored(self, world):
        contact = ContactFactory(email="gone@example.com")
        with pytest.raises(Forbidden):
            services.contacts_delete(actor=world.rep, via=Via.PAGE, contact_ids=[contact.pk])
        assert services.contacts_delete(actor=world.manager, via=Via.PAGE, contact_ids=[contact.pk]) == 1
        assert not Contact.objects.filter(pk=contact.pk).exists()
        assert Contact.all_objects.get(pk=contact.pk).deleted_at is not None
        assert services.contacts_restore(actor=world.manager, via=Via.PAGE, contact_ids=[contact.pk]) == 1
        assert Contact.objects.filter(pk=contact.pk).exists()

    def test_deleted_contacts_email_can_be_reused_and_then_not_restored(self, world):
        contact = ContactFactory(email="reuse@example.com")
        services.contacts_delete(actor=world.admin, via=Via.PAGE, contact_ids=[contact.pk])
        services.contact_create(actor=world.admin, via=Via.PAGE, data={"email": "reuse@example.com"})
        with pytest.raises(Conflict):
            services.contacts_restore(actor=world.admin, via=Via.PAGE, contact_ids=[contact.pk])


class TestUpsertBatch:
    def rows(self, *values):
        return list(enumerate(values, start=2))

    def test_creates_merges_updates_skips_and_rejects(self, world):
        existing = ContactFactory(email="old@example.com", city="Paris")
        job = ImportJob.objects.create(object_type="contact", file_path="x", original_name="x.csv")
        outcomes = services.contacts_upsert_batch(
            actor=world.marketer,
            via=Via.IMPORT,
            rows=self.rows(
                {"email": "new@example.com", "first_name": "New"},
                {"email": "NEW@example.com", "city": "Oslo"},
                {"email": "old@example.com", "city": "Rome"},
                {"email": "old@example.com", "city": "Rome"},
                {"email": "broken@"},
                {"job_title": "Nameless"},
            ),
            from_text=True,
            import_job=job,
        )
        statuses = [(o.index, o.status) for o in outcomes]
        assert statuses == [
            (2, "created"),
            (3, "merged"),
            (4, "updated"),
            (5, "merged"),
            (6, "rejected"),
            (7, "rejected"),
        ]
        new = Contact.objects.get(email="new@example.com")
        assert (new.first_name, new.city, new.import_job_id) == ("New", "Oslo", job.pk)
        assert Contact.objects.get(pk=existing.pk).city == "Rome"
        assert outcomes[4].errors[0].field == "email"
        assert Contact.objects.count() == 2

    def test_create_only_skips_existing_and_update_only_skips_new(self, world):
        ContactFactory(email="old@example.com")
        create_only = services.contacts_upsert_batch(
            actor=world.admin,
            via=Via.API,
            rows=self.rows({"email": "old@example.com", "city": "X"}, {"email": "n@example.com"}),
            mode="create",
        )
        assert [o.status for o in create_only] == ["skipped", "created"]
        update_only = services.contacts_upsert_batch(
            actor=world.admin,
            via=Via.API,
            rows=self.rows({"email": "old@example.com", "city": "X"}, {"email": "z@example.com"}),
            mode="update",
        )
        assert [o.status for o in update_only] == ["updated", "skipped"]
        assert not Contact.objects.filter(email="z@example.com").exists()

    def test_retrying_a_batch_creates_nothing_new(self, world):
        rows = self.rows({"email": "a@example.com", "first_name": "A"}, {"email": "b@example.com", "first_name": "B"})
        services.contacts_upsert_batch(actor=world.admin, via=Via.API, rows=rows)
        again = services.contacts_upsert_batch(actor=world.admin, via=Via.API, rows=rows)
        assert [o.status for o in again] == ["skipped", "skipped"]
        assert Contact.objects.count() == 2

    def test_matching_on_external_id_refuses_an_email_held_by_another_contact(self, world):
        ContactFactory(email="taken@example.com", external_id="A1")
        outcomes = services.contacts_upsert_batch(
            actor=world.admin,
            via=Via.API,
            rows=self.rows({"external_id": "B2", "email": "taken@example.com"}, {"external_id": "A1", "city": "Oslo"}),
            match_on="external_id",
        )
        assert [o.status for o in outcomes] == ["rejected", "updated"]
        assert outcomes[0].errors[0].field == "email"

    def test_company_column_files_contacts_under_one_account(self, world):
        AccountFactory(name="Acme GmbH")
        outcomes = services.contacts_upsert_batch(
            actor=world.admin,
            via=Via.IMPORT,
            rows=self.rows(
                {"email": "a@acme.de", "company": "ACME gmbh"},
                {"email": "b@new.io", "company": "New Co", "company_domain": "https://www.new.io/about"},
                {"email": "c@new.io", "company": "new co"},
            ),
            from_text=True,
        )
        assert [o.status for o in outcomes] == ["created", "created", "created"]
        acme = Account.objects.get(name="Acme GmbH")
        new_co = Account.objects.get(name="New Co")
        assert new_co.domain == "new.io"
        assert Contact.objects.get(email="a@acme.de").account_id == acme.pk
        assert set(Contact.objects.filter(account=new_co).values_list("email", flat=True)) == {"b@new.io", "c@new.io"}

    def test_matching_on_name_and_company(self, world):
        account = AccountFactory(name="Initech")
        person = ContactFactory(first_name="Peter", last_name="Gibbons", account=account, email="")
        outcomes = services.contacts_upsert_batch(
            actor=world.admin,
            via=Via.IMPORT,
            rows=self.rows({"first_name": "peter", "last_name": "GIBBONS", "company": "Initech", "city": "Austin"}),
            match_on="name_company",
            from_text=True,
        )
        assert [(o.status, o.id) for o in outcomes] == [("updated", person.pk)]

    def test_rep_can_not_update_a_contact_they_can_not_see(self, world):
        hidden = ContactFactory(email="hidden@example.com", owner=world.other_rep)
        outcomes = services.contacts_upsert_batch(
            actor=world.rep, via=Via.API, rows=self.rows({"email": "hidden@example.com", "city": "X"})
        )
        assert outcomes[0].status == "rejected"
        assert Contact.objects.get(pk=hidden.pk).city == ""

    def test_new_tags_on_an_existing_contact_count_as_an_update_and_known_ones_do_not(self, world):
        ContactFactory(email="t@example.com")
        first = services.contacts_upsert_batch(
            actor=world.admin, via=Via.IMPORT, rows=self.rows({"email": "t@example.com", "tags": "vip"}), from_text=True
        )
        again = services.contacts_upsert_batch(
            actor=world.admin, via=Via.IMPORT, rows=self.rows({"email": "t@example.com", "tags": "VIP"}), from_text=True
        )
        assert (first[0].status, again[0].status) == ("updated", "skipped")
        contact = Contact.objects.get(email="t@example.com")
        assert AuditEntry.objects.get(object_id=contact.pk, action="update").changes == {"tags": [[], ["vip"]]}

    def test_history_rows_are_written_for_created_and_updated_contacts(self, world):
        ContactFactory(email="old@example.com")
        services.contacts_upsert_batch(
            actor=world.admin,
            via=Via.IMPORT,
            rows=self.rows(
                {"email": "new@example.com", "consent": {"email": "granted"}},
                {"email": "old@example.com", "city": "Oslo"},
            ),
        )
        new = Contact.objects.get(email="new@example.com")
        assert AuditEntry.objects.filter(object_id=new.pk, object_type="contact", action="create").count() == 1
        assert LifecycleChange.objects.filter(contact=new).count() == 1
        assert ConsentChange.objects.filter(contact=new, status="granted").count() == 1
        old = Contact.objects.get(email="old@example.com")
        assert AuditEntry.objects.get(object_id=old.pk, action="update").changes == {"city": ["", "Oslo"]}
        assert old.version == 2


class TestAccounts:
    def test_account_parent_cycles_are_refused(self, world):
        top = services.account_create(actor=world.admin, via=Via.PAGE, data={"name": "Top"})
        child = services.account_create(actor=world.admin, via=Via.PAGE, data={"name": "Child", "parent_id": top.pk})
        with pytest.raises(ValidationFailed):
            services.account_update(actor=world.admin, via=Via.PAGE, account_id=top.pk, data={"parent_id": child.pk})

    def test_partner_accounts_are_shared_with_their_organisation(self, world):
        account = services.account_create(actor=world.partner, via=Via.PAGE, data={"name": "Partner's client"})
        assert account.partner_organisation_id == world.partner.partner_organisation_id
        with pytest.raises(ValidationFailed):
            services.account_update(
                actor=world.partner,
                via=Via.PAGE,
                account_id=account.pk,
                data={"partner_organisation_id": world.other_partner.partner_organisation_id},
            )

    def test_account_fields_are_normalised(self, world):
        account = services.account_create(
            actor=world.admin,
            via=Via.API,
            data={
                "name": " Acme  Inc ",
                "domain": "https://WWW.Acme.com/about",
                "annual_revenue": 1234.5,
                "size_band": "51-200",
                "country": "usa",
            },
        )
        assert (account.name, account.name_key, account.domain, account.country) == (
            "Acme Inc",
            "acme inc",
            "acme.com",
            "US",
        )
        assert str(account.annual_revenue) == "1234.50"

    def test_accounts_upsert_by_domain(self, world):
        AccountFactory(name="Acme", domain="acme.com")
        outcomes = services.accounts_upsert_batch(
            actor=world.admin,
            via=Via.IMPORT,
            rows=[
                (2, {"name": "Acme Inc", "domain": "acme.com", "industry": "Software"}),
                (3, {"name": "Beta", "domain": "beta.io"}),
            ],
            from_text=True,
        )
        assert [o.status for o in outcomes] == ["updated", "created"]
        assert Account.objects.get(domain="acme.com").industry == "Software"


def test_territories_reassign_after_rules_change(world):
    contact = ContactFactory(country="FR")
    assert contact.territory_id is None
    france = TerritoryFactory(name="France", countries=["FR"])
    assert services.territories_reassign() >= 1
    assert Contact.objects.get(pk=contact.pk).territory_id == france.pk


def test_custom_field_definitions_are_validated(world):
    with pytest.raises(ValidationFailed) as caught:
        services.custom_field_save(
            actor=world.admin, object_type="contact", key="Bad Key", label="", field_type="choice"
        )
    assert set(fields_of(caught.value)) == {"key", "label", "choices"}
    with pytest.raises(Forbidden):
        services.custom_field_save(actor=world.marketer, object_type="contact", key="x", label="X", field_type="text")
    field = services.custom_field_save(actor=world.admin, object_type="contact", key="x", label="X", field_type="text")
    with pytest.raises(ValidationFailed):
        services.custom_field_save(
            actor=world.admin, object_type="contact", key="x", label="X", field_type="number", field_id=field.pk
        )


def test_partner_role_requires_an_organisation(world):
    from rapport.core.services import user_create

    with pytest.raises(ValidationFailed):
        user_create(username="p2", role=Role.PARTNER)


def test_resending_an_unchanged_value_keeps_its_original_source(world):
    contact = services.contact_create(
        actor=world.admin,
        via=Via.IMPORT,
        data={"email": "p@example.com", "city": "Oslo"},
        provenance=services.Provenance(Party.THIRD, "ZoomInfo"),
    )
    first_source = contact.provenance["city"]
    updated = services.contact_update(
        actor=world.rep if contact.owner_id == world.rep.pk else world.admin,
        via=Via.API,
        contact_id=contact.pk,
        data={"city": "Oslo", "job_title": "CTO"},
    )
    assert updated.provenance["city"] == first_source
    assert updated.provenance["job_title"] != first_source
    assert DataSource.objects.get(pk=updated.provenance["job_title"]).party == "first"


def test_consent_problems_name_the_channel(world):
    with pytest.raises(ValidationFailed) as caught:
        services.contact_create(
            actor=world.admin, via=Via.API, data={"last_name": "C", "consent": {"email": "maybe", "fax": "granted"}}
        )
    assert set(fields_of(caught.value)) == {"consent.email", "consent.fax"}
