"""schemathesis over the OpenAPI document: no 5xx, every answer as documented.

The gateway is served over real HTTP in this process (``tests/gateway/live.py``)
with the in-process Resonate and the real worker jobs, so every generated
request goes through the same protocol, middleware and routes as in
production. Derandomized, bounded examples per operation: the same cases on
every run, in a few tens of seconds.

Credentials: the gateway runs with API keys on, and every case is sent twice:
with a valid key of tenant ``acme`` holding every scope, and with none (whose
documented answer is 401 wherever a credential is needed).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings

from services.gateway.auth.keys import new_key
from services.gateway.auth.principal import ALL_SCOPES
from tests.gateway.fuzzing import CONFIG, send_as_every_identity
from tests.gateway.live import gateway_app, live_gateway

pytestmark = pytest.mark.unit

#: Examples per operation and identity; with the coverage phase's own cases,
#: about 15 s for the whole file on this machine (2 shared cores).
MAX_EXAMPLES = 250


# The document is built at import (schemathesis parametrizes from it), so the
# key file the app reads is made here too; it is removed when the process ends.
_KEYS_DIR = tempfile.TemporaryDirectory(prefix="longhaul-fuzz-keys-")
KEY, _ENTRY = new_key("acme", ALL_SCOPES, key_id="fuzz")
(Path(_KEYS_DIR.name) / "api-keys").write_text(_ENTRY.line() + "\n")
IDENTITIES = {"authenticated": {"Authorization": f"Bearer {KEY}"}, "anonymous": {}}

# Short waits: a generated ?wait= holds its request for up to max_wait_s.
APP = gateway_app(
    max_wait_s=0.2,
    resonate_timeout_s=1.0,
    auth_mode="required",
    auth_api_keys_file=Path(_KEYS_DIR.name) / "api-keys",
    id_secret="fuzz-" + "s" * 40,
)
# The document as the app serves it (a test below checks they are the same).
schema = schemathesis.openapi.from_dict(APP.openapi(), config=CONFIG)


@pytest.fixture(scope="module")
def gateway_url() -> Iterator[str]:
    with live_gateway(APP) as (url, _settings):
        yield url


@pytest.fixture(scope="module")
def credentials() -> dict[str, dict[str, str]]:
    """The headers of each identity every case is sent as (see ``fuzzing.py``)."""
    return IDENTITIES


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_is_documented_and_none_is_a_server_error(
    case: schemathesis.Case, gateway_url: str, credentials: dict[str, dict[str, str]]
) -> None:
    send_as_every_identity(case, gateway_url, credentials)


def test_the_fuzzed_document_is_the_served_one(gateway_url: str) -> None:
    import httpx

    assert httpx.get(f"{gateway_url}/openapi.json").json() == APP.openapi()
