"""Short links: the tracked links a sent message carries, and the redirect that records their clicks.

A batch-send message may register links as ``{token, url}``; the platform serves each at
``{base}/r/{token}`` (``GET /r/{token}`` answers 302 to the url and records a click).  A message
without registered links can still be clicked through the first URL in its body.  The tokens of
all messages live in one ``ShortLinks`` registry: a token belongs to one message for good.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from .errors import PushError

# Short-link tokens end up in a URL path: keep them to unreserved characters.
_TOKEN_RE = re.compile(r"[A-Za-z0-9._~-]{1,128}")
_BODY_URL_RE = re.compile(r"https?://[^\s<>\"']+")

Link = tuple[str, str]  # (token, url)


def parse_links(raw: Any) -> tuple[Link, ...]:
    """The ``links`` of a batch-send message, validated; PushError names the offending entry."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise PushError("links must be a list of {token, url}")
    links: list[Link] = []
    for link in raw:
        token = link.get("token") if isinstance(link, dict) else None
        url = link.get("url") if isinstance(link, dict) else None
        if not isinstance(token, str) or not _TOKEN_RE.fullmatch(token):
            raise PushError(f"link token must be 1-128 characters of [A-Za-z0-9._~-], got {token!r}")
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise PushError(f"link url must be an absolute http(s) URL, got {url!r}")
        if any(t == token for t, _ in links):
            raise PushError(f"link token {token!r} appears twice in one message")
        links.append((token, url))
    return tuple(links)


def body_link(body: str) -> Link | None:
    """(linkToken, url) of the first http(s) URL in a message body; the token is its last path segment."""
    match = _BODY_URL_RE.search(body)
    if match is None:
        return None
    url = match.group(0).rstrip(".,;:!?)]}")
    parts = urlsplit(url)
    segment = parts.path.rstrip("/").rsplit("/", 1)[-1]
    return (segment or parts.netloc), url


def short_url(base: str, token: str) -> str:
    return f"{base}/r/{token}"


def clicked_link(links: tuple[Link, ...], body: str, base: str, choice: int = 0) -> Link | None:
    """What a recipient's clicks go through: the message's short link number ``choice`` (modulo their number),
    else the body's URL (None: unclickable)."""
    if links:
        token = links[choice % len(links)][0]
        return token, short_url(base, token)
    return body_link(body)


class ShortLinks:
    """token -> (message id, target url) of every registered link; the caller serialises access."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, str]] = {}

    def taken(self, message_id: str, links: tuple[Link, ...]) -> str | None:
        """The first of ``links`` whose token already belongs to another message."""
        return next((t for t, _ in links if t in self._tokens and self._tokens[t][0] != message_id), None)

    def register(self, message_id: str, links: tuple[Link, ...]) -> None:
        for token, target in links:
            self._tokens[token] = (message_id, target)

    def owner(self, token: str) -> tuple[str, str] | None:
        """(message id, target url) of a token, None when no message carries it."""
        return self._tokens.get(token)
