"""Tests that share one Resonate server, as every real deployment's server outlives a test.

Each stack of the integration tier starts its own, empty dev server; a server
given with ``--resonate-url`` keeps every promise of every earlier test (and
earlier run): fixed idempotency keys replay old jobs, kinds advertised by
earlier tests' workers are available. ``make test`` runs the whole tier once
on fresh servers; this test re-runs a few tests known to be sensitive to that
leftover state, in two passes of pytest against ONE dev server it starts, so a
test that only passes on an empty server fails here. (The whole tier runs that
way with ``pytest -m integration --resonate-url URL``; see tests/conftest.py.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.stack.layout import REPO_ROOT
from services.stack.local import LocalStack

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

#: First pass: workers with the example's kinds advertise them, then a gateway must still
#: refuse a kind no worker runs; a fixed-key replay would meet no earlier job yet.
FIRST = [
    "tests/integration/test_own_kinds.py::test_own_kinds_run_retry_and_fail_as_their_policy_says",
    "tests/integration/test_own_kinds.py::test_a_kind_no_worker_registered_is_refused",
    "tests/integration/test_stack.py::test_contract_over_http",
]
#: Second pass: the same server now holds the first pass's jobs, keys and adverts.
SECOND = [
    "tests/integration/test_stack.py::test_contract_over_http",
    "tests/integration/test_own_kinds.py::test_a_kind_no_worker_registered_is_refused",
]


def test_sensitive_tests_pass_twice_against_one_long_lived_server(
    tmp_path: Path, resonate_url: str | None
) -> None:
    if resonate_url is not None:
        pytest.skip("this run already shares one Resonate server between all its tests")
    server = LocalStack(dict(os.environ), log_dir=tmp_path / "server")
    url = server.start_devserver(db_path=tmp_path / "shared.sqlite3")
    try:
        for n, tests in enumerate((FIRST, SECOND), start=1):
            argv = [sys.executable, "-m", "pytest", *tests, "--resonate-url", url]
            argv += ["-q", "-p", "no:cacheprovider", "--basetemp", str(tmp_path / f"pass-{n}")]
            env = {k: v for k, v in os.environ.items() if k != "RESONATE_URL"}
            proc = subprocess.run(
                argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=400
            )
            assert proc.returncode == 0, f"pass {n}:\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"
            assert f"{len(tests)} passed" in proc.stdout, proc.stdout[-2000:]
    finally:
        server.stop(timeout=10)
