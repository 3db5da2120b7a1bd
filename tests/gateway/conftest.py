from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from services.gateway.auth.keys import KeyEntry, new_key
from services.gateway.auth.principal import ALL_SCOPES
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


ID_SECRET = "test-id-secret-0123456789abcdef0123456789"


@dataclass
class AuthGateway(Gateway):
    keys_file: Path
    #: name -> plain key: a (tenant acme, all scopes), b (tenant globex, all scopes),
    #: a_read (acme, jobs:read), a_submit (acme, jobs:submit), revoked (acme, removed).
    keys: dict[str, str]

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[name]}"}


def write_keys(path: Path, entries: list[KeyEntry]) -> None:
    """Replace the file the way the CLI and Kubernetes do: a new file renamed over it."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(entry.line() + "\n" for entry in entries))
    tmp.replace(path)


KEY_SPECS = {
    "a": ("acme", ALL_SCOPES),
    "b": ("globex", ALL_SCOPES),
    "a_read": ("acme", frozenset({"jobs:read"})),
    "a_submit": ("acme", frozenset({"jobs:submit"})),
    "revoked": ("acme", ALL_SCOPES),
}


@pytest.fixture
async def auth_gateway(tmp_path: Path) -> AsyncIterator[AuthGateway]:
    keys: dict[str, str] = {}
    entries: dict[str, KeyEntry] = {}
    for name, (tenant, scopes) in KEY_SPECS.items():
        keys[name], entries[name] = new_key(tenant, scopes, key_id=name.replace("_", "-"))
    keys_file = tmp_path / "api-keys"
    write_keys(keys_file, list(entries.values()))
    deps = worker_deps()
    settings = gateway_settings(
        auth_mode="required",
        auth_api_keys_file=keys_file,
        auth_reload_interval_s=0.05,
        id_secret=ID_SECRET,
    )
    app = create_app(settings, resonate_factory=in_process_resonate(deps))
    async with running(app) as client:
        gateway = AuthGateway(app, client, deps, keys_file, keys)
        # "revoked" worked at start-up; its line is then deleted from the file.
        assert (
            await client.get("/wait?id=none", headers=gateway.auth("revoked"))
        ).status_code == 404
        write_keys(keys_file, [e for n, e in entries.items() if n != "revoked"])
        await asyncio.sleep(0.1)
        yield gateway
