"""factory_boy factories for the records tests need; services are used where behaviour matters."""

from __future__ import annotations

import factory

from rapport.contacts import normalise
from rapport.contacts.models import Account, Contact
from rapport.core.models import PartnerOrganisation, Role, Team, Territory, User


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Team {n}")


class PartnerOrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PartnerOrganisation
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Partner {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@rapport.test")
    first_name = factory.LazyAttribute(lambda u: u.username.title())
    role = Role.SALES_REP
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class TerritoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Territory

    name = factory.Sequence(lambda n: f"Territory {n}")
    countries = factory.LazyFunction(lambda: ["DE"])


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"Company {n}")
    name_key = factory.LazyAttribute(lambda a: normalise.key(a.name))
    domain = factory.Sequence(lambda n: f"company{n}.example")


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    first_name = factory.Sequence(lambda n: f"First{n}")
    last_name = factory.Sequence(lambda n: f"Last{n}")
    first_name_key = factory.LazyAttribute(lambda c: normalise.key(c.first_name))
    last_name_key = factory.LazyAttribute(lambda c: normalise.key(c.last_name))
    email = factory.Sequence(lambda n: f"person{n}@example.org")
