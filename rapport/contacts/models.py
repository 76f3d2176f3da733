"""Contacts and accounts, with tags, custom fields, consent and lifecycle histories, imports and duplicates."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from rapport.core.access import scope_for
from rapport.core.models import TimeStampedModel, Via

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from rapport.core.models import User


class LifecycleStage(models.TextChoices):
    """Where a contact or account stands in the funnel, from first sign-up to advocate."""

    SUBSCRIBER = "subscriber", "Subscriber"
    LEAD = "lead", "Lead"
    MQL = "mql", "Marketing qualified lead"
    SQL = "sql", "Sales qualified lead"
    OPPORTUNITY = "opportunity", "Opportunity"
    CUSTOMER = "customer", "Customer"
    EVANGELIST = "evangelist", "Evangelist"
    OTHER = "other", "Other"


class Seniority(models.TextChoices):
    """Ordered levels of seniority, derived from the job title unless set by hand."""

    INTERN = "intern", "Intern"
    IC = "ic", "Individual contributor"
    MANAGER = "manager", "Manager"
    DIRECTOR = "director", "Director"
    VP = "vp", "Vice president"
    C_LEVEL = "c_level", "C-level"


SENIORITY_RANK = {level.value: rank for rank, level in enumerate(Seniority)}


class ConsentStatus(models.TextChoices):
    """Whether a contact agreed to be reached on a channel."""

    GRANTED = "granted", "Granted"
    DENIED = "denied", "Denied"
    UNKNOWN = "unknown", "Unknown"


class ConsentChannel(models.TextChoices):
    """The channels consent is recorded for."""

    EMAIL = "email", "Email"
    PHONE = "phone", "Phone"
    SMS = "sms", "SMS"
    POST = "post", "Post"


class SizeBand(models.TextChoices):
    """Company size by number of employees."""

    S1 = "1-10", "1–10"
    S2 = "11-50", "11–50"
    S3 = "51-200", "51–200"
    S4 = "201-500", "201–500"
    S5 = "501-1000", "501–1,000"
    S6 = "1001-5000", "1,001–5,000"
    S7 = "5001-10000", "5,001–10,000"
    S8 = "10001+", "10,001+"


class Party(models.TextChoices):
    """Who supplied a piece of data: ourselves, a named partner, or a named data provider."""

    FIRST = "first", "First-party"
    SECOND = "second", "Second-party"
    THIRD = "third", "Third-party"


class DataSource(models.Model):
    """Where a set of attribute values came from: the party, its name, the door, the time and the user.

    A record's ``provenance`` maps each attribute to the data source that last wrote it, so one write
    (an API call, an import batch, a form) stores its description once, not once per field and row.
    """

    id = models.BigAutoField(primary_key=True)
    party = models.CharField(max_length=6, choices=Party.choices, default=Party.FIRST)
    name = models.CharField(max_length=200, blank=True, help_text="The form, user, partner or provider.")
    via = models.CharField(max_length=10, choices=Via.choices)
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    import_job = models.ForeignKey(
        "contacts.ImportJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )

    def __str__(self) -> str:
        return f"{self.get_party_display()}: {self.name or self.get_via_display()} ({self.at:%Y-%m-%d %H:%M})"


class ObjectType(models.TextChoices):
    """The record types custom fields, saved views, imports and duplicates apply to."""

    CONTACT = "contact", "Contact"
    ACCOUNT = "account", "Account"


# The condition of the partial indexes that serve lists: only live (not deleted or merged) records.
LIVE = Q(deleted_at__isnull=True)


class LiveManager(models.Manager):
    """Default manager that hides deleted and merged-away records."""

    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(deleted_at__isnull=True)


class AccountQuerySet(models.QuerySet["Account"]):
    """Queries on accounts."""

    def visible_to(self, user: User | AnonymousUser) -> AccountQuerySet:
        """Restrict to the accounts the user may see (see ``rapport.core.access``)."""
        scope = scope_for(user)
        if scope.sees_all:
            return self
        if scope.partner_organisation_id is not None:
            return self.filter(partner_organisation_id=scope.partner_organisation_id)
        condition = Q()
        if scope.owner_ids:
            condition |= Q(owner_id__in=scope.owner_ids)
        if scope.territory_ids:
            condition |= Q(owner__isnull=True, territory_id__in=scope.territory_ids)
        return self.filter(condition) if condition else self.none()


class Account(TimeStampedModel):
    """A company or organisation: a prospect, customer or partner's client."""

    name = models.CharField(max_length=200)
    name_key = models.CharField(max_length=200, editable=False, help_text="Lower-case, unaccented name for search.")
    domain = models.CharField(max_length=253, blank=True)
    industry = models.CharField(max_length=100, blank=True)
    size_band = models.CharField(max_length=12, choices=SizeBand.choices, blank=True)
    annual_revenue = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166 alpha-2 code.")
    region = models.CharField(max_length=100, blank=True)
    city = models.CharField(max_length=100, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_accounts",
        db_index=False,  # served by account_owner_idx
    )
    territory = models.ForeignKey(
        "core.Territory", null=True, blank=True, on_delete=models.SET_NULL, related_name="accounts"
    )
    partner_organisation = models.ForeignKey(
        "core.PartnerOrganisation", null=True, blank=True, on_delete=models.SET_NULL, related_name="accounts"
    )
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    lifecycle_stage = models.CharField(max_length=12, choices=LifecycleStage.choices, default=LifecycleStage.LEAD)
    external_id = models.CharField(max_length=100, blank=True)
    custom = models.JSONField(default=dict, blank=True)
    provenance = models.JSONField(default=dict, blank=True, help_text="{field: DataSource id}")
    version = models.PositiveIntegerField(default=1)
    deleted_at = models.DateTimeField(null=True, blank=True)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    import_job = models.ForeignKey(
        "contacts.ImportJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )

    objects = LiveManager.from_queryset(AccountQuerySet)()
    all_objects = AccountQuerySet.as_manager()

    class Meta:
        ordering = ["name_key", "id"]
        base_manager_name = "all_objects"
        indexes = [
            models.Index(fields=["name_key", "id"], name="account_name_idx"),
            models.Index(fields=["domain"], name="account_domain_idx", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["country", "name_key"], name="account_country_idx"),
            models.Index(fields=["owner", "name_key"], name="account_owner_idx"),
            models.Index(fields=["lifecycle_stage", "name_key"], name="account_stage_idx"),
            models.Index(fields=["updated_at", "id"], name="account_updated_idx"),
            models.Index(fields=["created_at", "id"], name="account_created_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"],
                condition=Q(deleted_at__isnull=True) & ~Q(external_id=""),
                name="account_external_id_unique_live",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("contacts:account_detail", args=[self.pk])


class ContactQuerySet(models.QuerySet["Contact"]):
    """Queries on contacts."""

    def visible_to(self, user: User | AnonymousUser) -> ContactQuerySet:
        """Restrict to the contacts the user may see (see ``rapport.core.access``).

        A rep also sees the contacts of accounts that they or their team own, as account owners do in
        other CRMs; a partner sees the contacts of accounts shared with their organisation.
        """
        scope = scope_for(user)
        if scope.sees_all:
            return self
        if scope.partner_organisation_id is not None:
            shared = Account.objects.filter(partner_organisation_id=scope.partner_organisation_id).values("pk")
            return self.filter(account_id__in=shared)
        condition = Q()
        if scope.owner_ids:
            owned_accounts = Account.objects.filter(owner_id__in=scope.owner_ids).values("pk")
            condition |= Q(owner_id__in=scope.owner_ids) | Q(account_id__in=owned_accounts)
        if scope.territory_ids:
            condition |= Q(owner__isnull=True, territory_id__in=scope.territory_ids)
        return self.filter(condition) if condition else self.none()


class Tag(models.Model):
    """A label marketers and reps put on contacts."""

    name = models.CharField(max_length=50)
    key = models.CharField(max_length=50, unique=True, editable=False, help_text="Lower-case name.")

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.name


class Contact(TimeStampedModel):
    """A person: subscriber, lead, customer or anyone else marketing and sales deal with."""

    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    first_name_key = models.CharField(max_length=100, blank=True, editable=False)
    last_name_key = models.CharField(max_length=100, blank=True, editable=False)
    email = models.CharField(max_length=254, blank=True, help_text="Normalised to lower case.")
    phone = models.CharField(max_length=20, blank=True, help_text="E.164, e.g. +4930123456.")
    job_title = models.CharField(max_length=200, blank=True)
    seniority = models.CharField(max_length=10, choices=Seniority.choices, blank=True)
    seniority_manual = models.BooleanField(default=False, help_text="Set by hand: not re-derived from the title.")
    department = models.CharField(max_length=100, blank=True)
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="contacts")
    street = models.CharField(max_length=200, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    city = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=100, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166 alpha-2 code.")
    lifecycle_stage = models.CharField(max_length=12, choices=LifecycleStage.choices, default=LifecycleStage.LEAD)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_contacts",
        db_index=False,  # served by contact_owner_idx
    )
    territory = models.ForeignKey(
        "core.Territory", null=True, blank=True, on_delete=models.SET_NULL, related_name="contacts"
    )
    source = models.CharField(max_length=100, blank=True, help_text="Where the contact first came from.")
    tags = models.ManyToManyField(Tag, through="contacts.ContactTag", related_name="contacts", blank=True)
    consent_email = models.CharField(max_length=8, choices=ConsentStatus.choices, default=ConsentStatus.UNKNOWN)
    consent_phone = models.CharField(max_length=8, choices=ConsentStatus.choices, default=ConsentStatus.UNKNOWN)
    consent_sms = models.CharField(max_length=8, choices=ConsentStatus.choices, default=ConsentStatus.UNKNOWN)
    consent_post = models.CharField(max_length=8, choices=ConsentStatus.choices, default=ConsentStatus.UNKNOWN)
    external_id = models.CharField(max_length=100, blank=True)
    custom = models.JSONField(default=dict, blank=True)
    provenance = models.JSONField(default=dict, blank=True, help_text="{field: DataSource id}")
    version = models.PositiveIntegerField(default=1)
    deleted_at = models.DateTimeField(null=True, blank=True)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    import_job = models.ForeignKey(
        "contacts.ImportJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )

    objects = LiveManager.from_queryset(ContactQuerySet)()
    all_objects = ContactQuerySet.as_manager()

    class Meta:
        ordering = ["last_name_key", "first_name_key", "id"]
        base_manager_name = "all_objects"
        indexes = [
            # Lists only ever show live contacts, so the indexes that serve them leave deleted ones out
            # (they match because the default manager always adds "deleted_at IS NULL"); a count can
            # then be answered from the index alone.
            models.Index(fields=["last_name_key", "first_name_key", "id"], name="contact_name_idx", condition=LIVE),
            # Searches sort each branch's matches by name: covering indexes (with the id, which
            # PostgreSQL doesn't keep in an index otherwise) let them do it from the index alone.
            # PostgreSQL uses the pattern opclass for LIKE 'abc%'.
            models.Index(
                fields=["first_name_key", "last_name_key", "id"],
                name="contact_first_name_idx",
                condition=LIVE,
                opclasses=["varchar_pattern_ops", "varchar_ops", "int8_ops"],
            ),
            models.Index(
                fields=["email", "last_name_key", "first_name_key", "id"],
                name="contact_email_search_idx",
                condition=LIVE & ~Q(email=""),
                opclasses=["varchar_pattern_ops", "varchar_ops", "varchar_ops", "int8_ops"],
            ),
            models.Index(fields=["phone"], name="contact_phone_idx", opclasses=["varchar_pattern_ops"]),
            # Each filter the list offers, followed by the whole default sort, so a filtered first page
            # is read in order from one index instead of sorting every row of a big group.
            models.Index(
                fields=["owner", "last_name_key", "first_name_key"], name="contact_owner_name_idx", condition=LIVE
            ),
            models.Index(
                fields=["country", "last_name_key", "first_name_key"], name="contact_country_name_idx", condition=LIVE
            ),
            models.Index(
                fields=["lifecycle_stage", "last_name_key", "first_name_key"],
                name="contact_stage_name_idx",
                condition=LIVE,
            ),
            models.Index(
                fields=["seniority", "last_name_key", "first_name_key"],
                name="contact_seniority_name_idx",
                condition=LIVE,
            ),
            models.Index(fields=["updated_at", "id"], name="contact_updated_idx", condition=LIVE),
            models.Index(fields=["created_at", "id"], name="contact_created_idx", condition=LIVE),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["email"],
                condition=Q(deleted_at__isnull=True) & ~Q(email=""),
                name="contact_email_unique_live",
            ),
            models.UniqueConstraint(
                fields=["external_id"],
                condition=Q(deleted_at__isnull=True) & ~Q(external_id=""),
                name="contact_external_id_unique_live",
            ),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email or f"Contact {self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("contacts:contact_detail", args=[self.pk])

    @property
    def full_name(self) -> str:
        """First and last name joined, or empty."""
        return f"{self.first_name} {self.last_name}".strip()

    def consent(self) -> dict[str, str]:
        """Consent per channel, as shown in the API."""
        return {channel.value: getattr(self, f"consent_{channel.value}") for channel in ConsentChannel}


class ContactTag(models.Model):
    """A tag on a contact."""

    id = models.BigAutoField(primary_key=True)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+", db_index=False)
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="+", db_index=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact", "tag"], name="contact_tag_unique")]
        indexes = [models.Index(fields=["tag", "contact"], name="contact_tag_by_tag_idx")]

    def __str__(self) -> str:
        return f"{self.tag_id} on {self.contact_id}"


class CustomField(TimeStampedModel):
    """An admin-defined field on contacts or accounts, stored in the record's ``custom`` JSON."""

    class FieldType(models.TextChoices):
        TEXT = "text", "Text"
        NUMBER = "number", "Number"
        DATE = "date", "Date"
        CHOICE = "choice", "Choice"
        MULTI_CHOICE = "multi_choice", "Multiple choice"
        BOOLEAN = "boolean", "Yes/no"

    object_type = models.CharField(max_length=10, choices=ObjectType.choices)
    key = models.SlugField(max_length=50, help_text="Name in the API and imports, e.g. preferred_language.")
    label = models.CharField(max_length=100)
    field_type = models.CharField(max_length=12, choices=FieldType.choices)
    choices = models.JSONField(default=list, blank=True, help_text="Allowed values for choice fields.")
    required = models.BooleanField(default=False)
    help_text = models.CharField(max_length=200, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["object_type", "position", "label"]
        constraints = [models.UniqueConstraint(fields=["object_type", "key"], name="custom_field_key_unique")]

    def __str__(self) -> str:
        return f"{self.label} ({self.get_object_type_display()})"


class ConsentChange(models.Model):
    """One change of a contact's consent on one channel: who, when, how."""

    id = models.BigAutoField(primary_key=True)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="consent_changes")
    channel = models.CharField(max_length=5, choices=ConsentChannel.choices)
    status = models.CharField(max_length=8, choices=ConsentStatus.choices)
    previous = models.CharField(max_length=8, choices=ConsentStatus.choices)
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    via = models.CharField(max_length=10, choices=Via.choices)
    source = models.CharField(max_length=200, blank=True, help_text="How consent was given or withdrawn.")

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.channel}: {self.previous} → {self.status}"


class LifecycleChange(models.Model):
    """A contact's or account's move from one lifecycle stage to another, with its time."""

    id = models.BigAutoField(primary_key=True)
    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.CASCADE, related_name="stage_changes")
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.CASCADE, related_name="stage_changes")
    from_stage = models.CharField(max_length=12, choices=LifecycleStage.choices, blank=True)
    to_stage = models.CharField(max_length=12, choices=LifecycleStage.choices)
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    via = models.CharField(max_length=10, choices=Via.choices)

    class Meta:
        ordering = ["-at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(contact__isnull=False, account__isnull=True)
                | Q(contact__isnull=True, account__isnull=False),
                name="lifecycle_change_one_record",
            )
        ]

    def __str__(self) -> str:
        return f"{self.from_stage or '—'} → {self.to_stage}"


