"""Users, roles, teams, territories, partner organisations, API tokens and the audit log."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.utils import timezone


class TimeStampedModel(models.Model):
    """Abstract base with creation and last-change times."""

    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Role(models.TextChoices):
    """What a user does, which decides what they may see and change."""

    ADMIN = "admin", "Admin"
    MARKETING = "marketing", "Marketing"
    SALES_MANAGER = "sales_manager", "Sales manager"
    SALES_REP = "sales_rep", "Sales rep"
    SERVICE_AGENT = "service_agent", "Service agent"
    PARTNER = "partner", "Partner"


class Via(models.TextChoices):
    """The door a change came through, kept in the audit log and change histories."""

    PAGE = "page", "Page"
    API = "api", "API"
    IMPORT = "import", "Import"
    CLI = "cli", "Command line"
    SYSTEM = "system", "System"


class Team(TimeStampedModel):
    """A group of users who share the records each of them owns."""

    name = models.CharField(max_length=100, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PartnerOrganisation(TimeStampedModel):
    """A reseller or distributor whose users see only the accounts shared with it."""

    name = models.CharField(max_length=200, unique=True)
    domain = models.CharField(max_length=253, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Territory(TimeStampedModel):
    """A sales territory: records in its countries (and regions, if listed) belong to it."""

    name = models.CharField(max_length=100, unique=True)
    countries = models.JSONField(default=list, help_text="ISO 3166 alpha-2 codes, e.g. ['DE', 'AT', 'CH'].")
    regions = models.JSONField(
        default=list, blank=True, help_text="Optional regions within those countries; empty means the whole country."
    )
    priority = models.PositiveIntegerField(default=100, help_text="Lower numbers win when territories overlap.")
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="territories", blank=True)

    class Meta:
        ordering = ["priority", "name"]
        verbose_name_plural = "territories"

    def __str__(self) -> str:
        return self.name

    def covers(self, country: str, region: str) -> bool:
        """Tell whether a record in this country and region falls in the territory."""
        if not country or country.upper() not in {c.upper() for c in self.countries}:
            return False
        if not self.regions:
            return True
        return region.strip().casefold() in {r.strip().casefold() for r in self.regions}


class User(AbstractUser):
    """A person who logs in to Rapport, with one role."""

    role = models.CharField(max_length=20, choices=Role.choices, default=Role.SALES_REP)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="members")
    partner_organisation = models.ForeignKey(
        PartnerOrganisation, null=True, blank=True, on_delete=models.PROTECT, related_name="users"
    )

    class Meta:
        ordering = ["username"]
        constraints = [
            models.CheckConstraint(
                condition=Q(role=Role.PARTNER, partner_organisation__isnull=False) | ~Q(role=Role.PARTNER),
                name="partner_user_has_organisation",
            )
        ]

    def __str__(self) -> str:
        return self.get_full_name() or self.username

    @property
    def display_name(self) -> str:
        """Full name when known, else the username."""
        return self.get_full_name() or self.username


class ApiToken(TimeStampedModel):
    """A bearer token for the REST API; only its SHA-256 hash is stored."""

    class Scope(models.TextChoices):
        READ = "read", "Read"
        WRITE = "write", "Read and write"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, unique=True, help_text="The token's public first characters.")
    key_hash = models.CharField(max_length=64, unique=True)
    scope = models.CharField(max_length=5, choices=Scope.choices, default=Scope.READ)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @property
    def is_active(self) -> bool:
        """True while the token is neither revoked nor expired."""
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()


class AuditEntry(models.Model):
    """One change to one record: who, when, through which door, and the fields' old and new values."""

    class Action(models.TextChoices):
        CREATE = "create", "Created"
        UPDATE = "update", "Updated"
        DELETE = "delete", "Deleted"
        MERGE = "merge", "Merged"
        RESTORE = "restore", "Restored"

    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False)
    via = models.CharField(max_length=10, choices=Via.choices)
    object_type = models.CharField(max_length=30)
    object_id = models.BigIntegerField()
    action = models.CharField(max_length=10, choices=Action.choices)
    changes = models.JSONField(default=dict, blank=True, help_text="{field: [old, new]}")
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id", "-at"], name="audit_object_idx")]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.object_type} {self.object_id} {self.action} at {self.at:%Y-%m-%d %H:%M}"


class LoginAttempt(models.Model):
    """A failed log-in, kept briefly so repeated guessing can be throttled across processes."""

    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField(default=timezone.now)
    username = models.CharField(max_length=150)
    address = models.GenericIPAddressField(null=True)

    class Meta:
        indexes = [
            models.Index(fields=["username", "at"], name="login_attempt_user_idx"),
            models.Index(fields=["address", "at"], name="login_attempt_addr_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.username} from {self.address} at {self.at:%Y-%m-%d %H:%M:%S}"


class WorkerHeartbeat(models.Model):
    """The last time a background worker proved it was alive; read by ``rapport doctor``."""

    name = models.CharField(max_length=100, primary_key=True)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.beat_at:%Y-%m-%d %H:%M:%S}"
