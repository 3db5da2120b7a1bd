"""Completion webhooks under ``make run``: a dev signing secret and loopback receivers.

The secret is generated once into the state directory (``webhook-secret``) and
given to the workers; receivers on this machine (127.0.0.0/8) are allowed, so
``docs/webhooks.md``'s curl session works. Variables already set win.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

SECRET_FILE = "webhook-secret"  # noqa: S105 - a file name
LOOPBACK = "127.0.0.0/8"


def webhook_secret(path: Path) -> str:
    if path.exists():
        value = path.read_text().strip()
        if value.startswith("whsec_"):
            return value
    value = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")
    return value


def network_env(base_env: dict[str, str]) -> dict[str, str]:
    """For gateway and workers: allow loopback receivers unless configured otherwise."""
    if "LONGHAUL_WEBHOOK_ALLOWED_NETWORKS" in base_env:
        return {}
    return {"LONGHAUL_WEBHOOK_ALLOWED_NETWORKS": LOOPBACK}


def worker_env(state_dir: Path, base_env: dict[str, str]) -> dict[str, str]:
    env = network_env(base_env)
    if "LONGHAUL_WEBHOOK_SECRETS" not in base_env:
        env["LONGHAUL_WEBHOOK_SECRETS"] = webhook_secret(state_dir / SECRET_FILE)
    return env
