import sys

from sms_response.cli import main

sys.exit(main())
