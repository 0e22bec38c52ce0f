"""One task of the DAGs in a process of its own, as an Airflow worker runs it: the fault suite kills this process,
stops its database under it or fills its disk, then runs it again.

    python tests/faults/task_driver.py STEP 'JSON'

* ``download {"window": W}`` and ``import {"window": W, "run_id": R}``: ``sms_response_tracking``'s task bodies
  (``tracking_tasks.download`` / ``import_``), ``W`` being ``Window.to_dict()``;
* ``backfill {"windows": [W, ...]}``: download then import of each window in turn (one worker slot of a backfill);
* ``refresh {"mailings": [...]}``: ``sms_segments_refresh``'s task body (``segment_tasks.refresh``);
* ``send {"logical_date": ISO, "phase": "full"}``: ``sms_campaign_wave``'s ``WaveSendOperator.execute``.

Configuration comes from the environment, as in a worker (``SMS_RT_DATABASE_URL``, ``SMS_RT_SCHEMA``,
``SMS_RT_LANDING_DIR``, ``AIRFLOW_CONN_SMS_PLATFORM``). Each result is one JSON line on stdout; a failure prints
``FAILED <type>: <message>`` (what the task log would end with) on stderr and exits 1.
"""

from __future__ import annotations

import json
import sys
import traceback
from datetime import datetime
from types import SimpleNamespace
from typing import Any


def _download(args: dict[str, Any]) -> dict[str, Any]:
    from sms_rt_airflow.tracking_tasks import download

    return download(args["window"])


def _import(args: dict[str, Any]) -> dict[str, Any]:
    from sms_rt_airflow.tracking_tasks import import_

    return import_(args["window"], {"dag_run": SimpleNamespace(run_id=args.get("run_id", "faults"))})


def _backfill(args: dict[str, Any]) -> dict[str, Any]:
    from sms_rt_airflow.tracking_tasks import download, import_

    done = []
    for window in args["windows"]:
        download(window)
        result = import_(window, {"dag_run": SimpleNamespace(run_id=f"backfill__{window['window_start']}")})
        done.append(result["load_id"])
        print(json.dumps({"imported": result["load_id"]}), flush=True)
    return {"imported": done}


def _refresh(args: dict[str, Any]) -> dict[str, Any]:
    from sms_rt_airflow.segment_tasks import refresh

    context = {"params": {"mailing_names": args["mailings"], "response_window_hours": 72, "keep_segment_runs": 10},
               "dag_run": SimpleNamespace(dag_id="sms_segments_refresh", run_id="faults"),
               "triggering_asset_events": {}, "outlet_events": None}
    return refresh(context)


def _send(args: dict[str, Any]) -> dict[str, Any]:
    from sms_rt_airflow.operators import WaveSendOperator

    logical_date = datetime.fromisoformat(args["logical_date"])
    context = {"dag_run": SimpleNamespace(dag_id="sms_campaign_wave", logical_date=logical_date,
                                          run_id=f"manual__{logical_date.isoformat()}")}
    operator = WaveSendOperator(task_id=f"send_{args['phase']}", phase=args["phase"])
    result: dict[str, Any] = operator.execute(context)
    return result


STEPS = {"download": _download, "import": _import, "backfill": _backfill, "refresh": _refresh, "send": _send}


def main(argv: list[str]) -> int:
    step, args = argv[0], json.loads(argv[1])
    try:
        result = STEPS[step](args)
    except Exception as exc:
        traceback.print_exc()
        print(f"FAILED {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    print(json.dumps(result, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
