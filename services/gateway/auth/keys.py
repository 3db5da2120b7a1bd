"""API keys: the key format, the key file and its reloading.

A key is ``lh_<key id>_<secret>``: the id (no ``_``) finds the key's entry
without scanning, the secret is 32 random bytes from ``secrets`` (43 base64url
characters). The file holds one line per key, never the key itself::

    # key_id  tenant  scopes                          hash
    k3f9a1c2  acme    jobs:submit,jobs:read            sha256:5e88...

The hash is a plain SHA-256 of the whole key, compared with
``hmac.compare_digest``. A slow password hash (argon2, scrypt) exists to make
guessing a low-entropy secret expensive; a 256-bit random secret cannot be
guessed however fast each try is, so a fast hash loses nothing and keeps a
request's check at a microsecond.

Several lines may name the same tenant (rotation: add the new key, move the
clients, delete the old line). The file is re-read when its inode, size or
mtime changes (checked at most every ``reload_interval_s``), which also follows
Kubernetes' symlink swap of a mounted Secret. A file that cannot be read or
does not parse, or that holds no key at all (what a half-written file looks
like), is refused: the keys loaded before stay in force, and it is logged.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

from services.gateway.auth.principal import ALL_SCOPES, AuthFailure, Principal
from services.gateway.auth.reloading_file import ReloadingFile
from services.gateway.auth.tenancy import check_tenant

KEY_PREFIX = "lh_"
KEY_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,31}$"
_KEY_ID = re.compile(KEY_ID_PATTERN)
_HASH = re.compile(r"^sha256:([0-9a-f]{64})$")
#: Bytes of randomness in a generated key.
SECRET_BYTES = 32

log = structlog.get_logger("longhaul.gateway.auth")


class KeyFileError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class KeyEntry:
    key_id: str
    tenant: str
    scopes: frozenset[str]
    digest: bytes

    def line(self) -> str:
        scopes = ",".join(sorted(self.scopes))
        return f"{self.key_id} {self.tenant} {scopes} sha256:{self.digest.hex()}"


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def new_key(tenant: str, scopes: frozenset[str], key_id: str | None = None) -> tuple[str, KeyEntry]:
    """A fresh key and its file entry; the key is shown once and never stored."""
    check_tenant(tenant)
    _check_scopes(scopes)
    key_id = key_id or "k" + secrets.token_hex(6)
    if not _KEY_ID.fullmatch(key_id):
        raise ValueError(f"key id {key_id!r} does not match {KEY_ID_PATTERN}")
    key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(SECRET_BYTES)}"
    return key, KeyEntry(key_id, tenant, scopes, hash_key(key))


def split_key(key: str) -> str | None:
    """The key id of something shaped like an API key, else None."""
    if not key.startswith(KEY_PREFIX):
        return None
    key_id, sep, secret = key[len(KEY_PREFIX) :].partition("_")
    if not sep or not secret or not _KEY_ID.fullmatch(key_id):
        return None
    return key_id


def _check_scopes(scopes: frozenset[str]) -> None:
    unknown = scopes - ALL_SCOPES
    if unknown or not scopes:
        raise ValueError(
            f"scopes must be a non-empty subset of {', '.join(sorted(ALL_SCOPES))}"
            + (f"; unknown: {', '.join(sorted(unknown))}" if unknown else "")
        )


def parse_key_file(text: str) -> dict[str, KeyEntry]:
    entries: dict[str, KeyEntry] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) != 4:
            raise KeyFileError(f"line {number}: expected 'key_id tenant scopes sha256:<hex>'")
        key_id, tenant, scopes_text, hashed = fields
        if not _KEY_ID.fullmatch(key_id):
            raise KeyFileError(f"line {number}: key id {key_id!r} does not match {KEY_ID_PATTERN}")
        if key_id in entries:
            raise KeyFileError(f"line {number}: key id {key_id!r} appears twice")
        match = _HASH.fullmatch(hashed)
        if not match:
            raise KeyFileError(f"line {number}: the hash must be sha256:<64 hex digits>")
        scopes = frozenset(s for s in scopes_text.split(",") if s)
        try:
            check_tenant(tenant)
            _check_scopes(scopes)
        except ValueError as exc:
            raise KeyFileError(f"line {number}: {exc}") from exc
        entries[key_id] = KeyEntry(key_id, tenant, scopes, bytes.fromhex(match.group(1)))
    if not entries:
        raise KeyFileError("no key in the file")
    return entries


class KeyRing:
    """The keys of one file, kept current; ``verify`` is a dict lookup and one hash."""

    def __init__(
        self,
        path: Path,
        *,
        reload_interval_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._file = ReloadingFile(
            path,
            parse_key_file,
            errors=(KeyFileError,),
            what="api key file",
            reload_interval_s=reload_interval_s,
            clock=clock,
        )
        log.info("api keys loaded", path=str(path), keys=len(self._file.value))

    @property
    def entries(self) -> dict[str, KeyEntry]:
        return self._file.value

    @property
    def reloads(self) -> int:
        return self._file.reloads

    def maybe_reload(self) -> None:
        self._file.current()

    def verify(self, key: str, key_id: str) -> Principal:
        entry = self._file.current().get(key_id)
        if entry is None:
            raise AuthFailure("unknown_key", "The API key is not valid.")
        if not hmac.compare_digest(hash_key(key), entry.digest):
            raise AuthFailure("bad_key", "The API key is not valid.")
        return Principal(entry.tenant, entry.key_id, entry.scopes, "api_key")
