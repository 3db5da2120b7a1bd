from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from services.stack.local import LocalStack

StackFactory = Callable[..., LocalStack]


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture
def make_stack(tmp_path: Path, resonate_url: str | None) -> Iterator[StackFactory]:
    """Start dev server + gateway + workers on free loopback ports; always stop them all.

    With ``--resonate-url`` (or ``RESONATE_URL``) the stack uses that server instead.
    """
    stacks: list[LocalStack] = []

    def make(
        workers: int = 2,
        ttl_s: float = 3.0,
        web_concurrency: int = 2,
        gateway_env: dict[str, str] | None = None,
        worker_env: dict[str, str] | None = None,
        devserver_env: dict[str, str] | None = None,
    ) -> LocalStack:
        log_dir = tmp_path / f"stack-{len(stacks)}"
        base_env = {**os.environ, "LONGHAUL_LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1"}
        stack = LocalStack(base_env, log_dir=log_dir)
        stacks.append(stack)
        if resonate_url is not None:
            stack.use_resonate(resonate_url)
        else:
            # Each stack its own dev server database, removed with the test's tmp_path.
            stack.start_devserver(db_path=log_dir / "devserver.sqlite3", **(devserver_env or {}))
        stack.start_gateway(web_concurrency=web_concurrency, **(gateway_env or {}))
        for _ in range(workers):
            stack.add_worker(ttl_s=ttl_s, LONGHAUL_WORKER_LEDGER="true", **(worker_env or {}))
        stack.wait_ready()
        return stack

    yield make
    for stack in stacks:
        stack.stop(timeout=10)
        if stack.log_dir is not None:
            for log in sorted(stack.log_dir.glob("*.log")):
                print(f"----- {log.name} (last lines) -----\n{_tail(log)}")  # noqa: T201
