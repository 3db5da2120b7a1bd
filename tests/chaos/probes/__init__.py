"""Probes: read-only looks at the system under test (processes, metrics, ledger, pods)."""
