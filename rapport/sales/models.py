"""Sales force automation: products and orders, pipelines and opportunities with their stage history,
quotas, tasks, appointments, logged calls and notes, message templates and the messages sent.

Row-level access follows the foundation (``rapport.core.access``): each queryset's ``visible_to(user)``
is the one filter every page, API call, report and export goes through.
"""

from __future__ import annotations

import secrets
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from rapport.core.access import scope_for
from rapport.core.models import TimeStampedModel

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from rapport.core.models import User

ZERO = Decimal("0")


def _account_scope(user: User | AnonymousUser, account_field: str, owner_field: str) -> Q | None:
    """The condition for rows tied to an owner and an account: ``None`` means every row.

    A rep sees rows owned by them or their team, and unowned rows of accounts in their territories; a
    partner sees rows on accounts shared with their organisation; anyone else nothing.
    """
    scope = scope_for(user)
    if scope.sees_all:
        return None
    if scope.partner_organisation_id is not None:
        return Q(**{f"{account_field}__partner_organisation_id": scope.partner_organisation_id})
    condition = Q(pk__in=[])
    if scope.owner_ids:
        condition |= Q(**{f"{owner_field}__in": scope.owner_ids})
    if scope.territory_ids:
        condition |= Q(**{f"{owner_field}__isnull": True, f"{account_field}__territory_id__in": scope.territory_ids})
    return condition


# --- Products and orders ------------------------------------------------------------------------------


