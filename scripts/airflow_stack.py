"""``python scripts/airflow_stack.py up [--server-url URL]``: a local Airflow 3 stack until Ctrl-C.

The stack lives in ``sms_rt_airflow.local_stack`` (also ``python -m sms_rt_airflow.local_stack.cli``).
"""

import sys

from sms_rt_airflow.local_stack.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python scripts/airflow_stack.py"))
