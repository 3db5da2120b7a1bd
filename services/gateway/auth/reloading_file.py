"""A file parsed at start and re-parsed when it changes: API keys, a JWKS.

Checked at most every ``reload_interval_s`` by its ``stat`` (device, inode,
size, mtime), which follows the symlink swap Kubernetes does for a mounted
Secret. A version that cannot be read or parsed is refused and logged once:
what was loaded before stays in force. A bad file at start fails the boot.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import structlog

log = structlog.get_logger("longhaul.gateway.auth")


def _signature(path: Path) -> tuple[int, int, int, int]:
    st = os.stat(path)  # follows the symlinks of a mounted Secret
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class ReloadingFile[T]:
    def __init__(
        self,
        path: Path,
        parse: Callable[[str], T],
        *,
        errors: tuple[type[Exception], ...],
        what: str,
        reload_interval_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._parse = parse
        self._errors = (OSError, UnicodeDecodeError, *errors)
        self._what = what
        self._interval = reload_interval_s
        self._clock = clock
        self._signature = _signature(path)
        self.value: T = parse(path.read_text())  # a bad file fails at boot
        self._next_check = clock() + reload_interval_s
        #: The file version last refused, logged once; () for none yet.
        self._refused: tuple[int, ...] | None = ()
        self.reloads = 0

    def current(self) -> T:
        """The parsed file, re-read first if it changed and the interval has passed."""
        now = self._clock()
        if now < self._next_check:
            return self.value
        self._next_check = now + self._interval
        signature = None
        try:
            signature = _signature(self.path)
            if signature in (self._signature, self._refused):
                return self.value
            text = self.path.read_text()
            if _signature(self.path) != signature:
                return self.value  # changed while read: read it again next time
            value = self._parse(text)
        except self._errors as exc:
            if self._refused != signature:  # once per version of the file
                log.error(
                    f"{self._what} refused; what was loaded before stays in force",
                    path=str(self.path),
                    error=str(exc),
                )
            self._refused = signature
            return self.value
        self.value, self._signature, self._refused = value, signature, ()
        self.reloads += 1
        log.info(f"{self._what} reloaded", path=str(self.path))
        return value
