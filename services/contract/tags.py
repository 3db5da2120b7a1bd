"""Tags the gateway puts on a job's promise that workers read back."""

from __future__ import annotations

#: The job's kind, on every job promise (and on nothing else: steps, sleeps,
#: attempt markers and adverts carry none), so it tells a job from the rest.
KIND_TAG = "longhaul:kind"
