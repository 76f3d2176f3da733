"""The import wizard: upload a file, map its columns, preview the rows, run it in the background, read the summary.

Views stay thin: they parse the request and call ``rapport.contacts.importing``. Every page needs the
``records.import`` capability (403 otherwise); a job is shown only to the user who created it and to
admins, and is a 404 for anyone else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from rapport.contacts import importing
from rapport.contacts.models import ImportJob, ObjectType, Party
from rapport.core.access import can
from rapport.core.errors import NotFound, RapportError, ValidationFailed
from rapport.core.models import User, Via

HISTORY_LIMIT = 100
PREVIEW_ROWS = 50
# Contacts match on email where accounts match on domain: one choice in the form covers both.
MATCH_CHOICES = [
    ("email", "Email (contacts) · domain (accounts)"),
    ("external_id", "External id"),
    ("name_company", "Name and company (accounts: name)"),
]


class ImportUploadForm(forms.Form):
    """The first step of the wizard: the file and how to import it."""

    file = forms.FileField(
        label="CSV or Excel file",
        allow_empty_file=True,  # the import engine explains what is wrong with the file, empty or not
        help_text="CSV (comma, semicolon, tab or pipe separated; UTF-8, UTF-16 or Windows-1252) or .xlsx "
        "(the first sheet). The first line holds the column headers.",
        widget=forms.ClearableFileInput(attrs={"class": "form-control", "accept": ".csv,.txt,.tsv,.xlsx"}),
    )
    object_type = forms.ChoiceField(
        label="The rows are",
        choices=[(ObjectType.CONTACT.value, "Contacts (people)"), (ObjectType.ACCOUNT.value, "Accounts (companies)")],
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    mode = forms.ChoiceField(
        label="What to do",
        choices=ImportJob.Mode.choices,
        initial=ImportJob.Mode.UPSERT,
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    match_on = forms.ChoiceField(
        label="Find existing records by",
        choices=MATCH_CHOICES,
        initial="email",
        widget=forms.Select(attrs={"class": "form-select"}),
        help_text="Rows matching the same record within the file are merged into it.",
    )
    party = forms.ChoiceField(
        label="Who supplied the data",
        choices=Party.choices,
        initial=Party.FIRST,
        widget=forms.Select(attrs={"class": "form-select", "x-model": "party"}),
        help_text="First-party: your own forms and lists; second-party: a partner; third-party: a data provider.",
    )
    party_name = forms.CharField(
        label="Source name",
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"class": "form-control", "placeholder": "e.g. Trade fair 2026, Acme Data"}),
        help_text="The partner or data provider (required for second- and third-party data).",
    )


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _importer(request: HttpRequest) -> User:
    """The logged-in user, if their role may import; otherwise a 403 page."""
    user = _user(request)
    if not can(user, "records.import"):
        raise PermissionDenied("Your role may not import records; ask an admin or a marketing user.")
    return user


def _job(request: HttpRequest, pk: int) -> ImportJob:
    try:
        return importing.import_job_get(actor=_importer(request), job_id=pk)
    except NotFound:
        raise Http404("No such import.") from None


def _errors_by_field(exc: RapportError) -> tuple[dict[str, str], list[str]]:
    """Split an error's problems into those about a named field and the general ones."""
    by_field: dict[str, str] = {}
    general: list[str] = []
    for error in exc.errors:
        if error.field and error.field not in by_field:
            by_field[error.field] = error.message
        else:
            general.append(error.message)
    if not exc.errors:
        general.append(exc.message)
    return by_field, general


def _say_how_it_went(request: HttpRequest, job_id: int, *, started: str) -> None:
    """The message after queueing a job, by where it stands by now.

    A worker (or, in tests and small set-ups, the immediate queue) may have finished the job before
    the redirect: "carries on in the background" would then sit beside a "Done" badge.
    """
    job = importing.import_job_get(actor=_user(request), job_id=job_id)
    if job.status == ImportJob.Status.DONE:
        counts = [(job.created, "created"), (job.updated, "updated"), (job.merged, "merged"), (job.skipped, "skipped")]
        counts.append((job.rejected, "rejected"))
        told = ", ".join(f"{n:,} {what}" for n, what in counts if n) or "nothing to do"
        rows = f"{job.rows_done:,} row{'' if job.rows_done == 1 else 's'}"
        if job.dry_run:
            messages.info(request, f"The dry run is done: {rows} read, {told}; nothing was written.")
        else:
            messages.success(request, f"The import is done: {rows} read, {told}.")
    elif job.status == ImportJob.Status.FAILED:
        messages.error(request, "The import stopped. The reason, and a way to carry on, are below.")
    else:
        messages.success(request, f"{started} You can leave this page; it carries on in the background.")


@login_required
@require_GET
def import_list(request: HttpRequest) -> HttpResponse:
    """The import history: the user's own imports (every import, for an admin), newest first."""
    user = _importer(request)
    jobs = list(importing.import_jobs_visible(actor=user)[:HISTORY_LIMIT])
    return render(request, "contacts/import_list.html", {"jobs": jobs, "is_admin": user.role == "admin"})


