"""The contract both sides share: every kind has a worker implementation and vice versa."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.contract import KINDS, fingerprint
from services.worker.jobs import IMPLEMENTATIONS

pytestmark = pytest.mark.unit


def test_every_kind_has_an_implementation_and_no_more() -> None:
    assert set(KINDS) == set(IMPLEMENTATIONS)
    assert {"echo", "sleep"} <= set(KINDS)


def test_function_names_are_unique() -> None:
    functions = [kind.function for kind in KINDS.values()]
    assert len(set(functions)) == len(functions)


def test_gateway_never_imports_worker_code() -> None:
    import ast
    from pathlib import Path

    for path in Path("services/gateway").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith("services.worker"), path


def test_sleep_bounds() -> None:
    kind = KINDS["sleep"]
    assert kind.validate_input({"seconds": 3600}) == {"seconds": 3600.0}
    for bad in ({"seconds": 0}, {"seconds": 3600.5}, {"seconds": "x"}, {}):
        with pytest.raises(ValidationError):
            kind.validate_input(bad)


def test_fingerprint_is_order_insensitive_and_distinguishes_requests() -> None:
    assert fingerprint("echo", {"a": 1, "b": 2}, None) == fingerprint(
        "echo", {"b": 2, "a": 1}, None
    )
    assert fingerprint("echo", {"a": 1}, None) != fingerprint("echo", {"a": 2}, None)
    assert fingerprint("echo", {"a": 1}, None) != fingerprint("echo", {"a": 1}, 10.0)
    assert fingerprint("echo", {}, None) != fingerprint("sleep", {}, None)
