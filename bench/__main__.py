"""``make bench``: the import and list/search benchmarks on SQLite and, when reachable, PostgreSQL.

Options (environment): BENCH_ROWS (import rows, default 100000), BENCH_CONTACTS (default 1000000),
BENCH_BACKENDS (default "sqlite postgres"), BENCH_REPEATS (requests per case, default 60).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from bench.common import PYTHON, fresh_env, postgres_reachable, run, save
from bench.import_bench import bench_import


def main() -> int:
    rows = int(os.environ.get("BENCH_ROWS", "100000"))
    contacts = int(os.environ.get("BENCH_CONTACTS", "1000000"))
    backends = os.environ.get("BENCH_BACKENDS", "sqlite postgres").split()
    if "postgres" in backends and not postgres_reachable():
        print("PostgreSQL is not reachable: benchmarking SQLite only.", file=sys.stderr)
        backends.remove("postgres")
    report: dict = {}
    with tempfile.TemporaryDirectory(prefix="rapport-bench-") as tmp:
        for backend in backends:
            print(f"== import benchmark on {backend} ({rows:,} rows)", file=sys.stderr, flush=True)
            imp = bench_import(backend, rows, Path(tmp) / f"import-{backend}")
            print(json.dumps(imp, indent=2), flush=True)
            print(f"== list/search benchmark on {backend} ({contacts:,} contacts)", file=sys.stderr, flush=True)
            env = fresh_env(backend, Path(tmp) / f"list-{backend}")
            _, _, stdout, _ = run([PYTHON, "-m", "bench.list_bench", str(contacts)], env, timeout=7200)
            lst = json.loads(stdout)
            print(json.dumps(lst, indent=2), flush=True)
            report[backend] = {"import": imp, "list": lst}
    path = save("results", report)
    print_table(report)
    print(f"\nFull results: {path}", file=sys.stderr)
    return 0


def print_table(report: dict) -> None:
    print("\nSummary")
    for backend, parts in report.items():
        imp = parts["import"]
        print(
            f"[{backend}] import {imp['rows']:,} rows: {imp['rows_per_s']:,} rows/s "
            f"(raw insert {imp['raw_insert_rows_per_s']:,} rows/s; import takes {imp['ratio_import_to_raw_time']}x the raw time); "
            f"peak RSS {imp['memory']}"
        )
        for name, figures in parts["list"]["requests"].items():
            if "error" in figures:
                print(f"[{backend}]   {name:28s} ERROR {figures['error']}")
            else:
                print(
                    f"[{backend}]   {name:28s} p50 {figures['p50_ms']:7.1f} ms  p95 {figures['p95_ms']:7.1f} ms"
                    f"  ({figures.get('ratio_p95_to_raw', '-')}x raw p95)"
                )
        for name, figures in parts["list"]["raw_select"].items():
            print(f"[{backend}]   raw {name:24s} p50 {figures['p50_ms']:7.1f} ms  p95 {figures['p95_ms']:7.1f} ms")


if __name__ == "__main__":
    sys.exit(main())
