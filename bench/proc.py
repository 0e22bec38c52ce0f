"""What every benchmark step shares: its peak memory, its one line of JSON, and how the driver runs it.

A step is a small script run in a process of its own (``bench/steps.py``, ``bench/anchors.py``), so its peak RSS
is its own work's, not the driver's, the simulator's or another step's. It prints exactly one JSON object as its
last line of stdout; logs go to stderr.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# Steps read the database URL from here, never from argv (a URL may hold a password; argv is public).
URL_ENV = "BENCH_DATABASE_URL"


class StepFailed(RuntimeError):
    """A step process exited with an error; the message holds its command and the tail of its stderr."""


def peak_rss_mb(pid: int | str = "self") -> float | None:
    """Peak resident set (``VmHWM``) of a live process. Not ``ru_maxrss``: that survives exec (and vfork), so a
    child of a big parent would report the parent's size."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    if pid == "self":
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return None


def emit(figures: Mapping[str, Any]) -> None:
    """The step's result: one JSON line with its peak RSS added."""
    out = dict(figures)
    rss = peak_rss_mb()
    out.setdefault("peak_rss_mb", round(rss, 1) if rss is not None else None)
    sys.stdout.write(json.dumps(out, default=str) + "\n")
    sys.stdout.flush()


def database_url() -> str:
    url = os.environ.get(URL_ENV)
    if not url:
        raise SystemExit(f"set {URL_ENV} to the database URL")
    return url


def run_step(script: str, args: Sequence[str], env: Mapping[str, str], timeout: float | None = None) -> dict[str, Any]:
    """Run ``bench/<script> <args>`` in a fresh interpreter; return its JSON (``wall_s`` added: the process's
    whole life, interpreter start included)."""
    cmd = [sys.executable, str(HERE / script), *args]
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=dict(env), capture_output=True, text=True, timeout=timeout, check=False)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        tail = "\n".join(line[:400] for line in proc.stderr.strip().splitlines()[-25:])
        raise StepFailed(f"step {script} {' '.join(args)} exited with {proc.returncode}:\n{tail}")
    lines = [ln for ln in proc.stdout.strip().splitlines() if ln.startswith("{")]
    if not lines:
        raise StepFailed(f"step {script} {' '.join(args)} printed no JSON; stderr:\n{proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    result["wall_s"] = round(wall, 3)
    return result
