"""The one contract the gateway and the worker share: group, catalogue, result shapes.

The gateway dispatches by the names the catalogue defines and never imports
worker code; the worker registers a function for every kind of the same
catalogue (both build it from ``LONGHAUL_JOB_MODULES``).
"""

from services.contract.catalogue import (
    BUILTIN_MODULE,
    Catalogue,
    CatalogueEntry,
    CatalogueError,
    describe,
    load_catalogue,
)
from services.contract.jobs import GROUP, fingerprint

__all__ = [
    "BUILTIN_MODULE",
    "GROUP",
    "Catalogue",
    "CatalogueEntry",
    "CatalogueError",
    "describe",
    "fingerprint",
    "load_catalogue",
]
