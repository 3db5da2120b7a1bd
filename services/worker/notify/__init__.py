"""Signed completion webhooks, delivered by a durable notifier (see docs/webhooks.md).

- ``signing``: Standard Webhooks headers, through the ``standardwebhooks`` package;
- ``event``: the event body, bounded;
- ``schedule``: retry delays with jitter and Retry-After;
- ``guard``: the connector that can only connect to allowed addresses;
- ``delivery``: one attempt and what it means (delivered, gone, retry);
- ``notifier``: the durable function ``longhaul.notify``;
- ``metrics``: deliveries by outcome, attempt latency.
"""
