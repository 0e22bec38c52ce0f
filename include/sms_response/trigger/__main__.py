"""``python -m sms_response.trigger …``: the flowchart's trigger script (see ``sms_response.trigger.cli``)."""

import sys

from sms_response.trigger.cli import main

sys.exit(main())
