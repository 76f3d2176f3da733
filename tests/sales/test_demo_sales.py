"""The demo's sales data keeps the rules the services keep: stage histories without gaps, totals from lines,
an order per won deal, a reason per lost one, and loading again adds nothing."""

from __future__ import annotations

import io
import itertools
from collections import defaultdict
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db.models import Count, Sum
from django.test import override_settings

from rapport.contacts.models import Contact
from rapport.core.models import Role, User
from rapport.sales.models import (
    Activity,
    Appointment,
    Opportunity,
    OpportunityLine,
    Order,
    OrderLine,
    Quota,
    Stage,
    StageChange,
    Task,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(tmp_path):
    with override_settings(DATA_DIR=tmp_path):
        call_command("demo", "--contacts", "600", stdout=io.StringIO(), stderr=io.StringIO())


def test_every_deal_has_an_unbroken_stage_history_ending_in_its_stage(demo):
    history = defaultdict(list)
    for change in StageChange.objects.order_by("opportunity_id", "changed_at", "id"):
        history[change.opportunity_id].append(change)
    deals = list(Opportunity.objects.select_related("stage"))

    assert len(deals) > 50
    for deal in deals:
        path = history[deal.pk]
        assert path[0].from_stage_id is None
        assert all(b.from_stage_id == a.to_stage_id for a, b in itertools.pairwise(path))
        assert all(a.changed_at < b.changed_at for a, b in itertools.pairwise(path))
        assert path[0].changed_at == deal.created_at
        assert (path[-1].to_stage_id, path[-1].changed_at) == (deal.stage_id, deal.stage_entered_at)
        assert deal.probability == deal.stage.probability


def test_amounts_are_their_lines_sums_and_won_deals_have_matching_orders(demo):
    line_sums = dict(OpportunityLine.objects.values_list("opportunity").annotate(s=Sum("amount")))
    for deal in Opportunity.objects.select_related("stage"):
        assert deal.amount == line_sums[deal.pk]
        if deal.stage.kind == Stage.Kind.WON:
            order = Order.objects.get(opportunity=deal)
            assert (order.total, order.placed_at, order.status) == (deal.amount, deal.closed_at, Order.Status.PAID)
            assert deal.forecast_category == "closed"
        elif deal.stage.kind == Stage.Kind.LOST:
            assert deal.loss_reason_id is not None and deal.forecast_category == "omitted"
            assert not Order.objects.filter(opportunity=deal).exists()
        else:
            assert deal.closed_at is None and deal.loss_reason_id is None
    for order in Order.objects.annotate(lines_total=Sum("lines__amount"), n=Count("lines")):
        assert order.n >= 1
        assert order.total == order.lines_total == order.subtotal - order.discount_total
    kinds = set(Opportunity.objects.values_list("stage__kind", flat=True))
    assert kinds == {"open", "won", "lost"}
    statuses = set(Order.objects.values_list("status", flat=True))
    assert {"paid", "refunded"} <= statuses


def test_orders_and_activity_belong_to_the_demo_records_and_reps_have_quotas(demo):
    reps = User.objects.filter(role=Role.SALES_REP)
    assert Quota.objects.count() == reps.count() * 12
    assert not Order.objects.exclude(contact__account_id__isnull=False).filter(contact__isnull=False).exists()
    assert OrderLine.objects.filter(amount__lte=Decimal(0)).count() == 0
    assert Task.objects.filter(status="open").exists() and Task.objects.filter(status="done").exists()
    assert Activity.objects.filter(kind="call").exists() and Activity.objects.filter(kind="note").exists()
    assert all(a.end > a.start for a in Appointment.objects.all())
    assert set(Opportunity.objects.values_list("owner__role", flat=True)) == {Role.SALES_REP}
    assert Contact.objects.filter(primary_opportunities__isnull=False).exists()


def test_loading_the_demo_again_adds_no_sales_records(demo, tmp_path):
    before = (Opportunity.objects.count(), StageChange.objects.count(), Order.objects.count(), Task.objects.count())

    with override_settings(DATA_DIR=tmp_path):
        call_command("demo", "--contacts", "600", stdout=io.StringIO(), stderr=io.StringIO())

    assert (Opportunity.objects.count(), StageChange.objects.count(), Order.objects.count(), Task.objects.count()) == (
        before
    )
