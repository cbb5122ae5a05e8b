"""Error text that is safe to keep, show and log: no credentials, bounded length."""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["describe_error", "redact"]

MAX_ERROR_CHARS = 300
_HIDDEN = "***"
# ``apiKey=...``, ``"X-MBX-APIKEY": "..."``, ``signature=...`` in URLs, headers and bodies
_SECRET_PAIR = re.compile(
    r"(?i)(\b(?:api[-_]?key|x-mbx-apikey|access[-_]?key|secret(?:[-_]?key)?|passphrase|password"
    r"|private[-_]?key|token|signature|sign)[\"']?\s*[:=]\s*[\"']?)([^\s&,;\"'}\]]+)"
)
_MIN_SECRET_CHARS = 4  # shorter values would redact ordinary words


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every known secret value and every ``key=value`` credential hidden."""
    for secret in secrets:
        if secret and len(secret) >= _MIN_SECRET_CHARS:
            text = text.replace(secret, _HIDDEN)
    return _SECRET_PAIR.sub(lambda match: match.group(1) + _HIDDEN, text)


def describe_error(exc: BaseException, secrets: Iterable[str | None] = ()) -> str:
    """One line naming ``exc``'s class and message, redacted, at most 300 characters."""
    message = " ".join(str(exc).split())
    text = redact(f"{type(exc).__name__}: {message}" if message else type(exc).__name__, secrets)
    if len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS - 1] + "…"
    return text