class ProductLine(TimeStampedModel):
    """A family of products (each can later have its own scoring model and campaigns)."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Product(TimeStampedModel):
    """Something sold, with its list price in one currency."""

    sku = models.CharField("SKU", max_length=64, unique=True)
    name = models.CharField(max_length=200)
    product_line = models.ForeignKey(
        ProductLine, null=True, blank=True, on_delete=models.PROTECT, related_name="products"
    )
    price = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3, default="USD", help_text="ISO 4217 code.")
    active = models.BooleanField(default=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.CheckConstraint(condition=Q(price__gte=0), name="product_price_not_negative")]

    def __str__(self) -> str:
        return f"{self.name} ({self.sku})"


class OrderQuerySet(models.QuerySet["Order"]):
    """Queries on orders."""

    def visible_to(self, user: User | AnonymousUser) -> OrderQuerySet:
        """Orders of accounts or contacts the user may see (an order without an account follows its contact)."""
        scope = scope_for(user)
        if scope.sees_all:
            return self
        from rapport.contacts.models import Account, Contact

        accounts = Account.objects.visible_to(user).values("pk")
        contacts = Contact.objects.visible_to(user).values("pk")
        return self.filter(Q(account_id__in=accounts) | Q(account__isnull=True, contact_id__in=contacts))


class Order(TimeStampedModel):
    """A purchase by a contact and/or account: the purchase history RFM, lifetime value and churn read.

    Totals are computed from the lines. Refunded and cancelled orders stay on record but count for
    nothing in revenue (``Order.REVENUE_STATUSES``).
    """

    class Status(models.TextChoices):
        PLACED = "placed", "Placed"
        PAID = "paid", "Paid"
        REFUNDED = "refunded", "Refunded"
        CANCELLED = "cancelled", "Cancelled"

    class Channel(models.TextChoices):
        WEB_SHOP = "web_shop", "Web shop"
        SALES = "sales", "Sales"
        PARTNER = "partner", "Partner"

    REVENUE_STATUSES = (Status.PLACED, Status.PAID)

    id = models.BigAutoField(primary_key=True)
    external_id = models.CharField(max_length=100, blank=True)
    contact = models.ForeignKey(
        "contacts.Contact", null=True, blank=True, on_delete=models.PROTECT, related_name="orders", db_index=False
    )
    account = models.ForeignKey(
        "contacts.Account", null=True, blank=True, on_delete=models.PROTECT, related_name="orders", db_index=False
    )
    opportunity = models.OneToOneField(
        "sales.Opportunity", null=True, blank=True, on_delete=models.SET_NULL, related_name="order"
    )
    placed_at = models.DateTimeField(default=timezone.now)
    currency = models.CharField(max_length=3, help_text="ISO 4217 code.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PLACED)
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.SALES)
    subtotal = models.DecimalField(
        max_digits=14, decimal_places=2, default=ZERO, help_text="Sum of quantity × unit price."
    )
    discount_total = models.DecimalField(max_digits=14, decimal_places=2, default=ZERO)
    total = models.DecimalField(max_digits=14, decimal_places=2, default=ZERO, help_text="Subtotal less discounts.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )

    objects = OrderQuerySet.as_manager()

    class Meta:
        ordering = ["-placed_at", "-id"]
        indexes = [
            models.Index(fields=["contact", "placed_at"], name="order_contact_idx"),
            models.Index(fields=["account", "placed_at"], name="order_account_idx"),
            models.Index(fields=["placed_at", "id"], name="order_placed_idx"),
            models.Index(fields=["status", "placed_at"], name="order_status_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["external_id"], condition=~Q(external_id=""), name="order_external_id"),
            models.CheckConstraint(
                condition=Q(contact__isnull=False) | Q(account__isnull=False), name="order_has_a_buyer"
            ),
            models.CheckConstraint(condition=Q(total__gte=0), name="order_total_not_negative"),
        ]

    def __str__(self) -> str:
        return f"Order {self.external_id or self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("sales:order_detail", args=[self.pk])

    @property
    def counts_as_revenue(self) -> bool:
        return self.status in self.REVENUE_STATUSES


class OrderLine(models.Model):
    """One product on an order: quantity × unit price less a discount (a percentage, 0–100)."""

    id = models.BigAutoField(primary_key=True)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="order_lines")
    position = models.PositiveSmallIntegerField(default=0)
    quantity = models.DecimalField(max_digits=12, decimal_places=2)
    unit_price = models.DecimalField(max_digits=14, decimal_places=2)
    discount = models.DecimalField(max_digits=5, decimal_places=2, default=ZERO, help_text="Percent, 0–100.")
    amount = models.DecimalField(
        max_digits=14, decimal_places=2, help_text="Quantity × unit price less the discount, rounded to cents."
    )

    class Meta:
        ordering = ["order", "position", "id"]
        indexes = [models.Index(fields=["product", "order"], name="orderline_product_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="orderline_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="orderline_price_not_negative"),
            models.CheckConstraint(condition=Q(discount__gte=0, discount__lte=100), name="orderline_discount_pct"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.product_id} on order {self.order_id}"


# --- Pipelines and opportunities --------------------------------------------------------------------


class Pipeline(TimeStampedModel):
    """A sales process (new business, renewals, ...) with its ordered stages."""

    name = models.CharField(max_length=100, unique=True)
    position = models.PositiveSmallIntegerField(default=0)
    is_default = models.BooleanField(default=False)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="one_default_pipeline")
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("sales:board", args=[self.pk])


class Stage(models.Model):
    """A step of a pipeline, with the win probability deals get on entering it, and whether it is open,
    won or lost."""

    class Kind(models.TextChoices):
        OPEN = "open", "Open"
        WON = "won", "Won"
        LOST = "lost", "Lost"

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(max_length=100)
    position = models.PositiveSmallIntegerField(default=0)
    probability = models.PositiveSmallIntegerField(help_text="Default win probability, percent.")
    kind = models.CharField(max_length=4, choices=Kind.choices, default=Kind.OPEN)

    class Meta:
        ordering = ["pipeline", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["pipeline", "name"], name="stage_name_per_pipeline"),
            models.CheckConstraint(condition=Q(probability__lte=100), name="stage_probability_pct"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_closed(self) -> bool:
        return self.kind != self.Kind.OPEN


class LossReason(models.Model):
    """Why deals are lost ("no deal", "no budget", "competitor", ...): an editable list."""

    name = models.CharField(max_length=100, unique=True)
    position = models.PositiveSmallIntegerField(default=0)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class ForecastCategory(models.TextChoices):
    """The rep's call on an open deal, and where closed ones fall."""

    PIPELINE = "pipeline", "Pipeline"
    BEST_CASE = "best_case", "Best case"
    COMMIT = "commit", "Commit"
    CLOSED = "closed", "Closed"
    OMITTED = "omitted", "Omitted"


class OpportunityQuerySet(models.QuerySet["Opportunity"]):
    """Queries on opportunities."""

    def visible_to(self, user: User | AnonymousUser) -> OpportunityQuerySet:
        """A rep's own and their team's deals (and unowned ones on accounts in their territories); a
        partner's, those on accounts shared with their organisation."""
        condition = _account_scope(user, "account", "owner")
        return self if condition is None else self.filter(condition)

    def open(self) -> OpportunityQuerySet:
        return self.filter(stage__kind=Stage.Kind.OPEN)


