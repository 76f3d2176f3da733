"""factory_boy factories for sales records. They write rows directly: tests of behaviour (totals, stage
history, invitations) go through the services instead."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory
from django.utils import timezone

from rapport.sales.models import (
    Activity,
    Appointment,
    LossReason,
    MessageTemplate,
    Opportunity,
    Pipeline,
    Product,
    ProductLine,
    Stage,
    Task,
)
from tests.factories import UserFactory


class ProductLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProductLine
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Line {n}")


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"SKU-{n:04d}")
    name = factory.Sequence(lambda n: f"Product {n}")
    price = Decimal("100.00")
    currency = "USD"


class PipelineFactory(factory.django.DjangoModelFactory):
    """A pipeline with the usual stages: Qualify 10%, Propose 50%, Negotiate 80%, Won 100%, Lost 0%."""

    class Meta:
        model = Pipeline
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Pipeline {n}")

    @factory.post_generation
    def stages(obj, create, extracted, **kwargs):
        if not create:
            return
        spec = extracted or [
            ("Qualify", 10, Stage.Kind.OPEN),
            ("Propose", 50, Stage.Kind.OPEN),
            ("Negotiate", 80, Stage.Kind.OPEN),
            ("Won", 100, Stage.Kind.WON),
            ("Lost", 0, Stage.Kind.LOST),
        ]
        for position, (name, probability, kind) in enumerate(spec):
            Stage.objects.create(pipeline=obj, name=name, position=position, probability=probability, kind=kind)


def stage(pipeline: Pipeline, name: str) -> Stage:
    """A pipeline's stage by name."""
    return pipeline.stages.get(name=name)


class LossReasonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LossReason
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Reason {n}")


class OpportunityFactory(factory.django.DjangoModelFactory):
    """A deal in its pipeline's first stage (no stage history: use the services where that matters)."""

    class Meta:
        model = Opportunity

    name = factory.Sequence(lambda n: f"Deal {n}")
    pipeline = factory.SubFactory(PipelineFactory)
    stage = factory.LazyAttribute(lambda o: o.pipeline.stages.order_by("position").first())
    probability = factory.LazyAttribute(lambda o: o.stage.probability)
    amount = Decimal("1000.00")
    expected_close_date = factory.LazyFunction(lambda: timezone.localdate() + dt.timedelta(days=30))


class TaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Task

    title = factory.Sequence(lambda n: f"Task {n}")
    assignee = factory.SubFactory(UserFactory)
    due_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=1))


class AppointmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Appointment

    title = factory.Sequence(lambda n: f"Meeting {n}")
    organizer = factory.SubFactory(UserFactory)
    start = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=1))
    end = factory.LazyAttribute(lambda a: a.start + dt.timedelta(hours=1))


class ActivityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Activity

    kind = Activity.Kind.NOTE
    body = factory.Sequence(lambda n: f"Note {n}")


class MessageTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MessageTemplate

    name = factory.Sequence(lambda n: f"Template {n}")
    subject = "Hello {{ contact.first_name }}"
    body = "Dear {{ contact.first_name }},\n\nThank you."
