"""Everything in the worker that touches resonate-sdk internals, pinned to 0.8.1.

- ``connections``: the SDK's HTTP and SSE connections with bounds instead of
  aiohttp's 300 s total, a supervised SSE listener that cannot go deaf, and
  token renewal (``apply_token``);
- ``drain``: a graceful stop that lets running work finish and releases leases;
- ``retry``: job-level retries (a failed step ends the attempt instead of
  settling the step rejected);
- ``guards``: executions the SDK would release and have re-offered at once,
  forever (a function this worker lacks, task data it cannot decode), turned
  into a paced release or a failed job.

The version check below fails the worker's boot if another SDK is installed;
``tests/worker/test_sdk_pins.py`` and ``tests/worker/test_sdk_retry.py`` fail
if the SDK changes under any of it.
"""

from __future__ import annotations

from importlib.metadata import version

SDK_VERSION = "0.8.1"
if version("resonate-sdk") != SDK_VERSION:  # pragma: no cover - guarded by the lock file
    raise RuntimeError(f"services.worker.sdk is written for resonate-sdk {SDK_VERSION}")
