"""Placeholder views, replaced as the pages are built."""

from django.http import HttpResponse


def duplicate_list(request, *args, **kwargs):
    return HttpResponse('duplicate_list: not built yet', status=501)


def duplicate_scan(request, *args, **kwargs):
    return HttpResponse('duplicate_scan: not built yet', status=501)


def duplicate_review(request, *args, **kwargs):
    return HttpResponse('duplicate_review: not built yet', status=501)


def duplicate_dismiss(request, *args, **kwargs):
    return HttpResponse('duplicate_dismiss: not built yet', status=501)


