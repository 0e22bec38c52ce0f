"""CeleryExecutor for a local stack: docker-compose.yaml's topology as processes on loopback.

With ``StackConfig(celery=CeleryConfig(...))`` the stack runs ``CeleryExecutor`` (provider
``apache-airflow-providers-celery``): Redis as the broker, the stack's metadata database as the result
backend (the provider's default), and one ``airflow celery worker --celery-hostname <name>@%h`` per name in
``workers``, each a component of its own with its log in ``<home>/logs/celery-<name>.log``. A stack has its
own queue and key prefix on the broker (its metadata database's name), so two stacks, or other users of the
same Redis, never take each other's tasks; stopping the stack deletes its keys (``clear_broker``).

Which worker ran what: each worker logs ``[<celery task id>] Executing workload in Celery: ExecuteTask(…)``
for every task instance it runs; ``executed_workloads`` reads those lines back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

WORKLOAD_LINE = "Executing workload in Celery:"
_TI_FIELD = re.compile(r"\b(dag_id|task_id|run_id|try_number|map_index)=('[^']*'|-?\d+)")


@dataclass(frozen=True)
class CeleryConfig:
    """The broker and the workers of a Celery stack."""

    broker_url: str = "redis://127.0.0.1:6379/0"
    workers: tuple[str, ...] = ("w1", "w2")
    concurrency: int = 2  # task slots per worker
    ready_timeout: float = 120.0


@dataclass(frozen=True)
class Workload:
    """A task instance attempt one worker executed, as its log line says."""

    worker: str
    dag_id: str
    task_id: str
    run_id: str
    try_number: int
    map_index: int = -1


def component_name(worker: str) -> str:
    """The stack's name for a worker's process (and its log file's stem)."""
    return f"celery-{worker}"


def celery_options(celery: CeleryConfig, namespace: str) -> dict[tuple[str, str], str]:
    """``airflow.cfg`` options of a Celery stack whose queue and broker key prefix is ``namespace``."""
    return {
        ("core", "executor"): "CeleryExecutor",
        ("celery", "broker_url"): celery.broker_url,
        ("celery", "worker_concurrency"): str(celery.concurrency),
        ("operators", "default_queue"): namespace,
        ("celery_broker_transport_options", "global_keyprefix"): f"{namespace}:",
        # A task running longer than this is handed to another worker: longer than any task here.
        ("celery_broker_transport_options", "visibility_timeout"): "21600",
    }


def worker_command(worker: str, celery: CeleryConfig, namespace: str) -> list[str]:
    """``airflow celery worker …`` arguments of one worker. Logs are read from the shared log folder, so the
    workers serve none (two log servers on one machine would want the same port)."""
    return ["celery", "worker", "--celery-hostname", f"{worker}@%h", "--queues", namespace,
            "--concurrency", str(celery.concurrency), "--skip-serve-logs", "--without-mingle", "--without-gossip"]


def clear_broker(celery: CeleryConfig, namespace: str) -> int:
    """Delete what the stack left on the broker (its queue's bindings, all under its key prefix); how many keys."""
    import redis

    client = redis.Redis.from_url(celery.broker_url)
    try:
        keys = list(client.scan_iter(match=f"{namespace}:*", count=500))
        return int(client.delete(*keys)) if keys else 0
    finally:
        client.close()


def worker_ready(log_text: str, worker: str) -> bool:
    """Celery's ``<name>@<host> ready.`` line is in the worker's log."""
    return re.search(rf"\b{re.escape(worker)}@\S+ ready\.", log_text) is not None


def executed_workloads(logs: Mapping[str, Path]) -> list[Workload]:
    """Every task instance attempt the workers' logs ({worker: log file}) say they executed."""
    found: list[Workload] = []
    for worker, path in logs.items():
        text = path.read_text(errors="replace") if path.exists() else ""
        for line in text.splitlines():
            if WORKLOAD_LINE not in line:
                continue
            fields: dict[str, str] = {}
            for key, value in _TI_FIELD.findall(line.split(WORKLOAD_LINE, 1)[1]):
                fields.setdefault(key, value.strip("'"))  # the task instance's own fields come first
            if {"dag_id", "task_id", "run_id"} <= fields.keys():
                found.append(Workload(worker, fields["dag_id"], fields["task_id"], fields["run_id"],
                                      int(fields.get("try_number", 0)), int(fields.get("map_index", -1))))
    return found
