"""``make run`` with Resonate auth on: a dev key pair kept in the state directory.

The dev server gets the public key (``RESONATE_AUTH__PUBLICKEY``, the real
server's variable) and verifies JWTs as the real server does; gateway and
workers get the private key (``LONGHAUL_RESONATE_AUTH_PRIVATE_KEY``) and mint
their own short-lived tokens. Issuer and audience are set on both sides, so
the ``aud`` list rule is exercised too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.common.resonate_token import write_key_pair

ISSUER = "longhaul-dev"
AUDIENCE = "resonate"


@dataclass(frozen=True)
class DevAuth:
    private_key: Path
    public_key: Path
    issuer: str = ISSUER
    audience: str = AUDIENCE

    def server_env(self) -> dict[str, str]:
        return {
            "RESONATE_AUTH__PUBLICKEY": str(self.public_key),
            "RESONATE_AUTH__ISS": self.issuer,
            "RESONATE_AUTH__AUD": self.audience,
        }

    def client_env(self) -> dict[str, str]:
        return {
            "LONGHAUL_RESONATE_AUTH_PRIVATE_KEY": str(self.private_key),
            "RESONATE_AUTH__ISS": self.issuer,
            "RESONATE_AUTH__AUD": self.audience,
        }

    def mint_command(self) -> str:
        return (
            f"python -m services.common.resonate_token mint --key {self.private_key} "
            f"--ttl 1h --admin --iss {self.issuer} --aud {self.audience}"
        )


def dev_auth(directory: Path) -> DevAuth:
    """The key pair in ``directory``, made (EC P-256) on first use and kept across runs."""
    private, public = directory / "private.pem", directory / "public.pem"
    if not (private.exists() and public.exists()):
        private, public = write_key_pair(directory, "ec")
    return DevAuth(private, public)
