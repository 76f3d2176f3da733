"""Run a command as a child and print its wall time and peak memory as JSON on stderr's last line.

Peak RSS counts the database file pages SQLite maps into memory (mmap), which grow with the database,
not with the work; the anonymous part (``RssAnon``: the heap, Python objects) is what shows whether a
process's own memory grows with the file it reads. It is sampled every 20 ms from /proc.
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


start = time.perf_counter()
child = subprocess.Popen(sys.argv[1:])
peak_anon = 0
while True:
    pid, status, usage = os.wait4(child.pid, os.WNOHANG)
    if pid:
        break
    peak_anon = max(peak_anon, anonymous_kb(child.pid))
    time.sleep(0.02)
code = os.waitstatus_to_exitcode(status)
report = {
    "wall_s": time.perf_counter() - start,
    "peak_rss_mb": usage.ru_maxrss / 1024,
    "peak_anon_mb": peak_anon / 1024,
}
sys.stderr.write(json.dumps(report) + "\n")
sys.exit(code)
