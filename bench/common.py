"""Shared helpers: fresh databases, subprocess runs with peak memory, percentiles, output."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PYTHON = sys.executable
SECRET = "benchmark-secret-key-0123456789-0123456789-0123456789"


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(values: list[float]) -> dict[str, float]:
    """p50/p95/mean in milliseconds of durations given in seconds."""
    return {
        "p50_ms": round(percentile(values, 50) * 1000, 2),
        "p95_ms": round(percentile(values, 95) * 1000, 2),
        "mean_ms": round(statistics.fmean(values) * 1000, 2),
        "n": len(values),
    }


def fresh_env(backend: str, work: Path) -> dict[str, str]:
    """Environment for a run against a new, empty database of the given backend."""
    env = {
        **os.environ,
        "RAPPORT_DATA_DIR": str(work),
        "SECRET_KEY": SECRET,
        "DEBUG": "0",
        "DJANGO_SETTINGS_MODULE": "rapport.settings",
        "LOG_LEVEL": "WARNING",
        "ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
    }
    env.pop("REDIS_URL", None)
    work.mkdir(parents=True, exist_ok=True)
    if backend == "sqlite":
        db = work / "bench.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
        env["DATABASE_URL"] = f"sqlite:///{db}"
    else:
        url = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/rapport_bench")
        recreate_postgres(url)
        env["DATABASE_URL"] = url
    return env


def recreate_postgres(url: str) -> None:
    """Drop and create the benchmark database (never the one the tests or the app use)."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def postgres_reachable() -> bool:
    """Whether PostgreSQL answers at the benchmark URL's server."""
    try:
        import psycopg

        url = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/rapport_bench")
        with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", connect_timeout=3):
            return True
    except Exception:
        return False


def run(args: list[str], env: dict[str, str], *, timeout: float = 3600) -> tuple[float, int, str, str]:
    """Run a command; return (wall seconds, peak RSS in MB of the child, stdout, stderr)."""
    start = time.perf_counter()
    process = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    wall = time.perf_counter() - start
    # ru_maxrss of the children reaped so far: the largest, so measure each child in its own run.
    import resource

    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({process.returncode}):\n{stderr[-3000:]}")
    return wall, peak, stdout, stderr


def peak_rss_of(args: list[str], env: dict[str, str]) -> tuple[float, dict[str, float], str]:
    """Run a command under ``bench.measure``; return its wall time, peak memory figures (MB) and stdout."""
    wrapper = [PYTHON, "-m", "bench.measure", *args]
    wall, _, stdout, stderr = run(wrapper, env)
    report = json.loads(stderr.strip().splitlines()[-1])
    return wall, {k: report[k] for k in ("peak_rss_mb", "peak_anon_mb")}, stdout


def save(name: str, data: dict) -> Path:
    """Write results as JSON into bench/out/."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(data, indent=2))
    return path
