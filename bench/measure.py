"""Run a command as a child and print its wall time and peak memory as JSON on stderr's last line.

Peak RSS counts the database file pages SQLite maps into memory (mmap), which grow with the database,
not with the work; the anonymous part (``RssAnon``: the heap, Python objects) is what shows whether a
process's own memory grows with the file it reads. It is sampled every 20 ms from /proc, summed over the
command and its child processes (an import's read-ahead process): pages a forked child still shares
with its parent count twice, so the figure errs high.
"""

import json
import os
import subprocess
import sys
import time


def anonymous_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_anonymous_kb(pid: int) -> int:
    total = anonymous_kb(pid)
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            kids = [int(p) for p in children.read().split()]
    except OSError:
        kids = []
    return total + sum(tree_anonymous_kb(kid) for kid in kids)


start = time.perf_counter()
child = subprocess.Popen(sys.argv[1:])
peak_anon = 0
while True:
    pid, status, usage = os.wait4(child.pid, os.WNOHANG)
    if pid:
        break
    peak_anon = max(peak_anon, tree_anonymous_kb(child.pid))
    time.sleep(0.02)
code = os.waitstatus_to_exitcode(status)
report = {
    "wall_s": time.perf_counter() - start,
    "peak_rss_mb": usage.ru_maxrss / 1024,
    "peak_anon_mb": peak_anon / 1024,
}
sys.stderr.write(json.dumps(report) + "\n")
sys.exit(code)
