"""Specific exceptions with messages a user can act on."""

from __future__ import annotations


class SmsResponseError(Exception):
    """Base class of every error this library raises on purpose."""


class ConfigError(SmsResponseError):
    """A setting is missing or invalid."""


class WindowError(SmsResponseError):
    """A data window is malformed (naive timestamps, end not after start, …)."""


class PlatformError(SmsResponseError):
    """The SMS platform's event API answered in a way retries cannot fix."""


class PlatformAuthError(PlatformError):
    """The platform refused the credentials (HTTP 401/403)."""


class PlatformUnavailable(PlatformError):
    """A request kept failing (429, 5xx, timeouts, resets, cut answers) until the retries ran out."""


class DatabaseConnectionLost(SmsResponseError):
    """The connection to the response database broke in the middle of a step (server restarted or stopped,
    network cut); what the step had not committed was rolled back, so retrying it is safe."""


class LandingError(SmsResponseError):
    """Landing files are missing, incomplete or do not match their manifest."""


class LandingDiskFull(LandingError):
    """The landing folder ran out of space (or hit a file size limit) while a window was being written."""


class MappingError(SmsResponseError):
    """The attribute → column mapping file is invalid or does not match the tables."""


class ReconciliationError(SmsResponseError):
    """downloaded != imported + duplicates + rejected for a window."""
