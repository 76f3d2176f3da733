"""Running Rapport: the start-up checks of ``rapport serve`` / ``rapport worker`` and the process supervisor.

``rapport serve`` runs gunicorn (the web server) and ``rapport worker`` (the Huey consumer) as two child
processes. The supervisor here starts them, forwards SIGINT/SIGTERM to them, and when either of them exits
on its own it stops the other and exits 1, so a service manager (systemd, Docker) sees the failure and can
restart the pair. Children are started in their own sessions, so a Ctrl-C in the terminal reaches only the
supervisor, which then stops them in order; on Linux they are also told to stop if the supervisor itself
is killed, so no orphan keeps the port or the queue.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from rapport.core.checks import Level, check_queue_storage, unapplied_migrations

# gunicorn defaults sized for a small machine: a few processes, each with threads for slow clients.
WEB_WORKERS = 2
WEB_THREADS = 4
WEB_TIMEOUT = 60
# How long each child may take to stop gracefully before it is killed.
WEB_GRACEFUL_SECONDS = 20
WORKER_GRACEFUL_SECONDS = 30
STOP_GRACE_SECONDS = WORKER_GRACEFUL_SECONDS + 5
READY_TIMEOUT_SECONDS = 60
POLL_SECONDS = 0.2


class StartupError(Exception):
    """Rapport can't start; the message is one sentence saying why and what to do."""


def database_ready(*, migrate: bool, say: Callable[[str], None]) -> None:
    """Check the database answers and its migrations are applied; apply them first when ``migrate`` is set."""
    from django.db import connection

    # An OperationalError here reaches ``rapport.cli``, which prints it as one sentence.
    connection.ensure_connection()
    missing = unapplied_migrations()
    if not missing:
        return
    if not migrate:
        raise StartupError(f"the database has {len(missing)} unapplied migrations; run: rapport migrate")
    from django.core.management import call_command

    say(f"Applying {len(missing)} database migration{'s' if len(missing) != 1 else ''}...")
    call_command("migrate", interactive=False, verbosity=0)
    say("Database is up to date.")


def queue_ready() -> None:
    """Check the task queue's storage (Redis or the SQLite file) answers."""
    finding = check_queue_storage()
    if finding.level is Level.PROBLEM:
        raise StartupError(f"the task queue can't be used: {finding.message.rstrip('.')}; {finding.fix}")


