"""Demo data for the sales app: a product catalogue, a year of orders, deals across the pipeline with their
stage histories (some won, some lost with reasons), tasks, appointments, calls, notes, emails and quotas.

Part of ``rapport demo`` (``rapport.core.demo.STEPS``). The records are histories, dated over the past
year, so they are written in bulk with their own timestamps rather than through the services (which
stamp "now"); the rules the services enforce hold all the same: totals from lines, one stage change per
stage entered, won deals with an order, lost ones with a reason. Loaded once: a database that already
has deals gets no more.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import Q
from django.utils import timezone

from rapport.contacts.models import Account, ConsentStatus, Contact
from rapport.core.db import insert_objects, new_instance
from rapport.core.models import Role
from rapport.sales.models import (
    Activity,
    Appointment,
    AppointmentAttendee,
    LossReason,
    Message,
    Opportunity,
    OpportunityContact,
    OpportunityLine,
    Order,
    OrderLine,
    Pipeline,
    Product,
    ProductLine,
    Quota,
    Stage,
    StageChange,
    Task,
)

if TYPE_CHECKING:
    from rapport.core.demo import Demo

CURRENCY = "USD"
CENT = Decimal("0.01")

# fmt: off
PRODUCT_LINES = {
    "Platform": "The CRM platform, licensed per seat per year.",
    "Add-ons": "Modules sold on top of the platform.",
    "Services": "Onboarding, training and consulting days.",
}
PRODUCTS = (  # sku, name, line, list price (USD)
    ("PLT-STD", "Rapport Standard (seat, 1 year)", "Platform", "420.00"),
    ("PLT-PRO", "Rapport Professional (seat, 1 year)", "Platform", "780.00"),
    ("PLT-ENT", "Rapport Enterprise (seat, 1 year)", "Platform", "1260.00"),
    ("ADD-SCORE", "Predictive Scoring add-on (1 year)", "Add-ons", "4800.00"),
    ("ADD-JOURNEY", "Journeys add-on (1 year)", "Add-ons", "6000.00"),
    ("ADD-SERVICE", "Service Desk add-on (1 year)", "Add-ons", "3600.00"),
    ("SVC-ONBOARD", "Onboarding package", "Services", "7500.00"),
    ("SVC-TRAIN", "Training day", "Services", "1800.00"),
    ("SVC-CONSULT", "Consulting day", "Services", "2200.00"),
    ("SVC-MIGRATE", "Data migration", "Services", "9500.00"),
)
PIPELINES = (  # name, [(stage, probability, kind)]
    ("New business", [("Qualification", 10, "open"), ("Needs analysis", 25, "open"), ("Proposal", 50, "open"),
                      ("Negotiation", 75, "open"), ("Closed won", 100, "won"), ("Closed lost", 0, "lost")]),
    ("Renewals", [("Upcoming", 60, "open"), ("Quoted", 80, "open"), ("Renewed", 100, "won"),
                  ("Churned", 0, "lost")]),
)
LOSS_REASONS = ("No deal", "No budget", "Competitor", "No decision", "Dead lead", "Timing")
LOSS_WEIGHTS = (10, 22, 28, 24, 8, 8)
NEXT_STEPS = ("Send proposal", "Book a demo with the team", "Call the champion", "Security review",
              "Agree on pricing", "Legal review of the contract", "Workshop with IT", "Follow up on the quote")
CALL_NOTES = ("Discussed the rollout plan.", "Asked for references in their industry.", "Pricing questions for "
              "the add-ons.", "Wants a trial for two teams.", "Budget approved for next quarter.",
              "Left a message with the assistant.", "Checked in after the demo.")
NOTE_TEXTS = ("Champion is moving to another role in Q3.", "They use a competitor for email today.",
              "Procurement needs three quotes.", "Board meeting decides on the budget.",
              "Integration with their ERP is a must-have.", "Happy with onboarding so far.")
TASK_TITLES = ("Send the proposal", "Follow up after the demo", "Prepare the quote", "Call about the renewal",
               "Send case studies", "Book the kick-off meeting", "Check in with the champion",
               "Answer the security questionnaire")
MEETING_TITLES = ("Discovery call", "Product demo", "Pricing discussion", "Kick-off", "Quarterly review",
                  "Technical deep-dive", "Contract review")
# fmt: on


@dataclass
class _Deal:
    """A deal being planned: its path through the stages and what it sells."""

    account_id: int
    owner_id: int | None
    contacts: list[int]
    pipeline: Pipeline
    created_at: dt.datetime
    path: list[tuple[Stage, dt.datetime]] = field(default_factory=list)
    lines: list[tuple[Product, int, Decimal]] = field(default_factory=list)  # product, quantity, discount %
    loss_reason: LossReason | None = None
    close_in_days: int = 30  # for open deals: the expected close date from today (negative: overdue)
    id: int | None = None


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _amount(product: Product, quantity: int, discount: Decimal) -> Decimal:
    return _money(product.price * quantity * (100 - discount) / 100)


def demo_sales(demo: Demo) -> None:
    """Products, pipelines, a year of deals, orders and sales activity for the demo company."""
    if Opportunity.objects.exists() or not demo.accounts:
        return
    rng = demo.rng("sales")
    now = timezone.now().replace(microsecond=0)
    products = _catalogue(demo)
    pipelines = _pipelines(demo)
    reasons = [
        LossReason.objects.get_or_create(name=n, defaults={"position": i})[0] for i, n in enumerate(LOSS_REASONS)
    ]
    reps = [u for u in demo.users.values() if u.role == Role.SALES_REP and u.is_active]
    if not reps:
        return
    contacts_by_account: dict[int, list[tuple[int, str, str]]] = defaultdict(list)
    account_ids = [p.id for p in demo.accounts if p.id is not None]
    for pk, account_id, email, consent in Contact.objects.filter(account_id__in=account_ids).values_list(
        "pk", "account_id", "email", "consent_email"
    ):
        contacts_by_account[account_id].append((pk, email, consent))

    deals = _plan_deals(demo, rng, now, pipelines, products, reasons, reps, contacts_by_account)
    _write_deals(demo, deals, now)
    _write_orders(demo, rng, now, deals, products, contacts_by_account)
    _write_activity(demo, rng, now, deals, reps, contacts_by_account)
    _write_quotas(demo, now, deals, reps)


def _catalogue(demo: Demo) -> list[Product]:
    lines = {}
    for name, description in PRODUCT_LINES.items():
        lines[name], created = ProductLine.objects.get_or_create(name=name, defaults={"description": description})
        demo.created["product lines"] += created
    products = []
    for sku, name, line, price in PRODUCTS:
        product, created = Product.objects.get_or_create(
            sku=sku, defaults={"name": name, "product_line": lines[line], "price": Decimal(price), "currency": CURRENCY}
        )
        demo.created["products"] += created
        if product.currency == CURRENCY and product.active:
            products.append(product)
    return products


def _pipelines(demo: Demo) -> list[Pipeline]:
    found = []
    has_default = Pipeline.objects.filter(is_default=True).exists()
    for position, (name, stages) in enumerate(PIPELINES):
        pipeline, created = Pipeline.objects.get_or_create(
            name=name, defaults={"position": position, "is_default": not has_default and position == 0}
        )
        if created:
            demo.created["pipelines"] += 1
            for order, (stage, probability, kind) in enumerate(stages):
                Stage.objects.create(pipeline=pipeline, name=stage, position=order, probability=probability, kind=kind)
        found.append(pipeline)
    return found


def _plan_deals(
    demo: Demo,
    rng: random.Random,
    now: dt.datetime,
    pipelines: list[Pipeline],
    products: list[Product],
    reasons: list[LossReason],
    reps: list[Any],
    contacts_by_account: dict[int, list[tuple[int, str, str]]],
) -> list[_Deal]:
    """About one deal per account in the sales stages, more for customers (renewals and upsells)."""
    by_line = defaultdict(list)
    for product in products:
        by_line[product.product_line.name if product.product_line else ""].append(product)
    new_business, renewals = pipelines[0], pipelines[1]
    stages = {p.pk: list(p.stages.order_by("position")) for p in pipelines}
    deals: list[_Deal] = []
    for plan in demo.accounts:
        if plan.id is None or not contacts_by_account.get(plan.id):
            continue
        wanted = {"opportunity": 1, "sql": 1, "customer": 2, "evangelist": 2, "mql": 0.3, "lead": 0.15}.get(
            plan.stage, 0.1
        )
        count = int(wanted) + (rng.random() < wanted - int(wanted))
        owner_id = demo.user_id(plan.owner) or rng.choice(reps).pk
        for n in range(count):
            customer = plan.stage in ("customer", "evangelist")
            pipeline = renewals if customer and n == 1 else new_business
            age_days = rng.uniform(5, 360)
            deal = _Deal(
                account_id=plan.id,
                owner_id=owner_id,
                contacts=[c[0] for c in contacts_by_account[plan.id][: rng.randint(1, 3)]],
                pipeline=pipeline,
                created_at=now - dt.timedelta(days=age_days, hours=rng.uniform(0, 8)),
            )
            open_stages = [s for s in stages[pipeline.pk] if s.kind == Stage.Kind.OPEN]
            won = next(s for s in stages[pipeline.pk] if s.kind == Stage.Kind.WON)
            lost = next(s for s in stages[pipeline.pk] if s.kind == Stage.Kind.LOST)
            # A customer's first deal was won (that made it a customer); others are open or lost, except
            # renewals and upsells of customers. Young deals are mostly still open.
            outcomes = ["open", "won", "lost"] if customer else ["open", "lost"]
            if customer and n == 0:
                outcome = "won"
            elif age_days < 45:
                outcome = rng.choices(outcomes, [70, 12, 18][: len(outcomes)])[0]
            else:
                outcome = rng.choices(outcomes, [25, 33, 42] if customer else [35, 65])[0]
            # Most open deals close in the coming months; a few are past their date (flagged as overdue).
            deal.close_in_days = rng.randint(-20, 130)
            at = deal.created_at
            deepest = len(open_stages) if outcome == "won" else rng.randint(1, len(open_stages))
            for stage in open_stages[:deepest]:
                deal.path.append((stage, at))
                at += dt.timedelta(days=rng.expovariate(1 / 11) + 1, hours=rng.uniform(0, 6))
                if at >= now and outcome != "open":
                    break
            if outcome != "open" and at < now:
                deal.path.append((won if outcome == "won" else lost, at))
                if outcome == "lost":
                    deal.loss_reason = rng.choices(reasons, LOSS_WEIGHTS)[0]
            seats = rng.choice([5, 10, 10, 15, 20, 25, 40, 50, 75, 100])
            platform = rng.choice(by_line["Platform"] or products)
            discount = Decimal(rng.choice([0, 0, 0, 5, 10, 15, 20]))
            deal.lines.append((platform, seats, discount))
            if pipeline is new_business and rng.random() < 0.6:
                deal.lines.append((rng.choice(by_line["Services"] or products), rng.randint(1, 5), Decimal(0)))
            if rng.random() < 0.35:
                deal.lines.append((rng.choice(by_line["Add-ons"] or products), 1, Decimal(rng.choice([0, 10]))))
            deals.append(deal)
    return deals


def _write_deals(demo: Demo, deals: list[_Deal], now: dt.datetime) -> None:
    names = dict(Account.objects.filter(pk__in={d.account_id for d in deals}).values_list("pk", "name"))
    opportunities = []
    for deal in deals:
        stage, entered = deal.path[-1]
        amount = sum((_amount(p, q, d) for p, q, d in deal.lines), Decimal(0))
        closed = stage.kind != Stage.Kind.OPEN
        if closed:
            close_date = entered.date()
            category = "closed" if stage.kind == Stage.Kind.WON else "omitted"
        else:
            close_date = (now + dt.timedelta(days=deal.close_in_days)).date()
            category = ("pipeline", "best_case", "commit")[min(2, stage.position // 2)]
        label = "Renewal" if deal.pipeline.name == "Renewals" else deal.lines[0][0].name.split(" (")[0]
        opportunities.append(
            new_instance(
                Opportunity,
                name=f"{names.get(deal.account_id, 'Account')} – {label}"[:200],
                account_id=deal.account_id,
                primary_contact_id=deal.contacts[0] if deal.contacts else None,
                pipeline_id=deal.pipeline.pk,
                stage_id=stage.pk,
                amount=amount,
                currency=CURRENCY,
                probability=stage.probability,
                expected_close_date=close_date,
                closed_at=entered if closed else None,
                owner_id=deal.owner_id,
                forecast_category=category,
                next_step="" if closed else NEXT_STEPS[deal.account_id % len(NEXT_STEPS)],
                loss_reason_id=deal.loss_reason.pk if deal.loss_reason else None,
                stage_entered_at=entered,
                version=len(deal.path),
                created_at=deal.created_at,
                updated_at=entered,
            )
        )
    insert_objects(opportunities)
    demo.created["opportunities"] += len(opportunities)
    changes, lines, roles = [], [], []
    for deal, opportunity in zip(deals, opportunities, strict=True):
        deal.id = opportunity.pk
        previous = None
        for stage, at in deal.path:
            changes.append(
                new_instance(
                    StageChange,
                    opportunity_id=opportunity.pk,
                    pipeline_id=deal.pipeline.pk,
                    from_stage_id=previous.pk if previous else None,
                    to_stage_id=stage.pk,
                    changed_at=at,
                    changed_by_id=deal.owner_id,
                    amount=opportunity.amount,
                    probability=stage.probability,
                )
            )
            previous = stage
        for position, (product, quantity, discount) in enumerate(deal.lines):
            lines.append(
                new_instance(
                    OpportunityLine,
                    opportunity_id=opportunity.pk,
                    product_id=product.pk,
                    position=position,
                    quantity=Decimal(quantity),
                    unit_price=product.price,
                    discount=discount,
                    amount=_amount(product, quantity, discount),
                )
            )
        for i, contact_id in enumerate(deal.contacts):
            role = ("decision_maker", "champion", "influencer")[min(i, 2)]
            roles.append(
                new_instance(OpportunityContact, opportunity_id=opportunity.pk, contact_id=contact_id, role=role)
            )
    insert_objects(changes)
    insert_objects(lines)
    insert_objects(roles)
    demo.created["stage changes"] += len(changes)


def _write_orders(
    demo: Demo,
    rng: random.Random,
    now: dt.datetime,
    deals: list[_Deal],
    products: list[Product],
    contacts_by_account: dict[int, list[tuple[int, str, str]]],
) -> None:
    """An order for each won deal, and a year of smaller web-shop orders (some refunded or cancelled)."""
    orders: list[Order] = []
    order_lines: list[list[tuple[Product, Decimal, Decimal]]] = []
    for deal in deals:
        stage, at = deal.path[-1]
        if stage.kind != Stage.Kind.WON:
            continue
        lines = [(p, Decimal(q), d) for p, q, d in deal.lines]
        orders.append(
            _order(
                f"DEMO-SO-{deal.id}",
                deal.contacts[0] if deal.contacts else None,
                deal.account_id,
                at,
                lines,
                Order.Status.PAID,
                Order.Channel.SALES,
                deal.id,
            )
        )
        order_lines.append(lines)
    shop = [p for p in products if p.product_line and p.product_line.name != "Platform"] or products
    # Web-shop buyers are people at customer accounts (buying made them customers).
    customer_accounts = {p.id for p in demo.accounts if p.stage in ("customer", "evangelist")}
    customers = [
        (contact, account_id)
        for account_id, people in contacts_by_account.items()
        if account_id in customer_accounts
        for contact, _email, _consent in people[:2]
    ]
    for n in range(min(len(customers), max(10, len(customers) // 3))):
        contact_id, account_id = rng.choice(customers)
        at = now - dt.timedelta(days=rng.uniform(1, 365), hours=rng.uniform(0, 12))
        lines = [(rng.choice(shop), Decimal(rng.randint(1, 3)), Decimal(0)) for _ in range(rng.randint(1, 2))]
        status = rng.choices(
            [Order.Status.PAID, Order.Status.PLACED, Order.Status.REFUNDED, Order.Status.CANCELLED], [88, 6, 4, 2]
        )[0]
        orders.append(
            _order(f"DEMO-WEB-{n + 1:05d}", contact_id, account_id, at, lines, status, Order.Channel.WEB_SHOP)
        )
        order_lines.append(lines)
    insert_objects(orders)
    rows = []
    for order, lines in zip(orders, order_lines, strict=True):
        for position, (product, quantity, discount) in enumerate(lines):
            rows.append(
                new_instance(
                    OrderLine,
                    order_id=order.pk,
                    product_id=product.pk,
                    position=position,
                    quantity=quantity,
                    unit_price=product.price,
                    discount=discount,
                    amount=_money(product.price * quantity * (100 - discount) / 100),
                )
            )
    insert_objects(rows)
    demo.created["orders"] += len(orders)


def _order(
    external_id: str,
    contact_id: int | None,
    account_id: int | None,
    at: dt.datetime,
    lines: list[tuple[Product, Decimal, Decimal]],
    status: str,
    channel: str,
    opportunity_id: int | None = None,
) -> Order:
    subtotal = sum((_money(p.price * q) for p, q, _ in lines), Decimal(0))
    total = sum((_money(p.price * q * (100 - d) / 100) for p, q, d in lines), Decimal(0))
    return new_instance(
        Order,
        external_id=external_id,
        contact_id=contact_id,
        account_id=account_id,
        opportunity_id=opportunity_id,
        placed_at=at,
        currency=CURRENCY,
        status=status,
        channel=channel,
        subtotal=subtotal,
        discount_total=subtotal - total,
        total=total,
        created_at=at,
        updated_at=at,
    )


def _write_activity(
    demo: Demo,
    rng: random.Random,
    now: dt.datetime,
    deals: list[_Deal],
    reps: list[Any],
    contacts_by_account: dict[int, list[tuple[int, str, str]]],
) -> None:
    """Calls, notes, emails, tasks and meetings around the deals, as reps would have logged them."""
    emails = {c: (email, consent) for people in contacts_by_account.values() for c, email, consent in people}
    activities, tasks, meetings, messages = [], [], [], []
    attendees: list[tuple[int, int | None, int | None, str]] = []  # meeting index, user, contact, email
    users = {u.pk: u for u in reps}
    for deal in deals:
        if not deal.contacts or deal.owner_id is None:
            continue
        start, end = deal.created_at, deal.path[-1][1]
        open_deal = deal.path[-1][0].kind == Stage.Kind.OPEN
        if open_deal:
            end = now
        span = max((end - start).total_seconds(), 3600)
        for _ in range(rng.randint(1, 4)):
            at = start + dt.timedelta(seconds=rng.uniform(0, span))
            contact = rng.choice(deal.contacts)
            if rng.random() < 0.65:
                outcome = rng.choices(["connected", "left_voicemail", "no_answer", "busy"], [55, 25, 15, 5])[0]
                activities.append(
                    new_instance(
                        Activity,
                        kind="call",
                        occurred_at=at,
                        user_id=deal.owner_id,
                        contact_id=contact,
                        account_id=deal.account_id,
                        opportunity_id=deal.id,
                        subject="Call",
                        body=rng.choice(CALL_NOTES),
                        direction=rng.choice(["outbound", "outbound", "inbound"]),
                        duration_seconds=rng.randint(60, 1800) if outcome == "connected" else rng.randint(5, 40),
                        outcome=outcome,
                        created_at=at,
                        updated_at=at,
                    )
                )
            else:
                activities.append(
                    new_instance(
                        Activity,
                        kind="note",
                        occurred_at=at,
                        user_id=deal.owner_id,
                        contact_id=contact,
                        account_id=deal.account_id,
                        opportunity_id=deal.id,
                        body=rng.choice(NOTE_TEXTS),
                        created_at=at,
                        updated_at=at,
                    )
                )
        contact = deal.contacts[0]
        email, consent = emails.get(contact, ("", ConsentStatus.UNKNOWN))
        if email and consent != ConsentStatus.DENIED and rng.random() < 0.7:
            at = start + dt.timedelta(seconds=rng.uniform(0, span))
            owner = users.get(deal.owner_id)
            messages.append(
                new_instance(
                    Message,
                    channel="email",
                    status="sent",
                    contact_id=contact,
                    account_id=deal.account_id,
                    opportunity_id=deal.id,
                    sent_by_id=deal.owner_id,
                    to_email=email,
                    from_email=owner.email if owner else "",
                    subject="Following up on our conversation",
                    body="Thank you for your time today. As promised, the proposal is attached.",
                    sent_at=at,
                    attempts=1,
                    created_at=at,
                    updated_at=at,
                )
            )
        # One task per deal: done for closed ones, open (some overdue) for open ones.
        due = (now + dt.timedelta(days=rng.uniform(-6, 14))) if open_deal else end - dt.timedelta(days=2)
        done = not open_deal or rng.random() < 0.2
        tasks.append(
            new_instance(
                Task,
                title=rng.choice(TASK_TITLES),
                kind="follow_up",
                due_at=due.replace(minute=0, second=0),
                priority=rng.choice(["normal", "normal", "high", "low"]),
                status="done" if done else "open",
                assignee_id=deal.owner_id,
                created_by_id=deal.owner_id,
                contact_id=contact,
                account_id=deal.account_id,
                opportunity_id=deal.id,
                completed_at=min(due, now) if done else None,
                created_at=start,
                updated_at=min(due, now),
            )
        )
        # A meeting for half the deals: held ones in the past, upcoming ones for open deals.
        if rng.random() < 0.5:
            if open_deal and rng.random() < 0.5:
                begin = now + dt.timedelta(days=rng.randint(1, 20))
            else:
                begin = start + dt.timedelta(seconds=rng.uniform(0, span))
            begin = begin.replace(hour=rng.choice([9, 10, 11, 14, 15, 16]), minute=rng.choice([0, 30]), second=0)
            meetings.append(
                new_instance(
                    Appointment,
                    title=rng.choice(MEETING_TITLES),
                    start=begin,
                    end=begin + dt.timedelta(minutes=rng.choice([30, 45, 60, 90])),
                    timezone="UTC",
                    video_url="https://meet.example.com/" + f"{deal.id:06d}",
                    organizer_id=deal.owner_id,
                    contact_id=contact,
                    account_id=deal.account_id,
                    opportunity_id=deal.id,
                    created_at=min(begin, now),
                    updated_at=min(begin, now),
                )
            )
            owner = users.get(deal.owner_id)
            if owner is not None:
                attendees.append((len(meetings) - 1, owner.pk, None, owner.email))
            if email:
                attendees.append((len(meetings) - 1, None, contact, email))
    insert_objects(activities)
    insert_objects(messages)
    insert_objects(tasks)
    insert_objects(meetings)
    insert_objects(
        [
            new_instance(
                AppointmentAttendee,
                appointment_id=meetings[i].pk,
                user_id=u,
                contact_id=c,
                email=e,
                response="accepted" if u else "needs_action",
            )
            for i, u, c, e in attendees
        ]
    )
    demo.created["calls and notes"] += len(activities)
    demo.created["tasks"] += len(tasks)
    demo.created["appointments"] += len(meetings)
    demo.created["emails"] += len(messages)


def _write_quotas(demo: Demo, now: dt.datetime, deals: list[_Deal], reps: list[Any]) -> None:
    """A monthly quota per rep for this year, near what they win on average (a stretch of 15%)."""
    won: dict[int, Decimal] = defaultdict(Decimal)
    for deal in deals:
        stage, _at = deal.path[-1]
        if stage.kind == Stage.Kind.WON and deal.owner_id is not None:
            won[deal.owner_id] += sum((_amount(p, q, d) for p, q, d in deal.lines), Decimal(0))
    existing = set(Quota.objects.filter(Q(user__in=reps)).values_list("user_id", "period_start"))
    quotas = []
    for rep in reps:
        monthly = _money(max(won[rep.pk] / 12 * Decimal("1.15"), Decimal("10000")).quantize(Decimal("1000")))
        for month in range(1, 13):
            start = dt.date(now.year, month, 1)
            if (rep.pk, start) not in existing:
                quotas.append(
                    new_instance(
                        Quota, user_id=rep.pk, period="month", period_start=start, amount=monthly, currency=CURRENCY
                    )
                )
    insert_objects(quotas)
    demo.created["quotas"] += len(quotas)
