"""Job kinds that ship with Longhaul, defined with the public API (``longhaul``)."""
