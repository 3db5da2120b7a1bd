"""Workers advertise the kinds they run, so a gateway can refuse kinds no worker has.

At boot a worker creates one promise per kind and version it registers, named
by the kind's definition fingerprint (function name, version, input schema):
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

from services.contract.catalogue import Catalogue, CatalogueEntry
from services.contract.ledger import LEDGER_TTL_MS

#: Adverts outlive any deployment; a re-created advert keeps its first data.
ADVERT_TTL_MS = 100 * LEDGER_TTL_MS


def advert_id(entry: CatalogueEntry) -> str:
    kind = entry.kind
    return f"longhaul-kind.{kind.name}.v{kind.version}.{entry.fingerprint}"


async def advertise(promises: Promises, catalogue: Catalogue, pid: str, now_ms: int) -> list[str]:
    """Create every kind's advert; return the ids."""
    ids = []
    for entry in catalogue.entries():
        data: dict[str, Any] = {
            "kind": entry.kind.name,
            "module": entry.module,
            "function": entry.kind.function_name,
            "version": entry.kind.version,
            "pid": pid,
        }
        await promises.create(
            advert_id(entry), now_ms + ADVERT_TTL_MS, Value(data=data), {"longhaul:advert": "1"}
        )
        ids.append(advert_id(entry))
    return ids
