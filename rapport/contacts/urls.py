from django.urls import path

from rapport.contacts.views import duplicates, fields, imports, records

app_name = "contacts"

urlpatterns = [
    # Contacts
    path("contacts/", records.contact_list, name="contact_list"),
    path("contacts/new/", records.contact_create, name="contact_create"),
    path("contacts/bulk/", records.contact_bulk, name="contact_bulk"),
    path("contacts/validate/", records.contact_validate, name="contact_validate"),
    path("contacts/export.<str:fmt>", records.contact_export, name="contact_export"),
    path("contacts/<int:pk>/", records.contact_detail, name="contact_detail"),
    path("contacts/<int:pk>/edit/", records.contact_edit, name="contact_edit"),
    path("contacts/<int:pk>/delete/", records.contact_delete, name="contact_delete"),
    path("contacts/<int:pk>/vcard/", records.contact_vcard, name="contact_vcard"),
    # Accounts
    path("accounts/", records.account_list, name="account_list"),
    path("accounts/new/", records.account_create, name="account_create"),
    path("accounts/bulk/", records.account_bulk, name="account_bulk"),
    path("accounts/validate/", records.account_validate, name="account_validate"),
    path("accounts/suggest/", records.account_suggest, name="account_suggest"),
    path("accounts/export.<str:fmt>", records.account_export, name="account_export"),
    path("accounts/<int:pk>/", records.account_detail, name="account_detail"),
    path("accounts/<int:pk>/edit/", records.account_edit, name="account_edit"),
    path("accounts/<int:pk>/delete/", records.account_delete, name="account_delete"),
    # Search and saved views
    path("search/", records.search, name="search"),
    path("views/", records.saved_views, name="saved_views"),
    path("views/save/", records.saved_view_save, name="saved_view_save"),
    # Import
    path("imports/", imports.import_list, name="import_list"),
    path("imports/new/", imports.import_start, name="import_start"),
    path("imports/<int:pk>/", imports.import_detail, name="import_detail"),
    path("imports/<int:pk>/map/", imports.import_map, name="import_map"),
    path("imports/<int:pk>/preview/", imports.import_preview, name="import_preview"),
    path("imports/<int:pk>/progress/", imports.import_progress, name="import_progress"),
    path("imports/<int:pk>/rejected.csv", imports.import_rejected, name="import_rejected"),
    # De-duplication
    path("duplicates/", duplicates.duplicate_list, name="duplicate_list"),
    path("duplicates/scan/", duplicates.duplicate_scan, name="duplicate_scan"),
    path("duplicates/<int:pk>/", duplicates.duplicate_review, name="duplicate_review"),
    path("duplicates/<int:pk>/dismiss/", duplicates.duplicate_dismiss, name="duplicate_dismiss"),
    path("duplicates/<int:pk>/merge/", duplicates.duplicate_merge, name="duplicate_merge"),
    # Settings: custom fields
    path("settings/fields/", fields.custom_fields, name="custom_fields"),
    path("settings/fields/<int:pk>/", fields.custom_field_edit, name="custom_field_edit"),
]
