"""What the schemathesis runs share: the checks' expectations and how a case is sent.

Credentials: the run names the headers each case is sent with (identities:
a valid API key, and none, whose documented answers are then 401s).
"""

from __future__ import annotations

import schemathesis

#: 422s that a request valid by the document may get: what is checked past it
#: (a kind's own input schema, an Idempotency-Key's first use, limits JSON
#: Schema cannot state). Any other 422 to a valid request is a failure.
SEMANTIC_422 = {
    "unknown-kind",
    "invalid-input",
    "idempotency-key-reused",
    "number-out-of-range",
    "json-too-deep",
    "invalid-cursor",  # a base64url string of the right length that is no cursor of yours
}

#: A body over LONGHAUL_MAX_BODY_BYTES is 413 whether the document finds it
#: valid or not: a limit that JSON Schema cannot state either.
CONFIG = schemathesis.config.SchemathesisConfig.from_dict(
    {
        # Credentials are the run's identities, sent with every case: generated
        # (or deliberately missing) Authorization headers would be overwritten.
        "generation": {"with-security-parameters": False},
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": [
                    *("2xx", "3xx", "401", "403", "404", "409", "413", "422", "429", "5xx")
                ]
            },
            "negative_data_rejection": {
                "expected-statuses": [
                    *("400", "401", "403", "404", "405", "406", "409", "413", "415", "422"),
                    *("428", "429", "5xx"),
                ]
            },
        },
    }
)


def valid_requests_get_no_422_but_semantic_ones(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> None:
    """positive_data_acceptance, with the 422s of SEMANTIC_422 and no others."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    if response.status_code == 422:
        slug = response.json()["type"].rsplit(":", 1)[-1]
        assert slug in SEMANTIC_422, f"a schema-valid request was refused as {slug}"


def send_as_every_identity(
    case: schemathesis.Case, base_url: str, identities: dict[str, dict[str, str]]
) -> None:
    """Send ``case`` with each identity's headers and run every check on the answer."""
    sent: list[dict[str, str]] = []
    for identity, headers in identities.items():
        if headers in sent:
            continue  # the same request again would prove nothing
        sent.append(headers)
        try:
            case.call_and_validate(
                base_url=base_url,
                headers=headers,
                additional_checks=[valid_requests_get_no_422_but_semantic_ones],
                timeout=10,
            )
        except Exception as exc:
            exc.add_note(f"sent as {identity}")
            raise
