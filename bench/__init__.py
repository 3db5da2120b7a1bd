"""``make bench``: Longhaul measured side by side with its baselines on one machine.

Not a test suite: it starts real processes on loopback, drives them with wrk
(closed loop) and an open-loop asyncio client, profiles with py-spy, and writes
``bench/results/`` (report.md, results.json, charts).
"""