def port_problem(host: str, port: int) -> str | None:
    """Why the web server couldn't listen on ``host:port``, or ``None`` if it can."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        return (
            f"the address {host!r} can't be used ({exc.strerror}); "
            "pass --host 127.0.0.1, 0.0.0.0 or an address of this machine."
        )
    with socket.socket(family, kind, proto) as sock:
        # gunicorn sets SO_REUSEADDR too, so a port left in TIME_WAIT by a previous run is fine here as there.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (
                    f"port {port} on {host} is already in use (is Rapport already running?); "
                    "stop the program using it or pass another --port."
                )
            if exc.errno == errno.EACCES:
                return f"port {port} needs administrator rights; use a port above 1023 such as 8000."
            if exc.errno == errno.EADDRNOTAVAIL:
                return f"{host} is not an address of this machine; pass --host 127.0.0.1 or 0.0.0.0."
            return f"can't listen on {host}:{port} ({exc.strerror})."
    return None


@dataclass(frozen=True)
class ServeOptions:
    """What ``rapport serve`` was asked to run."""

    host: str = "127.0.0.1"
    port: int = 8000
    web_workers: int = WEB_WORKERS
    worker: bool = True

    @property
    def bind(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.bind}/"


def _gunicorn_knows(setting: str) -> bool:
    from gunicorn.config import KNOWN_SETTINGS

    return any(known.name == setting for known in KNOWN_SETTINGS)


def gunicorn_command(options: ServeOptions) -> list[str]:
    """The gunicorn command line for the web server."""
    # Recent gunicorns open a control socket at one fixed path per user, which two installs would share;
    # Rapport doesn't use it.
    extra = ["--no-control-socket"] if _gunicorn_knows("control_socket_disable") else []
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "rapport.wsgi:application",
        f"--bind={options.bind}",
        f"--workers={options.web_workers}",
        f"--threads={WEB_THREADS}",
        "--worker-class=gthread",
        f"--timeout={WEB_TIMEOUT}",
        f"--graceful-timeout={WEB_GRACEFUL_SECONDS}",
        "--access-logfile=-",
        "--error-logfile=-",
        # Keep the port's queue short of the default so a flood is refused rather than left hanging.
        "--backlog=512",
        *extra,
    ]


def worker_command() -> list[str]:
    """The command line for the background worker."""
    return [sys.executable, "-m", "rapport", "worker"]


def _load_prctl() -> Callable[[int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


def _child_setup(parent_pid: int, prctl: Callable[[int, int], int] | None) -> Callable[[], None]:
    """Run in each child before exec: die with the parent, even if the parent is killed with SIGKILL."""
    pr_set_pdeathsig = 1

    def setup() -> None:
        if prctl is not None:
            prctl(pr_set_pdeathsig, signal.SIGTERM)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return setup


def _how(code: int) -> str:
    """``exit code 3`` or ``killed by SIGKILL``, from a ``Popen.returncode``."""
    if code >= 0:
        return f"exit code {code}"
    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"


class Supervisor:
    """Runs the web server and the worker as child processes and stops both together."""

    def __init__(self, options: ServeOptions, *, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> None:
        self.options = options
        self.out = out
        self.err = err
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.stop_requested = 0
        self._prctl = _load_prctl()

    def _say(self, stream: TextIO, text: str) -> None:
        stream.write(text + "\n")
        stream.flush()

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.stop_requested += 1
        if self.stop_requested > 1:
            # A second Ctrl-C: stop now, without waiting for running requests and tasks.
            self._kill_all()

    def _start(self, name: str, command: list[str]) -> None:
        # Whatever this process printed so far comes before the children's output, which shares the terminal.
        for stream in (sys.stdout, sys.stderr, self.out, self.err):
            stream.flush()
        self.children[name] = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command,
            start_new_session=True,
            preexec_fn=_child_setup(os.getpid(), self._prctl),
        )

    def _wait_until_listening(self) -> str | None:
        """Wait until the web server accepts connections; otherwise say why it doesn't (``None`` if asked to stop)."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.options.host, self.options.host)  # noqa: S104
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        web = self.children["web"]
        while not self.stop_requested:
            code = web.poll()
            if code is not None:
                return f"the web server stopped while starting ({_how(code)}); see the messages above."
            if time.monotonic() > deadline:
                return (
                    f"the web server didn't accept connections within {READY_TIMEOUT_SECONDS} s; "
                    "see the messages above."
                )
            try:
                with socket.create_connection((host, self.options.port), timeout=1):
                    return ""
            except OSError:
                time.sleep(POLL_SECONDS)
        return None

    def _exited(self) -> tuple[str, int] | None:
        for name, child in self.children.items():
            code = child.poll()
            if code is not None:
                return name, code
        return None

    def _kill_all(self) -> None:
        """Kill each child with its whole process group (gunicorn's own workers included)."""
        for child in self.children.values():
            if child.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child.pid, signal.SIGKILL)

    def _stop_all(self) -> None:
        """Ask every child to stop gracefully; kill what is still running after the grace period."""
        for child in self.children.values():
            if child.poll() is None:
                # SIGTERM is the graceful stop for both: gunicorn finishes requests, the worker finishes tasks.
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while any(child.poll() is None for child in self.children.values()):
            if time.monotonic() > deadline:
                self._say(self.err, "rapport: stopping took too long; killing what is left.")
                self._kill_all()
                deadline = float("inf")
            time.sleep(POLL_SECONDS / 2)

    def run(self) -> int:
        """Start the children, wait until asked to stop or until one exits, stop the rest; return the exit code."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            return self._run()
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _run(self) -> int:
        self._start("web", gunicorn_command(self.options))
        if self.options.worker:
            self._start("worker", worker_command())
        problem = self._wait_until_listening()
        if problem is None:
            return 0
        if problem:
            self._say(self.err, f"rapport: {problem}")
            return 1
        worker_state = "on" if self.options.worker else "off"
        self._say(self.out, f"Rapport is running at {self.options.url} (worker: {worker_state}). Press Ctrl-C to stop.")
        while not self.stop_requested:
            exited = self._exited()
            if exited is not None:
                name, code = exited
                what = "web server" if name == "web" else "background worker"
                other = "worker" if name == "web" else "web server"
                stopping = f"; stopping the {other} too" if len(self.children) > 1 else ""
                self._say(
                    self.err,
                    f"rapport: the {what} stopped unexpectedly ({_how(code)}){stopping}. See the messages above.",
                )
                return 1
            time.sleep(POLL_SECONDS)
        self._say(self.out, "Stopping Rapport...")
        return 0