class Opportunity(TimeStampedModel):
    """A deal being worked: what may be sold to an account, for how much, by when, and how likely.

    ``amount`` is the sum of the line items when there are any. ``stage_entered_at`` is when the deal
    entered its current stage; every move is in ``StageChange``. ``version`` goes up on every change so
    that two people moving one deal at once can't overwrite each other unseen.
    """

    name = models.CharField(max_length=200)
    account = models.ForeignKey(
        "contacts.Account", null=True, blank=True, on_delete=models.PROTECT, related_name="opportunities"
    )
    primary_contact = models.ForeignKey(
        "contacts.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="primary_opportunities"
    )
    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="opportunities", db_index=False)
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="opportunities", db_index=False)
    amount = models.DecimalField(max_digits=14, decimal_places=2, default=ZERO)
    currency = models.CharField(max_length=3, default="USD", help_text="ISO 4217 code.")
    probability = models.PositiveSmallIntegerField(help_text="Win probability, percent (the stage's unless set).")
    expected_close_date = models.DateField()
    closed_at = models.DateTimeField(null=True, blank=True, help_text="When it was won or lost.")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="opportunities",
        db_index=False,
    )
    # Filled in by the campaigns issue, which turns it into a foreign key on the same column.
    source_campaign_id = models.BigIntegerField(null=True, blank=True)
    forecast_category = models.CharField(
        max_length=10, choices=ForecastCategory.choices, default=ForecastCategory.PIPELINE
    )
    next_step = models.CharField(max_length=255, blank=True)
    loss_reason = models.ForeignKey(LossReason, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    loss_note = models.TextField(blank=True)
    description = models.TextField(blank=True)
    stage_entered_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )

    objects = OpportunityQuerySet.as_manager()

    class Meta:
        ordering = ["expected_close_date", "id"]
        verbose_name_plural = "opportunities"
        indexes = [
            models.Index(fields=["pipeline", "stage", "expected_close_date"], name="opp_board_idx"),
            models.Index(fields=["owner", "expected_close_date"], name="opp_owner_close_idx"),
            models.Index(fields=["expected_close_date", "id"], name="opp_close_idx"),
            models.Index(fields=["closed_at"], name="opp_closed_idx"),
            models.Index(fields=["created_at", "id"], name="opp_created_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="opp_amount_not_negative"),
            models.CheckConstraint(condition=Q(probability__lte=100), name="opp_probability_pct"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("sales:opportunity_detail", args=[self.pk])

    @property
    def weighted_amount(self) -> Decimal:
        return (self.amount * self.probability / 100).quantize(Decimal("0.01"))


class ContactRole(models.TextChoices):
    """The part a contact plays in a deal."""

    DECISION_MAKER = "decision_maker", "Decision maker"
    ECONOMIC_BUYER = "economic_buyer", "Economic buyer"
    INFLUENCER = "influencer", "Influencer"
    TECHNICAL_BUYER = "technical_buyer", "Technical buyer"
    CHAMPION = "champion", "Champion"
    USER = "user", "User"
    OTHER = "other", "Other"


class OpportunityContact(models.Model):
    """A contact involved in a deal, and their role in it."""

    opportunity = models.ForeignKey(Opportunity, on_delete=models.CASCADE, related_name="contact_roles")
    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="opportunity_roles")
    role = models.CharField(max_length=20, choices=ContactRole.choices, default=ContactRole.OTHER)

    class Meta:
        ordering = ["opportunity", "id"]
        constraints = [models.UniqueConstraint(fields=["opportunity", "contact"], name="one_role_per_contact")]

    def __str__(self) -> str:
        return f"{self.contact_id} as {self.role} on {self.opportunity_id}"


class OpportunityLine(models.Model):
    """A product on a deal; a won deal's order gets the same lines."""

    opportunity = models.ForeignKey(Opportunity, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="opportunity_lines")
    position = models.PositiveSmallIntegerField(default=0)
    quantity = models.DecimalField(max_digits=12, decimal_places=2)
    unit_price = models.DecimalField(max_digits=14, decimal_places=2)
    discount = models.DecimalField(max_digits=5, decimal_places=2, default=ZERO, help_text="Percent, 0–100.")
    amount = models.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        ordering = ["opportunity", "position", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="oppline_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="oppline_price_not_negative"),
            models.CheckConstraint(condition=Q(discount__gte=0, discount__lte=100), name="oppline_discount_pct"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.product_id} on deal {self.opportunity_id}"


class StageChange(models.Model):
    """A deal entering a stage (its creation included, with no ``from_stage``): the exact record that
    sales cycle length, time in stage and stage conversion are computed from."""

    id = models.BigAutoField(primary_key=True)
    opportunity = models.ForeignKey(Opportunity, on_delete=models.CASCADE, related_name="stage_changes", db_index=False)
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="+", db_index=False)
    from_stage = models.ForeignKey(Stage, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    to_stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="+", db_index=False)
    changed_at = models.DateTimeField(default=timezone.now)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    amount = models.DecimalField(max_digits=14, decimal_places=2, help_text="The deal's amount at the time.")
    probability = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["opportunity", "changed_at", "id"]
        indexes = [
            models.Index(fields=["opportunity", "changed_at"], name="stagechange_opp_idx"),
            models.Index(fields=["pipeline", "changed_at"], name="stagechange_pipeline_idx"),
            models.Index(fields=["to_stage", "changed_at"], name="stagechange_to_idx"),
        ]

    def __str__(self) -> str:
        return f"deal {self.opportunity_id} → stage {self.to_stage_id} at {self.changed_at:%Y-%m-%d %H:%M}"


class Quota(models.Model):
    """A user's sales target for a month or quarter, in one currency."""

    class Period(models.TextChoices):
        MONTH = "month", "Month"
        QUARTER = "quarter", "Quarter"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quotas")
    period = models.CharField(max_length=7, choices=Period.choices)
    period_start = models.DateField(help_text="The first day of the month or quarter.")
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3, default="USD")

    class Meta:
        ordering = ["period_start", "user"]
        constraints = [
            models.UniqueConstraint(fields=["user", "period", "period_start"], name="one_quota_per_period"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="quota_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.amount} {self.currency} for the {self.period} from {self.period_start}"


# --- Tasks, appointments, calls and notes -----------------------------------------------------------


def _related_scope(user: User | AnonymousUser, person_field: str) -> Q | None:
    """Activities follow the records they are about: a rep sees those they are the person on, and those
    on contacts, accounts or deals they can see. ``None`` means every row."""
    scope = scope_for(user)
    if scope.sees_all:
        return None
    from rapport.contacts.models import Account, Contact

    condition = Q(**{person_field: user.pk}) if user.pk is not None else Q(pk__in=[])
    accounts = Account.objects.visible_to(user).values("pk")
    contacts = Contact.objects.visible_to(user).values("pk")
    deals = Opportunity.objects.visible_to(user).values("pk")
    return (
        condition
        | Q(contact_id__in=contacts)
        | Q(contact__isnull=True, account_id__in=accounts)
        | Q(contact__isnull=True, account__isnull=True, opportunity_id__in=deals)
    )


class TaskQuerySet(models.QuerySet["Task"]):
    """Queries on tasks."""

    def visible_to(self, user: User | AnonymousUser) -> TaskQuerySet:
        """Tasks assigned to the user, and those on records they can see."""
        condition = _related_scope(user, "assignee_id")
        return self if condition is None else self.filter(condition)


class Task(TimeStampedModel):
    """An action item for a user, optionally about a contact, account or deal, with an email reminder."""

    class Priority(models.TextChoices):
        LOW = "low", "Low"
        NORMAL = "normal", "Normal"
        HIGH = "high", "High"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"

    class Kind(models.TextChoices):
        TODO = "todo", "To do"
        CALL = "call", "Call"
        EMAIL = "email", "Email"
        FOLLOW_UP = "follow_up", "Follow up"
        LEAD_HANDOFF = "lead_handoff", "Lead handoff"

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.TODO)
    due_at = models.DateTimeField(null=True, blank=True)
    priority = models.CharField(max_length=6, choices=Priority.choices, default=Priority.NORMAL)
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tasks", db_index=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    contact = models.ForeignKey(
        "contacts.Contact", null=True, blank=True, on_delete=models.CASCADE, related_name="tasks"
    )
    account = models.ForeignKey(
        "contacts.Account", null=True, blank=True, on_delete=models.CASCADE, related_name="tasks"
    )
    opportunity = models.ForeignKey(Opportunity, null=True, blank=True, on_delete=models.CASCADE, related_name="tasks")
    completed_at = models.DateTimeField(null=True, blank=True)
    remind_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)

    objects = TaskQuerySet.as_manager()

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [
            models.Index(fields=["assignee", "status", "due_at"], name="task_assignee_idx"),
            models.Index(fields=["completed_at"], name="task_completed_idx"),
            models.Index(
                fields=["remind_at"], condition=Q(reminded_at__isnull=True, status="open"), name="task_reminder_due"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("sales:task_detail", args=[self.pk])


class AppointmentQuerySet(models.QuerySet["Appointment"]):
    """Queries on appointments."""

    def visible_to(self, user: User | AnonymousUser) -> AppointmentQuerySet:
        """Appointments the user organises or attends, and those on records they can see."""
        condition = _related_scope(user, "organizer_id")
        if condition is None:
            return self
        attending = AppointmentAttendee.objects.filter(user_id=user.pk or 0).values("appointment_id")
        return self.filter(condition | Q(pk__in=attending))


def _new_uid() -> str:
    return f"{uuid.uuid4()}@rapport"


class Appointment(TimeStampedModel):
    """A meeting with a start and end (stored in UTC, shown in ``timezone``), sent to attendees as an
    iCalendar invitation. Updates and cancellations keep the ``uid`` and raise the ``sequence``."""

    class Status(models.TextChoices):
        CONFIRMED = "confirmed", "Confirmed"
        CANCELLED = "cancelled", "Cancelled"

    uid = models.CharField(max_length=255, unique=True, default=_new_uid, editable=False)
    sequence = models.PositiveIntegerField(default=0)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    start = models.DateTimeField()
    end = models.DateTimeField()
    timezone = models.CharField(max_length=64, default="UTC", help_text="IANA time zone, e.g. Europe/Berlin.")
    location = models.CharField(max_length=255, blank=True)
    video_url = models.URLField(max_length=500, blank=True)
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.CONFIRMED)
    organizer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="organized_appointments", db_index=False
    )
    contact = models.ForeignKey(
        "contacts.Contact", null=True, blank=True, on_delete=models.CASCADE, related_name="appointments"
    )
    account = models.ForeignKey(
        "contacts.Account", null=True, blank=True, on_delete=models.CASCADE, related_name="appointments"
    )
    opportunity = models.ForeignKey(
        Opportunity, null=True, blank=True, on_delete=models.CASCADE, related_name="appointments"
    )

    objects = AppointmentQuerySet.as_manager()

    class Meta:
        ordering = ["start", "id"]
        indexes = [
            models.Index(fields=["organizer", "start"], name="appt_organizer_idx"),
            models.Index(fields=["start", "end"], name="appt_time_idx"),
        ]
        constraints = [models.CheckConstraint(condition=Q(end__gt=models.F("start")), name="appt_ends_after_start")]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("sales:appointment_detail", args=[self.pk])


