"""Binance's SIGNED-endpoint checks: API key header, HMAC-SHA256 signature, recvWindow.

The signed payload is the query string followed by the request body, exactly as sent
(still percent-encoded), with the ``signature`` parameter taken out.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qsl

from fundarb.venues.simex.wire import ApiError, mandatory

__all__ = ["Credentials", "check_signed"]

_MAX_RECV_WINDOW_MS = 60_000
_DEFAULT_RECV_WINDOW_MS = 5_000
_FUTURE_TOLERANCE_MS = 1_000  # Binance refuses a timestamp more than 1 s ahead of it


class Credentials:
    """The one API key and secret the server accepts."""

    def __init__(self, api_key: str, api_secret: str) -> None:
        if not api_key or not api_secret:
            raise ValueError("api_key and api_secret must be non-empty")
        self.api_key = api_key
        self._secret = api_secret.encode()

    def signature(self, payload: str) -> str:
        return hmac.new(self._secret, payload.encode(), hashlib.sha256).hexdigest()


def _split_signature(raw: str) -> tuple[str, str | None]:
    """``raw`` without its ``signature=...`` part, and that signature."""
    kept: list[str] = []
    signature: str | None = None
    for part in raw.split("&") if raw else []:
        if part.startswith("signature="):
            signature = part[len("signature=") :]
        else:
            kept.append(part)
    return "&".join(kept), signature


def check_signed(
    credentials: Credentials,
    *,
    api_key: str | None,
    raw_query: str,
    raw_body: str,
    now_ms: int,
) -> dict[str, str]:
    """Check a SIGNED request; return its parameters (query and body together).

    Raises :class:`ApiError` with Binance's code: -2014/-2015 (401) for a missing or wrong
    key, -1022 for a bad signature, -1102 for a missing timestamp, -1021 outside recvWindow.
    """
    if not api_key:
        raise ApiError(401, -2014, "API-key format invalid.")
    if not hmac.compare_digest(api_key, credentials.api_key):
        raise ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
    query, query_signature = _split_signature(raw_query)
    body, body_signature = _split_signature(raw_body)
    signature = query_signature or body_signature
    if not signature:
        raise mandatory("signature")
    if not hmac.compare_digest(signature.lower(), credentials.signature(query + body)):
        raise ApiError(400, -1022, "Signature for this request is not valid.")
    params = dict(parse_qsl(query, keep_blank_values=True))
    params.update(parse_qsl(body, keep_blank_values=True))
    try:
        timestamp = int(params["timestamp"])
    except (KeyError, ValueError):
        raise mandatory("timestamp") from None
    try:
        recv_window = int(params.get("recvWindow", _DEFAULT_RECV_WINDOW_MS))
    except ValueError:
        raise mandatory("recvWindow") from None
    if not 0 < recv_window <= _MAX_RECV_WINDOW_MS:
        raise ApiError(400, -1131, "recvWindow must be less than 60000")
    if timestamp >= now_ms + _FUTURE_TOLERANCE_MS or now_ms - timestamp > recv_window:
        raise ApiError(400, -1021, "Timestamp for this request is outside of the recvWindow.")
    return params