@login_required
@require_http_methods(["GET", "POST"])
def import_start(request: HttpRequest) -> HttpResponse:
    """Step 1: upload the file and choose contacts or accounts, the mode, the match key and the provenance."""
    user = _importer(request)
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        match_on = data["match_on"]
        if data["object_type"] == ObjectType.ACCOUNT and match_on == "email":
            match_on = ImportJob.MatchOn.DOMAIN
        upload = data["file"]
        try:
            job = importing.import_job_create(
                actor=user,
                via=Via.PAGE,
                object_type=data["object_type"],
                original_name=Path(upload.name).name,
                uploaded=upload,
                mode=data["mode"],
                match_on=match_on,
                party=data["party"],
                party_name=data["party_name"],
            )
        except ValidationFailed as exc:
            by_field, general = _errors_by_field(exc)
            for name, message in by_field.items():
                form.add_error(name if name in form.fields else None, message)
            for message in general:
                form.add_error(None, message)
        else:
            return redirect("contacts:import_map", pk=job.pk)
    return render(request, "contacts/import_start.html", {"form": form, "step": 1})


@login_required
@require_http_methods(["GET", "POST"])
def import_map(request: HttpRequest, pk: int) -> HttpResponse:
    """Step 2: choose a field for each column, helped by suggestions and sample values."""
    job = _job(request, pk)
    if job.status != ImportJob.Status.UPLOADED:
        return redirect(job)
    mapping: dict[str, Any] = dict(job.mapping)
    column_errors: dict[str, str] = {}
    general: list[str] = []
    if request.method == "POST":
        mapping = {header: request.POST.get(f"col-{i}", "") for i, header in enumerate(job.headers)}
        try:
            importing.import_mapping_save(actor=_user(request), job_id=job.pk, mapping=mapping)
        except ValidationFailed as exc:
            column_errors, general = _errors_by_field(exc)
            if "match_on" in column_errors:
                general.append(column_errors.pop("match_on"))
        else:
            return redirect("contacts:import_preview", pk=job.pk)
    targets = importing.import_targets(object_type=job.object_type)
    groups: dict[str, list[importing.Target]] = {}
    for target in targets:
        groups.setdefault(target.group, []).append(target)
    samples = importing.import_samples(job=job)
    columns = [
        {
            "index": i,
            "header": header,
            "samples": samples.get(header, []),
            "selected": mapping.get(header) or "",
            "error": column_errors.get(header, ""),
        }
        for i, header in enumerate(job.headers)
    ]
    context = {
        "job": job,
        "step": 2,
        "columns": columns,
        "groups": groups,
        "general_errors": general,
        "description": importing.import_file_description(job),
        "mapped": sum(1 for c in columns if c["selected"]),
    }
    return render(request, "contacts/import_map.html", context, status=422 if general or column_errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def import_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """Step 3: the first rows as they would be imported, with each row's problems; then start the import."""
    job = _job(request, pk)
    if job.status != ImportJob.Status.UPLOADED:
        return redirect(job)
    if request.method == "POST":
        try:
            importing.import_job_queue(actor=_user(request), job_id=job.pk)
        except RapportError as exc:
            messages.error(request, str(exc))
        else:
            _say_how_it_went(request, job.pk, started="The import has started.")
            return redirect(job)
    preview = importing.import_preview(job=job, limit=PREVIEW_ROWS)
    headers = [h for h in job.headers if h in job.mapping]
    targets = {t.name: t.label for t in importing.import_targets(object_type=job.object_type)}
    context = {
        "job": job,
        "step": 3,
        "preview": preview,
        "headers": [(h, targets.get(job.mapping[h], job.mapping[h])) for h in headers],
        "description": importing.import_file_description(job),
    }
    return render(request, "contacts/import_preview.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Step 4: the import's progress while it runs, then its summary; also resume a failed import or remove one."""
    job = _job(request, pk)
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "resume":
                importing.import_job_queue(actor=_user(request), job_id=job.pk)
                _say_how_it_went(request, job.pk, started="The import carries on from where it stopped.")
            elif action == "delete":
                importing.import_job_delete(actor=_user(request), job_id=job.pk)
                messages.success(request, f"The import of {job.original_name} was removed (the records it wrote stay).")
                return redirect("contacts:import_list")
        except RapportError as exc:
            messages.error(request, str(exc))
        return redirect(job)
    context = {
        "job": job,
        "step": 4 if job.status != ImportJob.Status.UPLOADED else 2,
        "description": importing.import_file_description(job),
        "rejects": importing.import_rejects_path(job) is not None,
        "stalled": importing.import_job_stalled(job),
    }
    return render(request, "contacts/import_detail.html", context)


@login_required
@require_GET
def import_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress fragment the detail page polls every second until the import has finished."""
    job = _job(request, pk)
    context = {
        "job": job,
        "rejects": importing.import_rejects_path(job) is not None,
        "stalled": importing.import_job_stalled(job),
    }
    return render(request, "contacts/import_progress.html", context)


@login_required
@require_GET
def import_rejected(request: HttpRequest, pk: int) -> FileResponse:
    """Download the rejected rows: the file's own columns plus the line number and the reason."""
    job = _job(request, pk)
    path = importing.import_rejects_path(job)
    if path is None:
        raise Http404("This import rejected no rows.")
    name = f"{Path(job.original_name).stem or 'import'}-rejected.csv"
    return FileResponse(path.open("rb"), as_attachment=True, filename=name, content_type="text/csv; charset=utf-8")
