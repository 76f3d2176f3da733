"""The custom-fields settings pages: admins define, change and delete fields; everyone else is refused."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from rapport.contacts.models import CustomField
from tests.factories import ContactFactory

FIELDS = reverse("contacts:custom_fields")


def new_field(**values) -> dict[str, object]:
    data: dict[str, object] = {
        "object_type": "contact",
        "label": "",
        "key": "",
        "field_type": "text",
        "choices": "",
        "help_text": "",
        "position": "0",
    }
    data.update(values)
    return data


def test_admin_defines_a_choice_field(world, logged_in):
    response = logged_in(world.admin).post(
        FIELDS,
        new_field(
            label="Preferred language",
            key="preferred_language",
            field_type="choice",
            choices="English\nGerman\n\nFrench\n",
            required="on",
            help_text="For emails.",
            position="3",
        ),
    )

    field = CustomField.objects.get()
    assert response.status_code == 302 and response["Location"] == FIELDS
    assert (
        field.object_type,
        field.key,
        field.label,
        field.field_type,
        field.choices,
        field.required,
        field.help_text,
        field.position,
    ) == (
        "contact",
        "preferred_language",
        "Preferred language",
        "choice",
        ["English", "German", "French"],
        True,
        "For emails.",
        3,
    )


def test_fields_are_listed_per_record_type(world, logged_in, django_assert_max_num_queries):
    CustomField.objects.create(object_type="contact", key="shoe_size", label="Shoe size", field_type="number")
    CustomField.objects.create(object_type="account", key="tier", label="Tier", field_type="choice", choices=["A", "B"])
    client = logged_in(world.admin)

    with django_assert_max_num_queries(5):
        html = client.get(FIELDS).content.decode()

    contact_table = html[html.index('data-testid="fields-contact"') : html.index('data-testid="fields-account"')]
    account_table = html[html.index('data-testid="fields-account"') :]
    assert "Shoe size" in contact_table and "Tier" not in contact_table
    assert "Tier" in account_table and "A, B" in account_table


def test_bad_definitions_are_shown_next_to_their_inputs(world, logged_in):
    response = logged_in(world.admin).post(FIELDS, new_field(label="Topics", key="2 Topics", field_type="multi_choice"))

    html = response.content.decode()
    assert response.status_code == 422
    assert CustomField.objects.count() == 0
    assert re.search(r'id="err-key"[^>]*><div class="invalid-feedback d-block">Use lower-case letters', html)
    assert re.search(
        r'id="err-choices"[^>]*><div class="invalid-feedback d-block">List the allowed values, one per line.', html
    )


def test_a_key_used_twice_is_refused(world, logged_in):
    CustomField.objects.create(object_type="contact", key="tier", label="Tier", field_type="text")

    response = logged_in(world.admin).post(FIELDS, new_field(label="Tier again", key="tier"))

    assert response.status_code == 422
    assert "A custom field with the key &#x27;tier&#x27; already exists." in response.content.decode()
    assert CustomField.objects.count() == 1


def test_editing_keeps_key_and_type(world, logged_in):
    field = CustomField.objects.create(
        object_type="contact", key="tier", label="Tier", field_type="choice", choices=["A"]
    )
    url = reverse("contacts:custom_field_edit", args=[field.pk])
    client = logged_in(world.admin)

    page = client.get(url).content.decode()
    response = client.post(
        url,
        new_field(
            object_type="account",
            key="other",
            field_type="number",
            label="Customer tier",
            choices="A\nB",
            position="2",
        ),
    )

    field.refresh_from_db()
    assert re.search(r'<input type="text" name="key" value="tier"[^>]*disabled', page)
    assert response.status_code == 302
    assert (field.object_type, field.key, field.field_type, field.label, field.choices, field.position) == (
        "contact",
        "tier",
        "choice",
        "Customer tier",
        ["A", "B"],
        2,
    )


def test_deleting_a_field_asks_and_removes_it(world, logged_in):
    field = CustomField.objects.create(object_type="contact", key="tier", label="Tier", field_type="text")
    ContactFactory(custom={"tier": "gold"})
    url = reverse("contacts:custom_field_edit", args=[field.pk])
    client = logged_in(world.admin)

    page = client.get(url).content.decode()
    response = client.post(url, {"delete": "1"})

    assert 'data-confirm="Delete the field “Tier”?' in page
    assert response.status_code == 302
    assert CustomField.objects.count() == 0


def test_a_new_field_appears_on_the_contact_form_by_type(world, logged_in):
    CustomField.objects.create(
        object_type="contact", key="topics", label="Topics", field_type="multi_choice", choices=["CRM", "Ads"]
    )
    CustomField.objects.create(object_type="contact", key="vip", label="VIP", field_type="boolean")
    CustomField.objects.create(object_type="contact", key="since", label="Customer since", field_type="date")

    html = logged_in(world.admin).get(reverse("contacts:contact_create")).content.decode()

    assert re.findall(r'<input class="form-check-input" type="checkbox" name="cf_topics" value="([^"]+)"', html) == [
        "CRM",
        "Ads",
    ]
    assert re.search(
        r'<select name="cf_vip"[^>]*>\s*<option value="" selected>—</option>\s*<option value="true">Yes</option>', html
    )
    assert re.search(r'<input type="date" name="cf_since"', html)


@pytest.mark.parametrize("who", ["marketer", "manager", "rep", "agent", "partner"])
def test_only_admins_may_manage_custom_fields(world, logged_in, who):
    field = CustomField.objects.create(object_type="contact", key="tier", label="Tier", field_type="text")
    client = logged_in(getattr(world, who))

    assert client.get(FIELDS).status_code == 403
    assert client.post(FIELDS, new_field(label="X", key="x")).status_code == 403
    assert client.post(reverse("contacts:custom_field_edit", args=[field.pk]), {"delete": "1"}).status_code == 403
    assert CustomField.objects.count() == 1


def test_an_unknown_field_is_not_found(world, logged_in):
    assert logged_in(world.admin).get(reverse("contacts:custom_field_edit", args=[999])).status_code == 404


def test_a_new_fields_key_follows_its_label_but_an_existing_fields_key_is_locked(world, logged_in):
    client = logged_in(world.admin)
    field = CustomField.objects.create(object_type="contact", key="tier", label="Tier", field_type="text")

    new = client.get(FIELDS).content.decode()
    edit = client.get(reverse("contacts:custom_field_edit", args=[field.pk])).content.decode()

    # On a new field, typing a label fills the key in (Alpine.js), and typing a key stops that
    assert 'x-data="customFieldForm(' in new
    assert re.search(r'<input type="text" name="label"[^>]*x-on:input="fillKey\(\$event.target.value\)"', new)
    assert re.search(r'<input type="text" name="key"[^>]*x-ref="key"', new)
    assert "Filled in from the label; change it if you like." in new
    # On an existing one the key can't change, so nothing fills it
    assert "fillKey" not in edit and 'x-ref="key"' not in edit
    assert re.search(r'<input type="text" name="key" value="tier"[^>]*disabled', edit)
