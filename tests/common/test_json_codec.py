"""The msgspec encoder behind log lines and responses: same JSON, never a failure."""

from __future__ import annotations

import json
import math

import pytest

from services.common.json_codec import dumps, dumps_bytes

pytestmark = pytest.mark.unit


def test_encodes_what_json_dumps_encodes_compactly() -> None:
    value = {"a": 1, "b": [1.5, None, True], "c": {"d": "é"}, "e": ""}
    assert dumps(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    assert dumps_bytes(value) == dumps(value).encode()


def test_unencodable_values_fall_back_to_their_structlog_form_or_repr() -> None:
    class WithStructlogForm:
        def __structlog__(self) -> str:
            return "custom"

    class Plain:
        def __repr__(self) -> str:
            return "<plain>"

    assert json.loads(dumps({"x": WithStructlogForm(), "y": Plain()})) == {
        "x": "custom",
        "y": "<plain>",
    }


def test_non_finite_floats_become_null_instead_of_failing() -> None:
    assert json.loads(dumps({"nan": math.nan, "inf": math.inf})) == {"nan": None, "inf": None}
