"""Django admin for users, teams, territories, partner organisations, tokens and the audit log."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from rapport.core.models import ApiToken, AuditEntry, PartnerOrganisation, Team, Territory, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "first_name", "last_name", "role", "team", "partner_organisation", "is_active")
    list_filter = ("role", "team", "partner_organisation", "is_active")
    fieldsets = (
        *BaseUserAdmin.fieldsets,
        ("Rapport", {"fields": ("role", "team", "partner_organisation")}),
    )
    add_fieldsets = (
        *BaseUserAdmin.add_fieldsets,
        ("Rapport", {"fields": ("email", "role", "team", "partner_organisation")}),
    )


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "created_at")
    search_fields = ("name",)


@admin.register(Territory)
class TerritoryAdmin(admin.ModelAdmin):
    list_display = ("name", "countries", "regions", "priority")
    filter_horizontal = ("members",)


@admin.register(PartnerOrganisation)
class PartnerOrganisationAdmin(admin.ModelAdmin):
    list_display = ("name", "domain")
    search_fields = ("name",)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("prefix", "user", "name", "scope", "created_at", "last_used_at", "expires_at", "revoked_at")
    list_filter = ("scope",)
    readonly_fields = ("prefix", "key_hash", "last_used_at")


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("at", "actor", "via", "object_type", "object_id", "action")
    list_filter = ("via", "object_type", "action")
    search_fields = ("object_id",)

    def has_add_permission(self, request):  # the log is written by the app only
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
