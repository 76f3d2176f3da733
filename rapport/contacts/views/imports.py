"""Placeholder views, replaced as the pages are built."""

from django.http import HttpResponse


def import_list(request, *args, **kwargs):
    return HttpResponse('import_list: not built yet', status=501)


def import_start(request, *args, **kwargs):
    return HttpResponse('import_start: not built yet', status=501)


def import_detail(request, *args, **kwargs):
    return HttpResponse('import_detail: not built yet', status=501)


def import_map(request, *args, **kwargs):
    return HttpResponse('import_map: not built yet', status=501)


def import_preview(request, *args, **kwargs):
    return HttpResponse('import_preview: not built yet', status=501)


def import_progress(request, *args, **kwargs):
    return HttpResponse('import_progress: not built yet', status=501)


def import_rejected(request, *args, **kwargs):
    return HttpResponse('import_rejected: not built yet', status=501)


