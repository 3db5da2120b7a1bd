from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from services.worker.jobs import JobDeps
from tests.support import (
    catalogue,
    create_app,
    gateway_settings,
    in_process_resonate,
    running,
    worker_deps,
)


@dataclass
class Gateway:
    app: FastAPI
    client: httpx.AsyncClient
    deps: JobDeps


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    deps = worker_deps()
    kinds = catalogue()
    app = create_app(
        gateway_settings(), resonate_factory=in_process_resonate(deps, kinds), catalogue=kinds
    )
    async with running(app) as client:
        yield Gateway(app, client, deps)
