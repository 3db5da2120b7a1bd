"""The catalogue: every job kind of the modules named by ``LONGHAUL_JOB_MODULES``.

Gateway and worker build one from the same setting at boot and pass it down;
nothing here is global. A module that fails to import, a module without a
``KINDS`` list of ``longhaul.JobKind``, a kind defined twice, or (on the
worker) a function that cannot be found stops the process with a
``CatalogueError`` that names the module and the kind.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from longhaul.kinds import DurableFunction, JobKind

#: The kinds every build ships; ``LONGHAUL_JOB_MODULES`` defaults to it.
BUILTIN_MODULE = "services.kinds.builtin"


class CatalogueError(RuntimeError):
    """Bad job module configuration, found at boot."""


@dataclass(frozen=True)
class CatalogueEntry:
    kind: JobKind
    module: str

    @property
    def fingerprint(self) -> str:
        """What gateway and worker must agree on: function name, version, input schema."""
        return definition_fingerprint(self.kind)


class Catalogue:
    """Job kinds by name, in the order their modules listed them."""

    def __init__(self, entries: Sequence[CatalogueEntry]) -> None:
        self._entries: dict[str, CatalogueEntry] = {}
        for entry in entries:
            first = self._entries.get(entry.kind.name)
            if first is not None:
                raise CatalogueError(
                    f"job kind {entry.kind.name!r} is defined twice: in module "
                    f"{first.module!r} and in module {entry.module!r}"
                )
            self._entries[entry.kind.name] = entry

    def __iter__(self) -> Iterator[JobKind]:
        return (entry.kind for entry in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def get(self, name: str) -> JobKind | None:
        entry = self._entries.get(name)
        return entry.kind if entry else None

    def entry(self, name: str) -> CatalogueEntry:
        return self._entries[name]

    def entries(self) -> list[CatalogueEntry]:
        return list(self._entries.values())

    @property
    def names(self) -> list[str]:
        return list(self._entries)


def load_catalogue(modules: Sequence[str]) -> Catalogue:
    """Import each module and collect its ``KINDS``; raise ``CatalogueError`` if any is bad."""
    if not modules:
        raise CatalogueError("LONGHAUL_JOB_MODULES names no module")
    entries: list[CatalogueEntry] = []
    for module_name in modules:
        entries.extend(_module_kinds(module_name))
    return Catalogue(entries)


def _module_kinds(module_name: str) -> list[CatalogueEntry]:
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        # The last frames say where the import broke, without the loader's frames.
        where = "".join(traceback.format_exception_only(exc)).strip()
        raise CatalogueError(
            f"job module {module_name!r} (LONGHAUL_JOB_MODULES) failed to import: {where}"
        ) from exc
    kinds = getattr(module, "KINDS", None)
    if not isinstance(kinds, (list, tuple)) or not kinds:
        raise CatalogueError(
            f"job module {module_name!r} must define KINDS, a non-empty list of longhaul.JobKind"
        )
    entries = []
    for i, kind in enumerate(kinds):
        if not isinstance(kind, JobKind):
            raise CatalogueError(
                f"job module {module_name!r}: KINDS[{i}] is a {type(kind).__name__}, "
                "not a longhaul.JobKind"
            )
        entries.append(CatalogueEntry(kind, module_name))
    return entries


def resolve_function(entry: CatalogueEntry, version: int) -> DurableFunction:
    """The worker's view: the callable behind ``version`` of a kind, or ``CatalogueError``."""
    target = entry.kind.versions()[version]
    where = f"job kind {entry.kind.name!r} (module {entry.module!r}, version {version})"
    if not isinstance(target, str):
        return target
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise CatalogueError(
            f"{where}: function {target!r}: module {module_name!r} failed to import: {exc}"
        ) from exc
    fn = getattr(module, attr, None)
    if fn is None:
        raise CatalogueError(f"{where}: function {target!r} not found in {module_name!r}")
    if not inspect.iscoroutinefunction(fn):
        raise CatalogueError(f"{where}: function {target!r} must be an `async def`")
    return fn


def definition_fingerprint(kind: JobKind, version: int | None = None) -> str:
    canonical = json.dumps(
        {
            "function": kind.function_name,
            "version": kind.version if version is None else version,
            "input": kind.input_model.model_json_schema(),
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def describe(kind: JobKind) -> dict[str, Any]:
    """The catalogue entry as ``GET /v1/kinds`` shows it."""
    body: dict[str, Any] = {
        "name": kind.name,
        "summary": kind.summary,
        "input_schema": kind.input_model.model_json_schema(),
    }
    if kind.output_model is not None:
        body["output_schema"] = kind.output_model.model_json_schema(mode="serialization")
    body["timeout_s"] = kind.timeout_s
    body["retry"] = kind.retry.describe()
    body["version"] = kind.version
    return body


def resolve_functions(catalogue: Catalogue) -> dict[tuple[str, int], DurableFunction]:
    """Every kind's function at every version it registers, or ``CatalogueError``."""
    return {
        (entry.kind.name, version): resolve_function(entry, version)
        for entry in catalogue.entries()
        for version in entry.kind.versions()
    }
