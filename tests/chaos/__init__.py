"""Chaos harness: load, faults, execution ledger and the invariants of design.md.

Actions (``tests.chaos.actions``) change the system under test; probes
(``tests.chaos.probes``) only read it. The same runner drives two targets:
processes on loopback (``LocalStack``) and pods of a Helm release.
"""
