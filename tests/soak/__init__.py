"""Soak: the local stack under light steady load for longer than every default timeout in its path.

``python -m tests.soak`` (``make soak ARGS="--duration 2h"``) runs it for as long
as asked and reports throughput, latency and the memory and CPU of every
process over time; ``tests/soak/test_soak.py`` runs it for 400 s in ``make test``.
It reuses the chaos harness (load driver, faults, checker) and adds the sampler
and the timeline.
"""
