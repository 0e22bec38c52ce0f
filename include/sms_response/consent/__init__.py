"""Consent records and policies: who may be texted, on which record.

``policy`` (pure: the deciding record and the two policies), ``records`` (a consent list, the platform's
opt-status export), ``store`` (load all or nothing, deciding records from SQL), ``cli`` (``sms-rt consent
load``). See docs/audiences.md.
"""

from sms_response.consent.policy import (
    DEFAULT_POLICY,
    POLICIES,
    ConsentRecord,
    Decision,
    Policy,
    allows,
    decide,
    deciding_record,
)

__all__ = ["DEFAULT_POLICY", "POLICIES", "ConsentRecord", "Decision", "Policy", "allows", "decide",
           "deciding_record"]
