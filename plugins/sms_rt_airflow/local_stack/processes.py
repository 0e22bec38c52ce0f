"""The stack's ``airflow`` processes: started, watched and stopped so that none outlives the stack.

``run_airflow`` runs one ``airflow`` command to completion; ``Components`` starts the long-running
components, each in its own process group with its log in ``<home>/logs/<name>.log``, remembers
every descendant it sees, and on ``terminate`` sends SIGTERM to every group (and to any descendant
that left its group), SIGKILL after a deadline. ``leftover`` finds what is still alive: a known
descendant or any process whose environment carries the stack's ``AIRFLOW_HOME``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import psutil

T = TypeVar("T")


class StackError(RuntimeError):
    """The stack did not come up (or down) as expected; the message names the component and its log."""


def airflow_executable() -> str:
    """The ``airflow`` beside this interpreter (the virtualenv's), else whatever is on PATH."""
    exe = Path(sys.executable).parent / "airflow"
    return str(exe) if exe.exists() else "airflow"


def log_path(home: Path, name: str) -> Path:
    return home / "logs" / f"{name}.log"


def log_tail(home: Path, name: str, lines: int = 40) -> str:
    """The last ``lines`` lines of component (or command) ``name``'s log, empty if it has none."""
    path = log_path(home, name)
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def run_airflow(args: Sequence[str], env: Mapping[str, str], home: Path, timeout: float = 120,
                log_name: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``airflow <args>`` in its own session; its output goes to ``<home>/logs/<log_name>.log`` if named."""
    out = subprocess.run([airflow_executable(), *args], env=dict(env), capture_output=True, text=True,
                         timeout=timeout, start_new_session=True)
    if log_name:
        log_path(home, log_name).write_text(out.stdout + out.stderr)
    if check and out.returncode != 0:
        raise StackError(f"airflow {' '.join(args)} exited {out.returncode}:\n{(out.stdout + out.stderr)[-3000:]}")
    return out


class Components:
    """The long-running ``airflow`` components of one stack (``AIRFLOW_HOME`` = ``home``)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._known: dict[int, psutil.Process] = {}

    def spawn(self, name: str, args: Sequence[str], env: Mapping[str, str], command: Sequence[str] = ()) -> None:
        """Start ``airflow <name> <args>`` (``airflow <command> <args>`` when given) with its output appended to
        its log ``<name>.log``."""
        log = log_path(self.home, name).open("ab")
        try:
            # Own session = own process group: terminate() signals the component and everything it forked.
            proc = subprocess.Popen([airflow_executable(), *(command or [name]), *args], env=dict(env), stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            log.close()
        self.procs[name] = proc
        self._track(proc.pid)

    def track(self) -> None:
        """Remember every current descendant of every component, so that stopping finds it later."""
        for proc in self.procs.values():
            self._track(proc.pid)

    def _track(self, pid: int) -> None:
        with contextlib.suppress(psutil.Error):
            p = psutil.Process(pid)
            self._known[p.pid] = p
            for c in p.children(recursive=True):
                self._known[c.pid] = c

    def check_alive(self) -> None:
        """Raise ``StackError`` with its log tail if a component has exited."""
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                tail = log_tail(self.home, name)
                raise StackError(f"airflow {name} exited with {proc.returncode}; log tail:\n{tail}")

    def _members(self) -> list[psutil.Process]:
        """Every live process of the stack: known descendants plus whatever still carries our AIRFLOW_HOME."""
        self.track()
        found = {p.pid: p for p in self._known.values() if _alive(p)}
        for p in _processes_with_home(self.home):
            found.setdefault(p.pid, p)
        found.pop(os.getpid(), None)
        return list(found.values())

    def terminate(self, timeout: float) -> None:
        """SIGTERM to every process group and member, wait up to ``timeout`` s, then SIGKILL what is left."""
        if not self.procs and not self._known:
            return
        members = self._members()
        self._signal_groups(signal.SIGTERM)
        for p in members:  # descendants that started their own group or session
            with contextlib.suppress(psutil.Error):
                p.terminate()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc in self.procs.values():
                proc.poll()
            if not [p for p in members if _alive(p)] and all(proc.poll() is not None for proc in self.procs.values()):
                break
            time.sleep(0.3)
        self._signal_groups(signal.SIGKILL)
        for p in self._members():
            with contextlib.suppress(psutil.Error):
                p.kill()
        psutil.wait_procs([p for p in members if _alive(p)], timeout=5)
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)

    def _signal_groups(self, sig: signal.Signals) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)

    def leftover(self) -> list[psutil.Process]:
        """Processes of this stack still alive (should be empty after ``terminate()``)."""
        left = [p for p in self._known.values() if _alive(p)]
        left += [p for p in _processes_with_home(self.home) if p.pid not in {q.pid for q in left}]
        return [p for p in left if p.pid != os.getpid()]


def describe(p: psutil.Process) -> str:
    """``pid command-line`` (shortened) of a process, for error messages."""
    try:
        return f"{p.pid} {' '.join(p.cmdline())[:120]}"
    except psutil.Error:
        return f"{p.pid} ?"


def _alive(p: psutil.Process) -> bool:
    try:
        return bool(p.is_running() and p.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _processes_with_home(home: Path) -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter():
        try:
            if p.environ().get("AIRFLOW_HOME") == str(home) and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.Error:
            continue
    return out


def wait_until(predicate: Callable[[], T], timeout: float, interval: float = 1.0, what: str = "condition") -> T:
    """Poll ``predicate`` until it returns something truthy; raise ``TimeoutError`` naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not reached within {timeout:.0f} s")
        time.sleep(interval)
