"""``up``: start a local Airflow stack and keep it up until Ctrl-C (or SIGTERM).

    python -m sms_rt_airflow.local_stack.cli up [--server-url URL] [--parallelism N]
    python scripts/airflow_stack.py up [--server-url URL] [--celery-workers N [--broker-url URL]]

The metadata database goes on ``--server-url`` (default ``SMS_RT_TEST_DATABASE_URL``, else the
embedded PostgreSQL server under ``.local/``); connections (``AIRFLOW_CONN_*``) and ``SMS_RT_*``
settings of the caller's environment reach the tasks. ``--celery-workers N`` runs CeleryExecutor with N
workers and Redis as the broker (default ``redis://127.0.0.1:6379/0``) instead of LocalExecutor.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Sequence
from types import FrameType

from sms_rt_airflow import local_stack
from sms_rt_airflow.local_stack import AirflowStack, CeleryConfig, StackConfig, embedded_server_url

DEFAULT_PROG = "python -m sms_rt_airflow.local_stack.cli"


def parser(prog: str = DEFAULT_PROG) -> argparse.ArgumentParser:
    """The command line; its help is the package docstring."""
    p = argparse.ArgumentParser(prog=prog, description=local_stack.__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start a stack and keep it up until Ctrl-C")
    up.add_argument("--server-url", default=os.environ.get("SMS_RT_TEST_DATABASE_URL"),
                    help="PostgreSQL server for the metadata DB (default: $SMS_RT_TEST_DATABASE_URL, else embedded)")
    up.add_argument("--parallelism", type=int, default=4)
    up.add_argument("--celery-workers", type=int, default=0, help="CeleryExecutor with this many workers (0: Local)")
    up.add_argument("--broker-url", default=CeleryConfig.broker_url, help="the Celery broker (Redis)")
    return p


def main(argv: Sequence[str] | None = None, prog: str = DEFAULT_PROG) -> int:
    """Run the command in ``argv`` (default: ``sys.argv[1:]``); ``prog`` is how usage names the program."""
    args = parser(prog).parse_args(argv)
    server = args.server_url or embedded_server_url()
    passthrough = {k: v for k, v in os.environ.items() if k.startswith(("AIRFLOW_CONN_", "SMS_RT_"))}
    celery = (CeleryConfig(broker_url=args.broker_url, workers=tuple(f"w{i + 1}" for i in range(args.celery_workers)))
              if args.celery_workers > 0 else None)
    stack = AirflowStack(StackConfig(server_url=server, env=passthrough, parallelism=args.parallelism, celery=celery,
                                     db_prefix="airflow_celery" if celery else "airflow_live"))
    stop = False

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _on_signal)
    with stack:
        workers = f", Celery workers {', '.join(celery.workers)} on queue {stack.db_name}" if celery else ""
        print(f"Airflow is up in {stack.timings['start_s']:.1f} s: {stack.base_url} (every user is admin); "
              f"AIRFLOW_HOME={stack.home}; metadata DB {stack.db_name}{workers}. Ctrl-C stops it.", flush=True)
        try:
            while not stop:
                time.sleep(1)
                stack.check_alive()
        except KeyboardInterrupt:
            pass
    print(f"stopped in {stack.timings['stop_s']:.1f} s; no process left", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
