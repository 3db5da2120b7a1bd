"""The checks a webhook URL passes at submit, before anything is created.

Static ones here (a 422 through the request model); the destination's address
is judged by ``services.common.webhook_networks`` at submit for a literal IP
(``submission.py``) and again by the worker on every connection.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from services.contract.notify import MAX_URL_LENGTH


def check_notify_url(value: str) -> str:
    if len(value) > MAX_URL_LENGTH:
        raise ValueError(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise ValueError("the URL contains whitespace or control characters")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("the URL's scheme must be http or https")
    if not parts.hostname:
        raise ValueError("the URL has no host")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValueError("the URL must not carry credentials (userinfo)")
    if port == 0:
        raise ValueError("the URL's port must be 1-65535")
    return value


def literal_host(value: str) -> str | None:
    """The URL's host if it is an IP literal (brackets removed), else None."""
    host = urlsplit(value).hostname or ""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    return host
