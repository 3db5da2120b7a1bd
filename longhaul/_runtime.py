"""State the worker shares with a running job's code (not part of the public API).

The worker sets it around each execution; :func:`longhaul.attempt` reads it.
A context variable follows the job's asyncio task and the steps it spawns, so
concurrent jobs in one worker never see each other's value.
"""

from __future__ import annotations

from contextvars import ContextVar

#: The 1-based attempt number of the job execution running in this task.
CURRENT_ATTEMPT: ContextVar[int] = ContextVar("longhaul_current_attempt")
