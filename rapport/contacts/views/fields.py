"""Placeholder views, replaced as the pages are built."""

from django.http import HttpResponse


def custom_fields(request, *args, **kwargs):
    return HttpResponse('custom_fields: not built yet', status=501)


def custom_field_edit(request, *args, **kwargs):
    return HttpResponse('custom_field_edit: not built yet', status=501)


