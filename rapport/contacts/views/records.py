"""Placeholder views, replaced as the pages are built."""

from django.http import HttpResponse


def contact_list(request, *args, **kwargs):
    return HttpResponse('contact_list: not built yet', status=501)


def contact_create(request, *args, **kwargs):
    return HttpResponse('contact_create: not built yet', status=501)


def contact_bulk(request, *args, **kwargs):
    return HttpResponse('contact_bulk: not built yet', status=501)


def contact_export(request, *args, **kwargs):
    return HttpResponse('contact_export: not built yet', status=501)


def contact_detail(request, *args, **kwargs):
    return HttpResponse('contact_detail: not built yet', status=501)


def contact_edit(request, *args, **kwargs):
    return HttpResponse('contact_edit: not built yet', status=501)


def contact_delete(request, *args, **kwargs):
    return HttpResponse('contact_delete: not built yet', status=501)


def contact_vcard(request, *args, **kwargs):
    return HttpResponse('contact_vcard: not built yet', status=501)


def account_list(request, *args, **kwargs):
    return HttpResponse('account_list: not built yet', status=501)


def account_create(request, *args, **kwargs):
    return HttpResponse('account_create: not built yet', status=501)


def account_bulk(request, *args, **kwargs):
    return HttpResponse('account_bulk: not built yet', status=501)


def account_export(request, *args, **kwargs):
    return HttpResponse('account_export: not built yet', status=501)


def account_detail(request, *args, **kwargs):
    return HttpResponse('account_detail: not built yet', status=501)


def account_edit(request, *args, **kwargs):
    return HttpResponse('account_edit: not built yet', status=501)


def account_delete(request, *args, **kwargs):
    return HttpResponse('account_delete: not built yet', status=501)


def search(request, *args, **kwargs):
    return HttpResponse('search: not built yet', status=501)


def saved_views(request, *args, **kwargs):
    return HttpResponse('saved_views: not built yet', status=501)


def saved_view_save(request, *args, **kwargs):
    return HttpResponse('saved_view_save: not built yet', status=501)