class AppointmentAttendee(models.Model):
    """Someone invited to an appointment: a user, a contact or just an email address."""

    class Response(models.TextChoices):
        NEEDS_ACTION = "needs_action", "No answer yet"
        ACCEPTED = "accepted", "Accepted"
        TENTATIVE = "tentative", "Tentative"
        DECLINED = "declined", "Declined"

    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="attendees")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="appointment_invites"
    )
    contact = models.ForeignKey(
        "contacts.Contact", null=True, blank=True, on_delete=models.CASCADE, related_name="appointment_invites"
    )
    email = models.EmailField(help_text="Where the invitation goes.")
    name = models.CharField(max_length=200, blank=True)
    response = models.CharField(max_length=12, choices=Response.choices, default=Response.NEEDS_ACTION)

    class Meta:
        ordering = ["appointment", "id"]
        constraints = [models.UniqueConstraint(fields=["appointment", "email"], name="one_invite_per_email")]

    def __str__(self) -> str:
        return f"{self.name or self.email} at {self.appointment_id}"


class CalendarFeed(models.Model):
    """The secret address of a user's appointments as an iCalendar feed, for their calendar app.
    Regenerating the token makes the old address stop working."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feed")
    token = models.CharField(max_length=64, unique=True, default=secrets.token_urlsafe)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"calendar feed of {self.user_id}"


class ActivityQuerySet(models.QuerySet["Activity"]):
    """Queries on logged calls and notes."""

    def visible_to(self, user: User | AnonymousUser) -> ActivityQuerySet:
        """Calls and notes the user logged, and those on records they can see."""
        condition = _related_scope(user, "user_id")
        return self if condition is None else self.filter(condition)


class Activity(TimeStampedModel):
    """A logged call or note on a contact, account or deal (a row of its activity list, and later of the
    contact's timeline)."""

    class Kind(models.TextChoices):
        CALL = "call", "Call"
        NOTE = "note", "Note"

    class Direction(models.TextChoices):
        INBOUND = "inbound", "Inbound"
        OUTBOUND = "outbound", "Outbound"

    class Outcome(models.TextChoices):
        CONNECTED = "connected", "Connected"
        LEFT_VOICEMAIL = "left_voicemail", "Left voicemail"
        NO_ANSWER = "no_answer", "No answer"
        BUSY = "busy", "Busy"
        WRONG_NUMBER = "wrong_number", "Wrong number"

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=4, choices=Kind.choices)
    occurred_at = models.DateTimeField(default=timezone.now)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="activities"
    )
    contact = models.ForeignKey(
        "contacts.Contact", null=True, blank=True, on_delete=models.CASCADE, related_name="activities", db_index=False
    )
    account = models.ForeignKey(
        "contacts.Account", null=True, blank=True, on_delete=models.CASCADE, related_name="activities", db_index=False
    )
    opportunity = models.ForeignKey(
        Opportunity, null=True, blank=True, on_delete=models.CASCADE, related_name="activities", db_index=False
    )
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)
    direction = models.CharField(max_length=8, choices=Direction.choices, blank=True)
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=14, choices=Outcome.choices, blank=True)

    objects = ActivityQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name_plural = "activities"
        indexes = [
            models.Index(fields=["contact", "occurred_at"], name="activity_contact_idx"),
            models.Index(fields=["account", "occurred_at"], name="activity_account_idx"),
            models.Index(fields=["opportunity", "occurred_at"], name="activity_opp_idx"),
            models.Index(fields=["user", "kind", "occurred_at"], name="activity_user_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(contact__isnull=False) | Q(account__isnull=False) | Q(opportunity__isnull=False),
                name="activity_is_about_a_record",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.occurred_at:%Y-%m-%d %H:%M}"


# --- Messaging ----------------------------------------------------------------------------------------


class MessageTemplate(TimeStampedModel):
    """A reusable email or letter with merge fields such as ``{{ contact.first_name }}``, checked when saved."""

    name = models.CharField(max_length=100, unique=True)
    subject = models.CharField(max_length=200, blank=True, help_text="Emails only; may hold merge fields.")
    body = models.TextField(help_text="Plain text with merge fields; blank lines separate paragraphs.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class MessageQuerySet(models.QuerySet["Message"]):
    """Queries on emails and letters."""

    def visible_to(self, user: User | AnonymousUser) -> MessageQuerySet:
        """Messages the user sent, and those to contacts they can see."""
        condition = _related_scope(user, "sent_by_id")
        return self if condition is None else self.filter(condition)


class Message(TimeStampedModel):
    """An email sent (or being sent) to a contact from the CRM, or a letter printed for one: rendered once,
    so the record shows exactly what went out. ``idempotency_key`` makes a retried send a no-op."""

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        LETTER = "letter", "Letter"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        PRINTED = "printed", "Printed"

    id = models.BigAutoField(primary_key=True)
    channel = models.CharField(max_length=6, choices=Channel.choices, default=Channel.EMAIL)
    status = models.CharField(max_length=7, choices=Status.choices, default=Status.QUEUED)
    contact = models.ForeignKey(
        "contacts.Contact", null=True, on_delete=models.SET_NULL, related_name="messages", db_index=False
    )
    account = models.ForeignKey(
        "contacts.Account", null=True, blank=True, on_delete=models.SET_NULL, related_name="messages", db_index=False
    )
    opportunity = models.ForeignKey(
        Opportunity, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages", db_index=False
    )
    template = models.ForeignKey(MessageTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages_sent"
    )
    to_email = models.EmailField(blank=True)
    from_email = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=255, blank=True)
    body = models.TextField()
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    idempotency_key = models.CharField(max_length=100, blank=True)

    objects = MessageQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["contact", "created_at"], name="message_contact_idx"),
            models.Index(fields=["account", "created_at"], name="message_account_idx"),
            models.Index(fields=["opportunity", "created_at"], name="message_opp_idx"),
            models.Index(fields=["sent_by", "sent_at"], name="message_sender_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"], condition=~Q(idempotency_key=""), name="message_idempotency_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} to {self.to_email or self.contact_id}: {self.subject}"
