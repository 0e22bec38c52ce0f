"""Flowchart triggers: a campaign flowchart asks for response tracking (and the next wave) to run.

The classic set-up has a flowchart "call a trigger", a script on the campaign server. Here the
script (``python -m sms_response.trigger``, module ``cli``) writes a request either as a row of
``flowchart_triggers`` (module ``store``) or as a JSON file in a drop folder (module
``drop_folder``); the ``unica_flowchart_trigger`` DAG ingests the files, claims each request
exactly once and starts the runs with a deterministic run id, ``flowchart__<trigger_id>``
(module ``request``), so a retried or repeated start can never create a second run.

The names below are re-exported (``name as name``) for convenience; code in this project imports
from the module that defines them.
"""

from sms_response.trigger.drop_folder import IngestResult as IngestResult
from sms_response.trigger.drop_folder import has_drop_files as has_drop_files
from sms_response.trigger.drop_folder import ingest_drop_folder as ingest_drop_folder
from sms_response.trigger.drop_folder import write_trigger_file as write_trigger_file
from sms_response.trigger.request import RUN_ID_PREFIX as RUN_ID_PREFIX
from sms_response.trigger.request import TRACKING_DAG_ID as TRACKING_DAG_ID
from sms_response.trigger.request import WAVE_DAG_ID as WAVE_DAG_ID
from sms_response.trigger.request import ClaimedTrigger as ClaimedTrigger
from sms_response.trigger.request import InvalidTrigger as InvalidTrigger
from sms_response.trigger.request import RunConf as RunConf
from sms_response.trigger.request import TriggerRequest as TriggerRequest
from sms_response.trigger.request import confs_for as confs_for
from sms_response.trigger.request import run_id_for as run_id_for
from sms_response.trigger.store import FINISHED_RUN_STATES as FINISHED_RUN_STATES
from sms_response.trigger.store import PENDING_COUNT_SQL as PENDING_COUNT_SQL
from sms_response.trigger.store import claim_pending as claim_pending
from sms_response.trigger.store import claimed_by as claimed_by
from sms_response.trigger.store import pending_count as pending_count
from sms_response.trigger.store import record_outcome as record_outcome
from sms_response.trigger.store import record_start_failed as record_start_failed
from sms_response.trigger.store import record_started as record_started
from sms_response.trigger.store import started_triggers as started_triggers
from sms_response.trigger.store import write_trigger_row as write_trigger_row
