"""One webhook attempt: POST, and what its answer means.

- 2xx: delivered;
- 410 Gone: the receiver wants no more (stop, state ``gone``);
- 3xx: a failed attempt (redirects are never followed: a redirect could point
  anywhere, the policy included);
- 429, 5xx, any other status, a timeout, a connection error: retry;
- a refused destination (see ``guard``): stop, state ``failed``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import aiohttp

from services.common.webhook_networks import NetworkPolicy
from services.worker.notify.guard import DestinationRefused, peer_refusal

Outcome = Literal["delivered", "gone", "retry", "refused"]
USER_AGENT = "Longhaul-Webhooks/1"


@dataclass(frozen=True)
class AttemptResult:
    outcome: Outcome
    status: int | None
    #: A short cause for anything but delivered.
    error: str | None
    retry_after: str | None
    duration_s: float

    @property
    def label(self) -> str:
        """The metric label of this attempt."""
        if self.status is not None:
            return f"{self.status // 100}xx"
        return self.outcome if self.outcome == "refused" else (self.error or "error").split(":")[0]


def classify(status: int) -> Outcome:
    if 200 <= status < 300:
        return "delivered"
    if status == 410:
        return "gone"
    return "retry"


async def attempt(
    session: aiohttp.ClientSession,
    policy: NetworkPolicy,
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout_s: float,
) -> AttemptResult:
    started = time.perf_counter()

    def done(
        outcome: Outcome, status: int | None, error: str | None, retry_after: str | None = None
    ) -> AttemptResult:
        return AttemptResult(outcome, status, error, retry_after, time.perf_counter() - started)

    send_headers = {
        **headers,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
    try:
        async with asyncio.timeout(timeout_s):
            async with session.post(
                url, data=body, headers=send_headers, allow_redirects=False
            ) as response:
                refused = peer_refusal(response, policy)
                if refused is not None:
                    return done("refused", None, f"refused: connected to {refused}")
                # A little of the answer, so the connection can be reused; no more.
                await response.content.read(1024)
                status = response.status
                error = None if 200 <= status < 300 else f"status {status}"
                return done(classify(status), status, error, response.headers.get("Retry-After"))
    except DestinationRefused as exc:
        return done("refused", None, f"refused: {exc}")
    except TimeoutError:
        return done("retry", None, f"timeout: no answer within {timeout_s:g}s")
    except aiohttp.ClientConnectorError as exc:
        cause = exc.os_error
        if isinstance(cause, DestinationRefused) or isinstance(cause.__cause__, DestinationRefused):
            return done("refused", None, f"refused: {cause}")
        return done("retry", None, f"connection: {exc}"[:300])
    except (aiohttp.ClientError, OSError) as exc:
        if _refused_in(exc):
            return done("refused", None, f"refused: {exc}")
        return done("retry", None, f"connection: {type(exc).__name__}: {exc}"[:300])


def _refused_in(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, DestinationRefused):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def now_utc() -> datetime:
    return datetime.now(UTC)
