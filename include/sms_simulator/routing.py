"""What every route module shares: JSON error answers, the bearer-token check and the request's public base."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from fastapi import Request
from fastapi.responses import JSONResponse


def error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=dict(headers or {}))


def base_url(request: Request) -> str:
    """The platform's public base as the client reached it (short links are served under it)."""
    return str(request.base_url).rstrip("/")


class BearerAuth:
    """Checks a request's ``Authorization: Bearer <token>`` header in constant time."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

    def __call__(self, request: Request) -> bool:
        given = request.headers.get("authorization", "").encode()
        return hmac.compare_digest(given, self._expected)
