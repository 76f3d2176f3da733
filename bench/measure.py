"""Run a command as a child and print its wall time and peak RSS as JSON on stderr's last line."""

import json
import os
import subprocess
import sys
import time

start = time.perf_counter()
child = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(child.pid, 0)
code = os.waitstatus_to_exitcode(status)
sys.stderr.write(json.dumps({"wall_s": time.perf_counter() - start, "peak_rss_mb": usage.ru_maxrss / 1024}) + "\n")
sys.exit(code)
