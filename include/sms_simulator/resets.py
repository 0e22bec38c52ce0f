"""The ``reset`` fault: a request's TCP connection is reset before any byte of an answer is sent.

A route cannot reach the socket through ASGI, so it only marks its scope (``request_reset``); the
outermost layer (``ConnectionResetMiddleware``, put there by ``ResettableApp``) sees the mark when the
response starts, aborts the connection with ``SO_LINGER`` 0 (an RST, as a load balancer dropping the
connection sends; the client sees ``ECONNRESET``) and swallows the response. It needs uvicorn, whose
``send`` is a method of the request cycle that holds the transport; anything else is refused loudly
rather than faked.
"""

from __future__ import annotations

import asyncio
import socket
import struct

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

RESET_KEY = "sms_simulator.reset_connection"


def request_reset(scope: Scope) -> None:
    """Ask the outer layer to reset this request's connection instead of answering it."""
    scope[RESET_KEY] = True


def _abort(send: Send) -> None:
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        raise RuntimeError("the reset fault needs uvicorn (its send callable holds the connection's transport)")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class ConnectionResetMiddleware:
    """Pure ASGI middleware; it must be the outermost layer (``ResettableApp`` puts it there)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        aborted = False

        async def guarded(message: Message) -> None:
            nonlocal aborted
            if aborted:
                return
            if message["type"] == "http.response.start" and scope.get(RESET_KEY):
                aborted = True
                _abort(send)
                await asyncio.sleep(0)  # let the server notice the lost connection before the app returns
                return
            await send(message)

        await self.app(scope, receive, guarded)


class ResettableApp(FastAPI):
    """FastAPI whose middleware stack is wrapped by ``ConnectionResetMiddleware``, outside Starlette's own error
    middleware (which wraps ``send`` and would hide the server's)."""

    def build_middleware_stack(self) -> ASGIApp:
        return ConnectionResetMiddleware(super().build_middleware_stack())
