"""Workers advertise the kinds they run, so a gateway can refuse kinds no worker has.

At boot a worker creates one promise per kind and version it registers, named
by the definition's fingerprint (function name, version, input schema):
``longhaul-kind.<name>.v<version>.<fingerprint>``. A gateway looks up the id
its own definition gives; a missing promise means no worker with that
definition ever started, and the gateway answers ``503 kind-unavailable``
instead of accepting a job that would wait forever. Creates are idempotent,
so every worker boot writes the same ids; nothing else reads or settles them.
"""

from __future__ import annotations

from typing import Any

from resonate.promises import Promises
from resonate.types import Value

from services.contract.catalogue import Catalogue, CatalogueEntry, definition_fingerprint
from services.contract.ledger import LEDGER_TTL_MS

#: Adverts outlive any deployment; a re-created advert keeps its first data.
ADVERT_TTL_MS = 100 * LEDGER_TTL_MS


def advert_id(entry: CatalogueEntry, version: int | None = None) -> str:
    """The advert of ``version`` of a kind (default: the version new jobs get)."""
    kind = entry.kind
    version = kind.version if version is None else version
    return f"longhaul-kind.{kind.name}.v{version}.{definition_fingerprint(kind, version)}"


async def advertise(promises: Promises, catalogue: Catalogue, pid: str, now_ms: int) -> list[str]:
    """Create the advert of every version of every kind this worker registers; return the ids.

    Previous versions are advertised too: during a rollout, a gateway that still
    has the old definition sends jobs of the old version, which new workers run
    with the old function they keep for it.
    """
    ids = []
    for entry in catalogue.entries():
        for version in entry.kind.versions():
            data: dict[str, Any] = {
                "kind": entry.kind.name,
                "module": entry.module,
                "function": entry.kind.function_name,
                "version": version,
                "pid": pid,
            }
            advert = advert_id(entry, version)
            await promises.create(
                advert, now_ms + ADVERT_TTL_MS, Value(data=data), {"longhaul:advert": "1"}
            )
            ids.append(advert)
    return ids
