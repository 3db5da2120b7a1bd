"""Standard Webhooks signatures, made by the ``standardwebhooks`` package (no HMAC here).

Every active secret signs: ``webhook-signature`` carries one ``v1,<base64>``
per secret, space-separated, so a receiver that has the old or the new secret
verifies during a rotation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret


def check_secret(secret: str, where: str) -> Webhook:
    """The package's signer for ``secret``, or ValueError saying what is wrong."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"{where}: a webhook secret must start with {SECRET_PREFIX}")
    try:
        signer = Webhook(secret)
    except Exception as exc:
        raise ValueError(f"{where}: a webhook secret is not base64 after whsec_") from exc
    if len(signer._whsecret) < 16:
        raise ValueError(f"{where}: a webhook secret must decode to at least 16 bytes")
    return signer


@dataclass(frozen=True)
class Signer:
    installation: tuple[Webhook, ...]
    tenants: Mapping[str, tuple[Webhook, ...]] = field(default_factory=dict)

    @classmethod
    def from_secrets(cls, secrets: Sequence[str], tenant_file: Path | None = None) -> Signer:
        installation = tuple(check_secret(s, "LONGHAUL_WEBHOOK_SECRETS") for s in secrets)
        tenants: dict[str, tuple[Webhook, ...]] = {}
        if tenant_file is not None:
            where = f"LONGHAUL_WEBHOOK_TENANT_SECRETS_FILE ({tenant_file})"
            try:
                document = json.loads(tenant_file.read_text())
            except (OSError, ValueError) as exc:
                raise ValueError(f"{where}: {exc}") from exc
            if not isinstance(document, dict):
                raise ValueError(f"{where}: must be an object of tenant to secrets")
            for tenant, listed in document.items():
                if not isinstance(listed, list) or not listed:
                    raise ValueError(f"{where}: tenant {tenant!r} needs a list of secrets")
                tenants[tenant] = tuple(check_secret(str(s), where) for s in listed)
        return cls(installation, tenants)

    def signers(self, tenant: str | None) -> tuple[Webhook, ...]:
        if tenant is not None and tenant in self.tenants:
            return self.tenants[tenant]
        return self.installation

    def headers(
        self, msg_id: str, body: bytes, now: datetime, tenant: str | None = None
    ) -> dict[str, str]:
        """The three Standard Webhooks headers; ValueError if no secret is configured."""
        signers = self.signers(tenant)
        if not signers:
            raise ValueError("no webhook secret is configured (LONGHAUL_WEBHOOK_SECRETS)")
        now = now.astimezone(UTC)
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": " ".join(s.sign(msg_id, now, body) for s in signers),
        }
