"""Import benchmark: a 100,000-row CSV with 5% duplicates and 1% bad rows through ``rapport import``, end to
end, against a raw bulk insert of the same rows into the same table; peak memory for two file sizes."""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path

from bench.common import PYTHON, fresh_env, peak_rss_of, run
from bench.data import MAPPING, write_import_file

RAW_INSERT = r"""
import csv, os, sys, time, django
django.setup()
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone
from rapport.contacts.models import Contact
from rapport.contacts.normalise import key
path = sys.argv[1]
now = timezone.now()
fields = ["first_name", "last_name", "first_name_key", "last_name_key", "email", "phone", "job_title", "city",
          "country", "lifecycle_stage", "source", "created_at", "updated_at"]
start = time.perf_counter()
with open(path, newline="", encoding="utf-8") as handle:
    reader = csv.reader(handle)
    next(reader)
    rows = [(r[0], r[1], key(r[0]), key(r[1]), r[2].lower() + f"#{i}", r[3], r[4], r[6], r[7][:2], r[8], "raw", now, now)
            for i, r in enumerate(reader)]
# Only columns the import fills; the raw limit is the driver's own bulk path in one transaction.
with transaction.atomic():
    connection.ensure_connection()
    raw = connection.connection
    columns = ", ".join(fields)
    if connection.vendor == "postgresql":
        with raw.cursor() as cursor, cursor.copy(f"COPY contacts_contact ({columns}, consent_email, consent_phone, consent_sms, consent_post, custom, provenance, version, seniority_manual, seniority, department, street, postal_code, region, external_id) FROM STDIN") as copy:
            for row in rows:
                copy.write_row((*row, "unknown", "unknown", "unknown", "unknown", "{}", "{}", 1, False, "", "", "", "", "", ""))
    else:
        marks = ", ".join("?" * (len(fields) + 14))
        cursor = raw.cursor()
        stamp = connection.ops.adapt_datetimefield_value(now)
        cursor.executemany(
            f"INSERT INTO contacts_contact ({columns}, consent_email, consent_phone, consent_sms, consent_post, custom, provenance, version, seniority_manual, seniority, department, street, postal_code, region, external_id) VALUES ({marks})",
            [(*r[:11], stamp, stamp, "unknown", "unknown", "unknown", "unknown", "{}", "{}", 1, 0, "", "", "", "", "", "") for r in rows],
        )
elapsed = time.perf_counter() - start
print(f"{len(rows)} {elapsed:.4f}")
"""


def _migrate(env: dict[str, str]) -> None:
    run([PYTHON, "-m", "rapport", "migrate", "--no-input", "-v", "0"], env)


def _import(env: dict[str, str], path: Path, mapping: Path) -> dict:
    wall, memory, stdout = peak_rss_of(
        [
            PYTHON,
            "-m",
            "rapport",
            "import",
            "contacts",
            str(path),
            "--mapping",
            str(mapping),
            "--mode",
            "upsert",
            "--match",
            "email",
        ],
        env,
    )
    counts = {
        k: int(v)
        for k, v in re.findall(r"(created|updated|merged|skipped|rejected)\s+([\d,]+)", stdout.replace(",", ""))
    }
    return {
        "wall_s": round(wall, 2),
        "peak_rss_mb": round(memory["peak_rss_mb"], 1),
        "peak_anon_mb": round(memory["peak_anon_mb"], 1),
        "counts": counts,
        "output": stdout.strip()[-600:],
    }


def bench_import(backend: str, rows: int, work: Path) -> dict:
    """Run the import benchmark on one backend; return its figures."""
    work.mkdir(parents=True, exist_ok=True)
    mapping = work / "mapping.json"
    mapping.write_text(json.dumps(MAPPING))
    big = write_import_file(work / f"contacts-{rows}.csv", rows)
    # Half the file: by then SQLite's page cache (64 MB) is full, so any further growth would be the import's.
    small_rows = max(1000, rows // 2)
    small = write_import_file(work / f"contacts-{small_rows}.csv", small_rows, seed=11)

    env = fresh_env(backend, work / "db-import")
    _migrate(env)
    result = _import(env, big, mapping)

    env_small = fresh_env(backend, work / "db-small")
    _migrate(env_small)
    small_result = _import(env_small, small, mapping)

    env_raw = fresh_env(backend, work / "db-raw")
    _migrate(env_raw)
    script = work / "raw_insert.py"
    script.write_text(RAW_INSERT)
    _, _, stdout, _ = run([PYTHON, str(script), str(big)], env_raw)
    raw_rows, raw_seconds = stdout.split()
    raw_rate = int(raw_rows) / float(raw_seconds)
    rate = rows / result["wall_s"]
    return {
        "backend": backend,
        "rows": rows,
        "import": result,
        "rows_per_s": round(rate),
        "raw_insert_rows_per_s": round(raw_rate),
        "ratio_import_to_raw_time": round(raw_rate / rate, 2),
        "memory": {
            f"peak_anon_mb_{small_rows}_rows": small_result["peak_anon_mb"],
            f"peak_anon_mb_{rows}_rows": result["peak_anon_mb"],
            "anon_growth_ratio": round(result["peak_anon_mb"] / max(small_result["peak_anon_mb"], 0.1), 2),
            f"peak_rss_mb_{rows}_rows_incl_mapped_db": result["peak_rss_mb"],
        },
    }


if __name__ == "__main__":
    backend = sys.argv[1] if len(sys.argv) > 1 else "sqlite"
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    with tempfile.TemporaryDirectory(prefix="rapport-bench-") as tmp:
        print(json.dumps(bench_import(backend, rows, Path(tmp)), indent=2))
