"""``rapport serve`` and ``rapport worker`` as an operator runs them: real processes, real ports, real queues.

Every wait has a deadline, and every test kills whatever it started, so a broken server can't hang the run.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import io
import os
import queue
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rapport.core import serving
from tests.core.test_config import RAPPORT, closed_port, rapport_env

START_TIMEOUT = 90
STOP_TIMEOUT = 60


@functools.cache
def migrated_template() -> Path:
    """A data directory whose SQLite database has every migration applied; made once per test process."""
    path = Path(tempfile.mkdtemp(prefix="rapport-migrated-"))
    atexit.register(shutil.rmtree, path, True)
    result = subprocess.run(
        [RAPPORT, "migrate", "--no-input", "-v", "0"],
        env=rapport_env(path),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return path


def migrated_data_dir(target: Path) -> Path:
    """A copy of the migrated template's database and secret key in ``target``, ready for one test."""
    target.mkdir(parents=True, exist_ok=True)
    for name in ("rapport.sqlite3", "secret_key"):
        shutil.copy2(migrated_template() / name, target / name)
    return target


def free_port() -> int:
    return closed_port()


def process_tree(pid: int) -> set[int]:
    """Every live descendant of ``pid``, from the parent links in /proc."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in parents.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def parent_of(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@dataclass
class Running:
    """A ``rapport`` subprocess whose output is collected line by line in the background."""

    process: subprocess.Popen[str]
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    output: list[str] = field(default_factory=list)

    def wait_for(self, text: str, timeout: float) -> str:
        """Return the first output line containing ``text``; fail if it doesn't come in time."""
        deadline = time.monotonic() + timeout
        for line in self.output:
            if text in line:
                return line
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.process.poll() is not None and self.lines.empty():
                    break
                continue
            if text in line:
                return line
        pytest.fail(f"{text!r} never appeared; output was:\n{''.join(self.output)}")

    def text(self) -> str:
        return "".join(self.output)


