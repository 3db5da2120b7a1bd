"""schemathesis over the OpenAPI document: no 5xx, every answer as documented.

The gateway is served over real HTTP in this process (``tests/gateway/live.py``)
with the in-process Resonate and the real worker jobs, so every generated
request goes through the same protocol, middleware and routes as in
production. Derandomized, bounded examples per operation: the same cases on
every run, in a few tens of seconds.

Credentials: ``credentials`` yields the headers each case is sent with, once
per identity. Today the gateway has no authentication and both identities send
none; when it has, "authenticated" yields a valid token's headers and
"anonymous" none (whose documented answers are then 401s).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings

from tests.gateway.live import gateway_app, live_gateway

pytestmark = pytest.mark.unit

#: Examples per operation and identity; with the coverage phase's own cases,
#: about 25 s for the whole file on this machine.
MAX_EXAMPLES = 250


# Short waits: a generated ?wait= holds its request for up to max_wait_s.
APP = gateway_app(max_wait_s=0.2, resonate_timeout_s=1.0)
#: 422s that a request valid by the document may get: what is checked past it
#: (a kind's own input schema, an Idempotency-Key's first use, limits JSON
#: Schema cannot state). Any other 422 to a valid request is a failure.
SEMANTIC_422 = {
    "unknown-kind",
    "invalid-input",
    "idempotency-key-reused",
    "number-out-of-range",
    "json-too-deep",
}
CONFIG = schemathesis.config.SchemathesisConfig.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
            }
        }
    }
)
# The document as the app serves it (a test below checks they are the same).
schema = schemathesis.openapi.from_dict(APP.openapi(), config=CONFIG)


def valid_requests_get_no_422_but_semantic_ones(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> None:
    """positive_data_acceptance, with the 422s listed above and no others."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    if response.status_code == 422:
        slug = response.json()["type"].rsplit(":", 1)[-1]
        assert slug in SEMANTIC_422, f"a schema-valid request was refused as {slug}"


@pytest.fixture(scope="module")
def gateway_url() -> Iterator[str]:
    with live_gateway(APP) as (url, _settings):
        yield url


@pytest.fixture(scope="module")
def credentials() -> dict[str, dict[str, str]]:
    """The headers of each identity every case is sent as.

    Plug valid credentials into "authenticated" once the gateway has auth.
    """
    return {"authenticated": {}, "anonymous": {}}


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
    sent: list[dict[str, str]] = []
    for identity, headers in credentials.items():
        if headers in sent:
            continue  # the same request again would prove nothing
        sent.append(headers)
        try:
            case.call_and_validate(
                base_url=gateway_url,
                headers=headers,
                additional_checks=[valid_requests_get_no_422_but_semantic_ones],
                timeout=10,
            )
        except Exception as exc:
            exc.add_note(f"sent as {identity}")
            raise


def test_the_fuzzed_document_is_the_served_one(gateway_url: str) -> None:
    import httpx

    assert httpx.get(f"{gateway_url}/openapi.json").json() == APP.openapi()
