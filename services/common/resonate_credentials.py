"""The JWT a process sends to the Resonate server, kept valid: nothing expires silently.

Two ways to configure it (``CommonSettings``):

- **minted** (recommended): ``LONGHAUL_RESONATE_AUTH_PRIVATE_KEY`` names a PEM
  private key (mounted from a Secret). The process signs its own tokens of
  ``LONGHAUL_RESONATE_AUTH_TTL_S`` (default 15 min, ``role: admin``, ``aud`` a
  list) and renews them at half-life, re-reading the key file each time (a
  rotated Secret is picked up without a restart). A renewal that fails is
  logged and retried every few seconds; the token in use stays valid until
  its ``exp``.
- **static**: ``RESONATE_TOKEN`` holds a token minted elsewhere. Its ``exp`` is
  read (not verified) at start; from ``LONGHAUL_RESONATE_AUTH_WARN_S`` (24 h)
  before it the process logs an error every hour.

Either way ``expires_at`` feeds a ``..._resonate_token_expiry_timestamp_seconds``
gauge (alert on it), and ``not_ready_reason`` fails readiness once the token
in use has expired. ``on_change`` callbacks put every new token where the SDK
keeps its copies (the gateway's ``sdk_auth``, the worker's ``sdk`` package).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import structlog

from services.common import resonate_token
from services.common.settings import CommonSettings

log = structlog.get_logger("longhaul.resonate_auth")

Mode = Literal["off", "static", "minted"]
#: How long a failed renewal waits before the next try.
RETRY_S = 5.0
#: How often a static token near its expiry is complained about.
WARN_EVERY_S = 3600.0


@dataclass
class ResonateCredentials:
    mode: Mode = "off"
    token: str | None = None
    expires_at: float | None = None
    private_key: Path | None = None
    ttl_s: float = 900.0
    warn_s: float = 86400.0
    issuer: str | None = None
    audience: str | None = None
    subject: str | None = None
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    on_change: list[Callable[[str, float | None], None]] = field(default_factory=list)
    renewals: int = 0
    failures: int = 0
    _renew_at: float | None = field(default=None, init=False)
    _warned_at: float | None = field(default=None, init=False)

    @classmethod
    def from_settings(cls, settings: CommonSettings, subject: str, **kwargs) -> ResonateCredentials:
        """Built once at the entry point; a key that cannot sign fails the boot here."""
        common = {
            "ttl_s": settings.resonate_auth_ttl_s,
            "warn_s": settings.resonate_auth_warn_s,
            "issuer": settings.resonate_auth_iss,
            "audience": settings.resonate_auth_aud,
            "subject": subject,
            **kwargs,
        }
        if settings.resonate_auth_private_key is not None:
            creds = cls(mode="minted", private_key=settings.resonate_auth_private_key, **common)
            creds._mint()
        elif settings.token is not None:
            creds = cls(mode="static", token=settings.token, **common)
            creds.expires_at = resonate_token.inspect(settings.token).expires_at
        else:
            return cls(**common)
        log.info(
            "Resonate token ready",
            mode=creds.mode,
            expires_in_s=creds.expires_in_s(),
            renews_every_s=creds.ttl_s / 2 if creds.mode == "minted" else None,
        )
        return creds

    def expires_in_s(self) -> float | None:
        return None if self.expires_at is None else round(self.expires_at - self.clock(), 1)

    def not_ready_reason(self) -> str | None:
        if self.mode == "off" or self.expires_at is None:
            return None
        if self.clock() >= self.expires_at:
            return f"the Resonate token expired {self.clock() - self.expires_at:.0f}s ago"
        return None

    def _mint(self) -> None:
        assert self.private_key is not None
        key = resonate_token.load_private_key(self.private_key)
        now = self.clock()
        self.token = resonate_token.mint(
            key,
            ttl_s=self.ttl_s,
            admin=True,
            issuer=self.issuer,
            audience=self.audience,
            subject=self.subject,
            now=now,
        )
        self.expires_at = int(now) + int(self.ttl_s)
        self._renew_at = now + self.ttl_s / 2
        for callback in self.on_change:
            callback(self.token, self.expires_at)

    def notify(self) -> None:
        """Tell every ``on_change`` about the token in use (after subscribing)."""
        if self.token is not None:
            for callback in self.on_change:
                callback(self.token, self.expires_at)

    async def run(self) -> None:
        """Renew (minted) or watch (static) until cancelled."""
        if self.mode == "off":
            return
        while True:
            await self.sleep(self.step())

    def step(self) -> float:
        """One pass: renew or warn as due; returns the seconds until the next pass."""
        now = self.clock()
        if self.mode == "minted":
            assert self._renew_at is not None
            if now >= self._renew_at:
                try:
                    self._mint()
                    self.renewals += 1
                except Exception as exc:  # the token in use is still valid until exp
                    self.failures += 1
                    self._renew_at = now + RETRY_S
                    log.error(
                        "Resonate token renewal failed; retrying",
                        error=f"{type(exc).__name__}: {exc}",
                        expires_in_s=self.expires_in_s(),
                        retry_in_s=RETRY_S,
                    )
            return max(0.05, self._renew_at - self.clock())
        # static: complain loudly and early, never silently run out
        left = None if self.expires_at is None else self.expires_at - now
        if left is not None and left < self.warn_s:
            if self._warned_at is None or now - self._warned_at >= WARN_EVERY_S:
                self._warned_at = now
                log.error(
                    "RESONATE_TOKEN expires soon: replace it (or mint tokens from a private "
                    "key, LONGHAUL_RESONATE_AUTH_PRIVATE_KEY)"
                    if left > 0
                    else "RESONATE_TOKEN has expired: every Resonate call is refused",
                    expires_in_s=round(left),
                )
            return min(WARN_EVERY_S, max(1.0, left)) if left > 0 else WARN_EVERY_S
        return min(WARN_EVERY_S, max(1.0, (left or WARN_EVERY_S) - self.warn_s))