class SavedView(TimeStampedModel):
    """A named list view (filters, sort and columns) a user can return to or share."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views")
    object_type = models.CharField(max_length=10, choices=ObjectType.choices)
    name = models.CharField(max_length=100)
    query = models.CharField(max_length=2000, blank=True, help_text="The list's query string.")
    columns = models.JSONField(default=list, blank=True)
    shared = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["user", "object_type", "name"], name="saved_view_name_unique")]

    def __str__(self) -> str:
        return self.name


class ImportJob(TimeStampedModel):
    """A CSV or XLSX file being imported, with its mapping, options, progress and outcome."""

    class Status(models.TextChoices):
        UPLOADED = "uploaded", "Uploaded"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class Mode(models.TextChoices):
        CREATE = "create", "Create new records only"
        UPDATE = "update", "Update existing records only"
        UPSERT = "upsert", "Create and update"

    class MatchOn(models.TextChoices):
        EMAIL = "email", "Email"
        EXTERNAL_ID = "external_id", "External id"
        NAME_COMPANY = "name_company", "Name and company (accounts: name)"
        DOMAIN = "domain", "Domain (accounts only)"

    object_type = models.CharField(max_length=10, choices=ObjectType.choices)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    via = models.CharField(max_length=10, choices=Via.choices, default=Via.IMPORT)
    file_path = models.CharField(max_length=500)
    original_name = models.CharField(max_length=255)
    file_size = models.BigIntegerField(default=0)
    file_format = models.CharField(max_length=4, default="csv")
    encoding = models.CharField(max_length=20, blank=True)
    delimiter = models.CharField(max_length=1, blank=True)
    headers = models.JSONField(default=list, blank=True)
    mapping = models.JSONField(default=dict, blank=True, help_text="{column header: field name}")
    mode = models.CharField(max_length=6, choices=Mode.choices, default=Mode.UPSERT)
    match_on = models.CharField(max_length=12, choices=MatchOn.choices, default=MatchOn.EMAIL)
    party = models.CharField(max_length=6, choices=Party.choices, default=Party.FIRST)
    party_name = models.CharField(max_length=100, blank=True, help_text="The partner or data provider, if any.")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.UPLOADED)
    dry_run = models.BooleanField(default=False, help_text="Run and rolled back: the counts show what would happen.")
    bytes_read = models.BigIntegerField(default=0)
    lines_read = models.PositiveIntegerField(
        default=0,
        help_text=(
            "Physical lines (spreadsheet rows) committed so far, header included; a resumed run continues after them."
        ),
    )
    rejects_bytes = models.BigIntegerField(
        default=0,
        help_text="Size of the rejected-rows file at the last commit; a resumed run truncates the file to it.",
    )
    rows_done = models.PositiveIntegerField(default=0, help_text="Data rows committed so far.")
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    merged = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Import {self.pk}: {self.original_name}"

    def get_absolute_url(self) -> str:
        return reverse("contacts:import_detail", args=[self.pk])

    @property
    def percent(self) -> int:
        """Progress, 0 to 100, by bytes of the file read."""
        if self.status == self.Status.DONE:
            return 100
        if not self.file_size:
            return 0
        return min(99, int(100 * self.bytes_read / self.file_size))

    def summary(self) -> dict[str, Any]:
        """Counts of what happened to the rows."""
        return {
            "rows": self.rows_done,
            "created": self.created,
            "updated": self.updated,
            "merged": self.merged,
            "skipped": self.skipped,
            "rejected": self.rejected,
        }


class DuplicateCandidate(models.Model):
    """A pair of contacts or accounts that look like the same person or company."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DISMISSED = "dismissed", "Not duplicates"
        MERGED = "merged", "Merged"

    id = models.BigAutoField(primary_key=True)
    object_type = models.CharField(max_length=10, choices=ObjectType.choices)
    first_id = models.BigIntegerField()
    second_id = models.BigIntegerField()
    score = models.FloatField(help_text="Similarity, 0 to 100.")
    reasons = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    found_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-score", "id"]
        constraints = [
            models.UniqueConstraint(fields=["object_type", "first_id", "second_id"], name="duplicate_pair_unique"),
            models.CheckConstraint(condition=Q(first_id__lt=models.F("second_id")), name="duplicate_pair_ordered"),
        ]
        indexes = [
            models.Index(fields=["object_type", "status", "-score"], name="duplicate_open_idx"),
            # The unique constraint serves look-ups by first_id; this serves a record's pairs by second_id.
            models.Index(fields=["object_type", "second_id"], name="duplicate_second_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.object_type} {self.first_id} ~ {self.second_id} ({self.score:.0f})"


class DuplicateScan(models.Model):
    """One run of the duplicate finder over contacts or accounts: who asked, when it ran, what it found."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    id = models.BigAutoField(primary_key=True)
    object_type = models.CharField(max_length=10, choices=ObjectType.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    requested_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    records = models.PositiveIntegerField(default=0, help_text="Records read, summed over the blocking passes.")
    comparisons = models.BigIntegerField(default=0, help_text="Pairs of records compared.")
    pairs = models.PositiveIntegerField(default=0, help_text="Likely duplicate pairs found.")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["object_type", "-requested_at"], name="duplicate_scan_recent_idx")]

    def __str__(self) -> str:
        return f"{self.object_type} duplicate scan {self.pk} ({self.status})"
