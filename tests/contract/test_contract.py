"""The contract both sides share: the catalogue, its boot failures, fingerprints."""

from __future__ import annotations

import ast
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from longhaul import JobKind, Retry
from services.contract import BUILTIN_MODULE, CatalogueError, fingerprint, load_catalogue
from services.contract.catalogue import definition_fingerprint, resolve_functions

pytestmark = pytest.mark.unit


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on sys.path where a test writes job modules."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("lhtest_")]:
        del sys.modules[name]


def write(directory: Path, name: str, body: str) -> None:
    (directory / f"{name}.py").write_text(textwrap.dedent(body))


GOOD = """
    from pydantic import BaseModel
    from longhaul import JobKind

    class In(BaseModel):
        n: int

    async def run(ctx, params):
        return {"n": params.n}

    KINDS = [JobKind(name="{name}", summary="s", input_model=In, function={function})]
"""


def good(name: str, function: str = "run") -> str:
    return GOOD.replace("{name}", name).replace("{function}", function)


def test_the_builtin_kinds_are_the_default_module() -> None:
    catalogue = load_catalogue([BUILTIN_MODULE])
    assert catalogue.names == ["echo", "sleep", "pipeline"]
    assert [k.function_name for k in catalogue] == [
        "longhaul.echo",
        "longhaul.sleep",
        "longhaul.pipeline",
    ]
    assert set(resolve_functions(catalogue)) == {("echo", 1), ("sleep", 1), ("pipeline", 1)}


def test_a_module_that_fails_to_import_names_itself(modules: Path) -> None:
    write(modules, "lhtest_broken", "import no_such_dependency\n")
    with pytest.raises(CatalogueError) as err:
        load_catalogue([BUILTIN_MODULE, "lhtest_broken"])
    assert "'lhtest_broken'" in str(err.value) and "no_such_dependency" in str(err.value)
    with pytest.raises(CatalogueError, match=r"'lhtest_missing' .* failed to import"):
        load_catalogue(["lhtest_missing"])


def test_a_module_without_kinds(modules: Path) -> None:
    write(modules, "lhtest_empty", "X = 1\n")
    write(modules, "lhtest_wrong", "KINDS = ['echo']\n")
    with pytest.raises(CatalogueError, match="'lhtest_empty' must define KINDS"):
        load_catalogue(["lhtest_empty"])
    with pytest.raises(CatalogueError, match=r"'lhtest_wrong': KINDS\[0\] is a str"):
        load_catalogue(["lhtest_wrong"])


def test_a_duplicate_kind_names_both_modules(modules: Path) -> None:
    write(modules, "lhtest_a", good("echo"))
    with pytest.raises(CatalogueError) as err:
        load_catalogue([BUILTIN_MODULE, "lhtest_a"])
    message = str(err.value)
    assert "'echo'" in message and repr(BUILTIN_MODULE) in message and "'lhtest_a'" in message


def test_a_missing_function_fails_on_the_worker_only(modules: Path) -> None:
    write(modules, "lhtest_fn", good("missing-fn", '"lhtest_fn_impl:nothing_here"'))
    write(modules, "lhtest_fn_impl", "async def other(ctx, params):\n    return 1\n")
    catalogue = load_catalogue(["lhtest_fn"])  # the gateway never imports the function
    assert "lhtest_fn_impl" not in sys.modules
    with pytest.raises(CatalogueError) as err:
        resolve_functions(catalogue)
    message = str(err.value)
    assert "'missing-fn'" in message and "'lhtest_fn'" in message and "nothing_here" in message


def test_a_bad_definition_fails_at_import_with_the_kind_name(modules: Path) -> None:
    write(modules, "lhtest_bad", good("BadName"))
    with pytest.raises(CatalogueError, match="'BadName'"):
        load_catalogue(["lhtest_bad"])


def test_definitions_are_checked() -> None:
    class In(BaseModel):
        n: int

    async def fn(ctx, params):
        return None

    def sync_fn(ctx, params):
        return None

    JobKind(name="ok", summary="fine", input_model=In, function=fn)
    for bad in (
        {"name": "x y"},
        {"summary": "two\nlines"},
        {"input_model": dict},
        {"function": sync_fn},
        {"function": "no-colon"},
        {"timeout_s": 0},
        {"permanent": (int,)},
        {"version": 2, "previous_versions": {2: fn}},
    ):
        with pytest.raises((TypeError, ValueError)):
            JobKind(**{"name": "ok", "summary": "fine", "input_model": In, "function": fn, **bad})


def test_retry_backoff_and_sdk_policy() -> None:
    retry = Retry(max_attempts=4, initial_s=1, factor=3, max_s=5)
    assert [retry.delay_s(n) for n in (1, 2, 3)] == [1, 3, 5]
    assert [retry.next(n) for n in (1, 2, 3, 4)] == [1, 3, 5, None]
    with pytest.raises(ValueError):
        Retry(max_attempts=0)


def test_fingerprint_follows_the_input_schema_and_version() -> None:
    class In(BaseModel):
        n: int

    class Other(BaseModel):
        n: str

    async def fn(ctx, params):
        return None

    base = JobKind(name="k", summary="s", input_model=In, function=fn)
    same = JobKind(name="k", summary="another summary", input_model=In, function=fn)
    assert definition_fingerprint(base) == definition_fingerprint(same)
    for changed in (
        JobKind(name="k", summary="s", input_model=Other, function=fn),
        JobKind(name="k", summary="s", input_model=In, function=fn, version=2),
    ):
        assert definition_fingerprint(changed) != definition_fingerprint(base)


def test_gateway_never_imports_worker_code() -> None:
    for path in [*Path("services/gateway").rglob("*.py"), *Path("services/contract").rglob("*.py")]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith("services.worker"), path


def test_the_public_api_keeps_sdk_internals_out() -> None:
    import longhaul

    assert sorted(longhaul.__all__) == ["Context", "JobKind", "PermanentError", "Retry", "attempt"]
    assert longhaul.Context.__module__ == "resonate.context"  # the SDK's public handle


def test_sleep_bounds() -> None:
    kind = load_catalogue([BUILTIN_MODULE]).get("sleep")
    assert kind is not None
    assert kind.validate_input({"seconds": 3600}) == {"seconds": 3600.0}
    for bad in ({"seconds": 0}, {"seconds": 3600.5}, {"seconds": "x"}, {}):
        with pytest.raises(ValidationError):
            kind.validate_input(bad)


def test_pipeline_refuses_values_whose_statistics_would_overflow() -> None:
    kind = load_catalogue([BUILTIN_MODULE]).get("pipeline")
    assert kind is not None
    with pytest.raises(ValidationError):
        kind.validate_input({"values": [1e308, 1e308]})
    assert kind.validate_input({"values": [1e100, -1e100]})["values"] == [1e100, -1e100]


def test_fingerprint_is_order_insensitive_and_distinguishes_requests() -> None:
    assert fingerprint("echo", {"a": 1, "b": 2}, None) == fingerprint(
        "echo", {"b": 2, "a": 1}, None
    )
    assert fingerprint("echo", {"a": 1}, None) != fingerprint("echo", {"a": 2}, None)
    assert fingerprint("echo", {"a": 1}, None) != fingerprint("echo", {"a": 1}, 10.0)
    assert fingerprint("echo", {}, None) != fingerprint("sleep", {}, None)