@contextlib.contextmanager
def run_in_background(args: list[str], env: dict[str, str]) -> Iterator[Running]:
    """Start ``rapport ARGS``; on the way out, kill it and everything it started if they are still there."""
    process = subprocess.Popen(
        [RAPPORT, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    running = Running(process)

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            running.output.append(line)
            running.lines.put(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    seen: set[int] = set()
    try:
        yield running
    finally:
        seen |= process_tree(process.pid)
        if process.poll() is None:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)
        for pid in seen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        reader.join(timeout=5)


def http_get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=15) as response:  # noqa: S310 - our own local server
        return response.status, response.headers.get("Content-Type", ""), response.read()


def heartbeats(data_dir: Path) -> list[tuple[str, str]]:
    connection = sqlite3.connect(data_dir / "rapport.sqlite3", timeout=5)
    try:
        return connection.execute("SELECT name, beat_at FROM core_workerheartbeat").fetchall()
    finally:
        connection.close()


def wait_until(condition, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


# --- rapport serve ----------------------------------------------------------------------------------------


def test_serve_migrates_serves_pages_and_static_files_and_stops_both_children_on_sigterm(tmp_path):
    port = free_port()

    with run_in_background(
        ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"], rapport_env(tmp_path)
    ) as serve:
        serve.wait_for("Applying", START_TIMEOUT)
        serve.wait_for(f"Rapport is running at http://127.0.0.1:{port}/ (worker: on)", START_TIMEOUT)
        login = http_get(f"http://127.0.0.1:{port}/login/")
        css = http_get(f"http://127.0.0.1:{port}/static/rapport/app.css")
        tree = process_tree(serve.process.pid)
        children = [command_line(pid) for pid in tree if parent_of(pid) == serve.process.pid]

        serve.process.send_signal(signal.SIGTERM)
        code = serve.process.wait(timeout=STOP_TIMEOUT)

        assert login[0] == 200
        assert b'name="password"' in login[2]
        assert (css[0], css[1].split(";")[0]) == (200, "text/css")
        assert b"Rapport" in css[2]
        assert len(children) == 2, children
        assert any("-m gunicorn rapport.wsgi:application" in cmd for cmd in children), children
        assert any(cmd.endswith("-m rapport worker ") for cmd in children), children
        assert code == 0, serve.text()
        assert [pid for pid in tree if alive(pid)] == []
        assert "Traceback" not in serve.text()


def test_serve_stops_the_web_server_and_exits_1_when_the_worker_dies(tmp_path):
    data_dir = migrated_data_dir(tmp_path / "data")
    port = free_port()

    with run_in_background(["serve", "--port", str(port), "--workers", "1"], rapport_env(data_dir)) as serve:
        serve.wait_for("Rapport is running at", START_TIMEOUT)
        tree = process_tree(serve.process.pid)
        worker = next(pid for pid in tree if command_line(pid).endswith("rapport worker "))

        os.kill(worker, signal.SIGKILL)
        code = serve.process.wait(timeout=STOP_TIMEOUT)

        assert code == 1
        assert (
            "rapport: the background worker stopped unexpectedly (killed by SIGKILL); stopping the web server too."
            in serve.text()
        )
        assert [pid for pid in tree if alive(pid)] == []


def test_serve_without_the_worker_says_so(tmp_path):
    data_dir = migrated_data_dir(tmp_path / "data")
    port = free_port()

    with run_in_background(
        ["serve", "--port", str(port), "--workers", "1", "--no-worker"], rapport_env(data_dir)
    ) as serve:
        serve.wait_for(f"Rapport is running at http://127.0.0.1:{port}/ (worker: off)", START_TIMEOUT)
        tree = process_tree(serve.process.pid)
        serve.process.send_signal(signal.SIGINT)
        code = serve.process.wait(timeout=STOP_TIMEOUT)

    assert code == 0
    assert not any("rapport worker" in command_line(pid) for pid in tree)
    assert [pid for pid in tree if alive(pid)] == []


def test_serve_refuses_a_port_in_use_with_one_sentence(tmp_path):
    data_dir = migrated_data_dir(tmp_path / "data")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = subprocess.run(
            [RAPPORT, "serve", "--port", str(port)],
            env=rapport_env(data_dir),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"rapport: port {port} on 127.0.0.1 is already in use (is Rapport already running?); "
        "stop the program using it or pass another --port."
    )


# --- rapport worker ---------------------------------------------------------------------------------------


def test_worker_records_heartbeats_runs_the_periodic_task_and_logs_to_stdout(tmp_path):
    data_dir = migrated_data_dir(tmp_path / "data")
    assert heartbeats(data_dir) == []

    with run_in_background(["worker"], rapport_env(data_dir)) as worker:
        beats = wait_until(lambda: heartbeats(data_dir), 20, "a worker heartbeat")
        worker.wait_for("Executing rapport.core.tasks.heartbeat", 20)
        worker.process.send_signal(signal.SIGTERM)
        code = worker.process.wait(timeout=STOP_TIMEOUT)

    assert [name for name, _ in beats] == ["default"]
    assert code == 0
    assert "Periodic tasks are enabled." in worker.text()
    assert "Traceback" not in worker.text()


def test_worker_logs_go_to_stdout_not_stderr(tmp_path):
    data_dir = migrated_data_dir(tmp_path / "data")
    process = subprocess.Popen(
        [RAPPORT, "worker", "--workers", "1"],
        env=rapport_env(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: heartbeats(data_dir), 20, "a worker heartbeat")
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=STOP_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=STOP_TIMEOUT)

    assert "Huey consumer started with 1 thread" in stdout
    assert stderr == ""


@pytest.mark.skipif(not redis_answers(), reason="no Redis on 127.0.0.1:6379")
def test_worker_uses_redis_when_redis_url_is_set(tmp_path):
    data_dir = migrated_data_dir(tmp_path / "data")
    # A database number of its own, so the test doesn't share a queue with a Rapport using database 0.
    env = rapport_env(data_dir, REDIS_URL="redis://127.0.0.1:6379/14")

    with run_in_background(["worker"], env) as worker:
        wait_until(lambda: heartbeats(data_dir), 20, "a worker heartbeat")
        doctor = subprocess.run([RAPPORT, "doctor"], env=env, capture_output=True, text=True, timeout=60, check=False)
        worker.process.send_signal(signal.SIGTERM)
        code = worker.process.wait(timeout=STOP_TIMEOUT)

    assert code == 0
    assert "ok       Task queue: Redis at redis://127.0.0.1:6379/14." in doctor.stdout
    assert "ok       Worker: alive" in doctor.stdout


def test_worker_refuses_to_start_on_an_unmigrated_database(tmp_path):
    result = subprocess.run(
        [RAPPORT, "worker"], env=rapport_env(tmp_path), capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 1
    assert result.stderr.strip().startswith("rapport: the database has ")
    assert result.stderr.strip().endswith(" unapplied migrations; run: rapport migrate")


def test_worker_refuses_to_start_when_redis_does_not_answer(tmp_path):
    data_dir = migrated_data_dir(tmp_path / "data")
    env = rapport_env(data_dir, REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0")

    result = subprocess.run([RAPPORT, "worker"], env=env, capture_output=True, text=True, timeout=60, check=False)

    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1
    assert len(lines) == 1
    assert lines[0].startswith("rapport: the task queue can't be used: Redis at redis://127.0.0.1:")
    assert "Connection refused" in lines[0]


# --- the supervisor and start-up checks, in process -------------------------------------------------------


def test_port_problem_explains_each_way_listening_can_fail():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        in_use = serving.port_problem("127.0.0.1", port)

    assert in_use == (
        f"port {port} on 127.0.0.1 is already in use (is Rapport already running?); "
        "stop the program using it or pass another --port."
    )
    assert serving.port_problem("192.0.2.1", free_port()) == (
        "192.0.2.1 is not an address of this machine; pass --host 127.0.0.1 or 0.0.0.0."
    )
    assert serving.port_problem("no-such-host.invalid", free_port()).startswith(
        "the address 'no-such-host.invalid' can't be used ("
    )
    assert serving.port_problem("127.0.0.1", free_port()) is None


def test_gunicorn_command_binds_ipv6_addresses_in_brackets():
    command = serving.gunicorn_command(serving.ServeOptions(host="::1", port=8123, web_workers=3))

    assert "--bind=[::1]:8123" in command
    assert "--workers=3" in command
    assert "--timeout=60" in command
    assert "--access-logfile=-" in command


def test_supervisor_reports_a_web_server_that_dies_while_starting(monkeypatch):
    monkeypatch.setattr(serving, "gunicorn_command", lambda options: [sys.executable, "-c", "raise SystemExit(3)"])
    out, err = io.StringIO(), io.StringIO()

    code = serving.Supervisor(serving.ServeOptions(port=free_port(), worker=False), out=out, err=err).run()

    assert code == 1
    assert err.getvalue() == "rapport: the web server stopped while starting (exit code 3); see the messages above.\n"
    assert out.getvalue() == ""
