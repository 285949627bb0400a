"""``python -m bot serve --workers N``: N bot processes on one port.

The supervisor binds one listening socket per worker with ``SO_REUSEPORT`` (so a port
already taken is one clear error before anything starts, and the kernel spreads new
connections across the workers) and starts each worker as ``python -m bot serve`` on its
socket.  Everything the workers share lives in Redis; their metrics live in files in a
folder of the supervisor's (``PROMETHEUS_MULTIPROC_DIR``), so whichever worker a scrape
reaches answers for all of them.  SIGTERM/SIGINT are passed on (each worker finishes its
answers within SHUTDOWN_GRACE_SECONDS); a worker that dies is started again, unless workers
keep dying right after starting."""

from __future__ import annotations

import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Sequence

from prometheus_client.multiprocess import mark_process_dead

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2
PR_SET_PDEATHSIG = 1  # prctl option (linux/prctl.h)
EARLY_EXIT_SECONDS = 10.0  # a worker that dies sooner than this after starting counts as failing to start
EARLY_EXITS_ALLOWED = 3
RESTART_PAUSE_SECONDS = 1.0
STOP_WAIT_SECONDS = 40.0  # the grace period plus the listener's own shutdown; then workers are killed


class PortTaken(Exception):
    pass


def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise PortTaken(f"cannot listen on {host}:{port} ({exc.strerror})") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


@dataclass
class Worker:
    number: int
    sock: socket.socket
    process: subprocess.Popen[bytes]
    started: float = field(default_factory=time.monotonic)


class Supervisor:
    def __init__(self, host: str, port: int, workers: int, *, python: str = sys.executable,
                 extra_args: Sequence[str] = ()) -> None:
        self.host, self.port, self.count = host, port, workers
        self.python = python
        self.extra_args = list(extra_args)
        self.workers: list[Worker] = []
        self.stopping = False
        self.early_exits = 0
        self.metrics_dir = ""  # the workers' metrics files (made when they start, removed when they stop)

    def start_worker(self, number: int) -> Worker:
        sock = listening_socket(self.host, self.port)
        process = subprocess.Popen(
            [self.python, "-m", "bot", "serve", "--fd", str(sock.fileno()), "--worker", str(number), *self.extra_args],
            pass_fds=[sock.fileno()], preexec_fn=_stop_with_parent,
            env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": self.metrics_dir} if self.metrics_dir else None,
        )
        log.info("worker %d started (pid %d)", number, process.pid)
        return Worker(number, sock, process)

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        self.metrics_dir = tempfile.mkdtemp(prefix="bot-metrics-")
        try:
            self.workers = [self.start_worker(n) for n in range(self.count)]
            log.info("serving Slack events on http://%s:%d/slack/events with %d workers", self.host, self.port, self.count)
            while not self.stopping:
                time.sleep(POLL_SECONDS)
                for worker in list(self.workers):
                    if worker.process.poll() is None or self.stopping:
                        continue
                    if self._replace(worker) is False:
                        self._stop_all()
                        return 1
            return self._stop_all()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            shutil.rmtree(self.metrics_dir, ignore_errors=True)

    def _replace(self, worker: Worker) -> bool:
        lived = time.monotonic() - worker.started
        log.warning("worker %d (pid %d) exited with %s after %.0fs", worker.number, worker.process.pid,
                    worker.process.returncode, lived)
        worker.sock.close()
        if self.metrics_dir:  # its counters stay in the sums; its live gauges (answers in flight) go
            mark_process_dead(worker.process.pid, self.metrics_dir)
        self.early_exits = self.early_exits + 1 if lived < EARLY_EXIT_SECONDS else 0
        if self.early_exits >= EARLY_EXITS_ALLOWED:
            log.error("workers keep exiting right after they start: stopping (see the lines above)")
            return False
        time.sleep(RESTART_PAUSE_SECONDS)
        self.workers[self.workers.index(worker)] = self.start_worker(worker.number)
        return True

    def _on_signal(self, signum: int, _frame: object) -> None:
        if self.stopping:  # a second signal: the workers are told again, which forces their exit
            for worker in self.workers:
                _signal(worker.process, signum)
            return
        self.stopping = True
        log.info("stopping %d workers", len(self.workers))
        for worker in self.workers:
            _signal(worker.process, signum)

    def _stop_all(self) -> int:
        for worker in self.workers:
            _signal(worker.process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_WAIT_SECONDS
        for worker in self.workers:
            try:
                worker.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker %d did not stop in time: killed", worker.number)
                worker.process.kill()
                worker.process.wait()
            worker.sock.close()
        return 0


def _stop_with_parent() -> None:
    """In a new worker, before it runs: when the supervisor dies (even by kill -9), the kernel
    sends the worker SIGTERM, so it stops as on any SIGTERM (hands its work back) instead of
    running on unsupervised.  Linux's PR_SET_PDEATHSIG; elsewhere nothing."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _signal(process: subprocess.Popen[bytes], signum: int) -> None:
    if process.poll() is None:
        try:
            process.send_signal(signum)
        except ProcessLookupError:
            pass
