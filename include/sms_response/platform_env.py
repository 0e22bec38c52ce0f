"""The platform client on the command line: base URL and token from ``SMS_RT_PLATFORM_URL`` / ``_TOKEN``.

DAG tasks use the ``sms_platform`` connection instead; the token is never printed or logged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from sms_response.errors import ConfigError
from sms_response.platform import SmsPlatformClient

URL_VAR = "SMS_RT_PLATFORM_URL"
TOKEN_VAR = "SMS_RT_PLATFORM_TOKEN"


def platform_client_from_env(environ: Mapping[str, str] | None = None) -> SmsPlatformClient:
    env = os.environ if environ is None else environ
    missing = [name for name in (URL_VAR, TOKEN_VAR) if not env.get(name, "").strip()]
    if missing:
        raise ConfigError(f"set {' and '.join(missing)} to reach the SMS platform from the command line")
    return SmsPlatformClient(env[URL_VAR].strip(), env[TOKEN_VAR].strip())
