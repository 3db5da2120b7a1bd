"""JWTs the Resonate server v0.9.8 accepts: mint them, read their expiry, make keys.

What the server requires (its ``src/auth.rs``; the dev server applies the same
rules, ``services/devserver/auth.py``): an ``alg`` matching the key type
(RSA: RS256, EC P-256: ES256, EC P-384: ES384, Ed25519: EdDSA), an integer
``exp``, ``aud`` as a JSON *list*, ``iss`` / ``aud`` matching the server's
``RESONATE_AUTH__ISS`` / ``RESONATE_AUTH__AUD`` once those are set, and either
``role: "admin"`` (everything) or a ``prefix`` claim (only ids starting with it;
``""`` means every id; a prefix token may not search).

Command line (prints to stdout)::

    python -m services.common.resonate_token keygen --out DIR [--type ec|rsa|ed25519]
    python -m services.common.resonate_token mint --key private.pem --ttl 1h --admin \\
        [--iss longhaul] [--aud resonate] [--sub ci]
    python -m services.common.resonate_token mint --key private.pem --ttl 30d --prefix acme.
    python -m services.common.resonate_token inspect TOKEN   # claims and expiry, not verified
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

#: RSA moduli the server's verifier (ring) accepts.
RSA_MIN_BITS = 2048
EC_SIGNING = {"secp256r1": "ES256", "secp384r1": "ES384"}
KEY_TYPES = ("ec", "rsa", "ed25519")


class TokenError(ValueError):
    """A key or token the Resonate server would not accept."""


PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def load_private_key(path: Path) -> PrivateKey:
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise TokenError(f"cannot read the private key {path}: {exc}") from exc
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise TokenError(f"{path} is not an unencrypted PEM private key: {exc}") from exc
    signing_algorithm(key)  # refuse a key type the server cannot verify
    return key  # type: ignore[return-value]


def signing_algorithm(key: Any) -> str:
    """The ``alg`` the server accepts for this key (it must match the key type)."""
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < RSA_MIN_BITS:
            raise TokenError(f"an RSA key needs at least {RSA_MIN_BITS} bits")
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        alg = EC_SIGNING.get(key.curve.name)
        if alg is None:
            raise TokenError(f"EC curve {key.curve.name} is not supported (P-256 or P-384)")
        return alg
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "EdDSA"
    raise TokenError(f"unsupported key type {type(key).__name__} (RSA, EC or Ed25519)")


def mint(
    key: PrivateKey,
    *,
    ttl_s: float,
    admin: bool = False,
    prefix: str | None = None,
    issuer: str | None = None,
    audience: str | None = None,
    subject: str | None = None,
    now: float | None = None,
) -> str:
    """A signed token valid for ``ttl_s`` from ``now``, granting ``admin`` and/or ``prefix``."""
    if not admin and prefix is None:
        raise TokenError("a token needs role admin or a prefix claim (the server denies all else)")
    if ttl_s <= 0:
        raise TokenError("the ttl must be positive")
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {"iat": issued, "exp": issued + int(ttl_s)}
    if admin:
        claims["role"] = "admin"
    if prefix is not None:
        claims["prefix"] = prefix
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = [audience]  # a list: the server fails to decode a string aud
    if subject:
        claims["sub"] = subject
    return jwt.encode(claims, key, algorithm=signing_algorithm(key))


@dataclass(frozen=True)
class TokenInfo:
    """What a token says about itself (nothing here is verified)."""

    claims: dict[str, Any]
    algorithm: str | None

    @property
    def expires_at(self) -> int | None:
        exp = self.claims.get("exp")
        return exp if type(exp) is int else None

    def problems(self) -> list[str]:
        """Why the v0.9.8 server would refuse it whatever its key and signature."""
        found = []
        if self.expires_at is None:
            found.append("no integer exp claim (the server always requires one)")
        aud = self.claims.get("aud")
        if aud is not None and not isinstance(aud, list):
            found.append("aud is not a JSON list (the server fails to decode a string aud)")
        iss, role = self.claims.get("iss"), self.claims.get("role")
        if iss is not None and not isinstance(iss, str):
            found.append("iss is not a string")
        if role is not None and not isinstance(role, str):
            found.append("role is not a string")
        is_admin = isinstance(role, str) and role.lower() == "admin"
        if not is_admin and not isinstance(self.claims.get("prefix"), str):
            found.append("neither role admin nor a string prefix claim (every request is 403)")
        if self.algorithm in (None, "none") or str(self.algorithm).startswith("HS"):
            found.append(f"alg {self.algorithm} (the server needs RSA, EC or Ed25519 signatures)")
        return found


def inspect(token: str) -> TokenInfo:
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise TokenError(f"not a JWT: {exc}") from exc
    return TokenInfo(claims, header.get("alg"))


def generate_key_pair(key_type: str = "ec") -> tuple[bytes, bytes]:
    """(private PEM, public PEM) of a new key the server accepts: EC P-256 by default."""
    private: PrivateKey
    if key_type == "ec":
        private = ec.generate_private_key(ec.SECP256R1())
    elif key_type == "rsa":
        private = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    elif key_type == "ed25519":
        private = ed25519.Ed25519PrivateKey.generate()
    else:
        raise TokenError(f"key type {key_type!r}: one of {', '.join(KEY_TYPES)}")
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, public_pem


def write_key_pair(directory: Path, key_type: str = "ec") -> tuple[Path, Path]:
    """``private.pem`` (mode 0600) and ``public.pem`` in ``directory``."""
    private_pem, public_pem = generate_key_pair(key_type)
    directory.mkdir(parents=True, exist_ok=True)
    private_path, public_path = directory / "private.pem", directory / "public.pem"
    private_path.touch(mode=0o600)
    private_path.chmod(0o600)
    private_path.write_bytes(private_pem)
    public_path.write_bytes(public_pem)
    return private_path, public_path


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """``90``, ``90s``, ``15m``, ``1h``, ``30d`` -> seconds."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text)
    if not match or int(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a positive duration like 900, 15m, 1h, 30d")
    return int(match.group(1)) * _UNITS[match.group(2) or "s"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m services.common.resonate_token",
        description="Tokens and keys for a Resonate server v0.9.8 with JWT auth.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("mint", help="print a signed token")
    m.add_argument("--key", type=Path, required=True, help="PEM private key (RSA, EC, Ed25519)")
    m.add_argument("--ttl", type=parse_duration, default=3600, help="lifetime (default 1h)")
    m.add_argument("--admin", action="store_true", help='claim role "admin": every id')
    m.add_argument("--prefix", help='claim prefix: only ids starting with it ("" = every id)')
    m.add_argument("--iss", help="iss claim (the server's RESONATE_AUTH__ISS)")
    m.add_argument("--aud", help="audience, sent as a one-element list (RESONATE_AUTH__AUD)")
    m.add_argument("--sub", help="sub claim (who holds the token; not checked by the server)")
    k = sub.add_parser("keygen", help="write private.pem and public.pem")
    k.add_argument("--out", type=Path, required=True, help="directory")
    k.add_argument("--type", choices=KEY_TYPES, default="ec", help="default ec (P-256, ES256)")
    i = sub.add_parser("inspect", help="print a token's claims, expiry and problems (unverified)")
    i.add_argument("token", nargs="?", help="the token (default: read from stdin)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "mint":
            key = load_private_key(args.key)
            token = mint(
                key,
                ttl_s=args.ttl,
                admin=args.admin,
                prefix=args.prefix,
                issuer=args.iss,
                audience=args.aud,
                subject=args.sub,
            )
            sys.stdout.write(token + "\n")
        elif args.command == "keygen":
            private_path, public_path = write_key_pair(args.out, args.type)
            sys.stdout.write(f"{private_path}\n{public_path}\n")
        else:
            info = inspect((args.token or sys.stdin.read()).strip())
            exp = info.expires_at
            report = {
                "alg": info.algorithm,
                "claims": info.claims,
                "expires_in_s": None if exp is None else exp - int(time.time()),
                "problems": info.problems(),
            }
            sys.stdout.write(json.dumps(report, indent=2) + "\n")
            return 1 if info.problems() else 0
    except TokenError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
