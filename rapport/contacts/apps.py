from django.apps import AppConfig


class ContactsConfig(AppConfig):
    """Contacts, accounts, custom fields, consent, import/export and de-duplication."""

    name = "rapport.contacts"
    label = "contacts"
    verbose_name = "Contacts"
