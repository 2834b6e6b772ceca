"""URLs that may carry a password: recognised, checked and shown without the secret.

Kept on the lowest floor so that settings (`ragdrop.pipeline.config`, read by every
``--help``) can check a cache URL without importing the caches themselves.

Example:
    >>> redact_url("redis://:pw@cache:6379/0")
    'redis://:***@cache:6379/0'
"""

from __future__ import annotations

import re

from pydantic import SecretStr

REDIS_SCHEMES = ("redis", "rediss")
_USERINFO_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)([^@/?#]*)@")
SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def redact_url(url: str) -> str:
    """``url`` with its password (or a user-info without ':') replaced by ``***``.

    >>> redact_url("redis://user:pw@host:6379/0")
    'redis://user:***@host:6379/0'
    >>> redact_url("rediss://pw@host")
    'rediss://***@host'
    """
    match = _USERINFO_RE.match(url)
    if match is None:
        return url
    user, colon, _ = match.group(2).partition(":")
    masked = f"{user}:***" if colon else "***"
    return f"{match.group(1)}{masked}@{url[match.end() :]}"


def url_secret(url: str) -> str | None:
    """The password of ``url`` (the whole user-info when it has no ':'), or None."""
    match = _USERINFO_RE.match(url)
    if match is None:
        return None
    user, colon, password = match.group(2).partition(":")
    return (password if colon else user) or None


def check_cache_url(url: str, argument: str = "cache_url") -> str:
    """``url`` if it is a Redis URL (``redis://`` or ``rediss://``); else a ValueError that
    names ``argument`` and never shows the password."""
    scheme = SCHEME_RE.match(url) if isinstance(url, str) else None
    if scheme is None or scheme.group(1).lower() not in REDIS_SCHEMES:
        shown = redact_url(url) if isinstance(url, str) else type(url).__name__
        raise ValueError(
            f"{argument}={shown!r} is not a Redis URL; use redis://[:password@]host[:port][/db] "
            "or rediss://... (TLS), or a cache folder instead"
        )
    return url


def redacted_secret_url(value: SecretStr | None) -> str | None:
    """A `SecretStr` URL as it may be shown or serialized: its password replaced."""
    return None if value is None else redact_url(value.get_secret_value())


__all__ = [
    "REDIS_SCHEMES",
    "SCHEME_RE",
    "check_cache_url",
    "redact_url",
    "redacted_secret_url",
    "url_secret",
]
