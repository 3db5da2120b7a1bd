"""``python -m services.gateway.keys new --tenant acme [--scopes ...] [--file PATH]``.

Creates an API key, prints it once (it is stored nowhere) and the line for the
gateway's key file (``LONGHAUL_AUTH_API_KEYS_FILE``). With ``--file`` the line
is added to that file atomically (a new file renamed over the old one), so a
gateway reading it never sees half of it. To revoke a key, delete its line;
to rotate, add the new key, move the clients, then delete the old line.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from services.gateway.auth.keys import KeyFileError, new_key, parse_key_file
from services.gateway.auth.principal import ALL_SCOPES

HEADER = "# Longhaul API keys: key_id tenant scopes sha256:<hash of the key>\n"


def append_line(path: Path, line: str) -> None:
    existing = path.read_text() if path.exists() else HEADER
    if existing and not existing.endswith("\n"):
        existing += "\n"
    text = existing + line + "\n"
    parse_key_file(text)  # never write a file the gateway would refuse
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.gateway.keys")
    commands = parser.add_subparsers(dest="command", required=True)
    new = commands.add_parser("new", help="create a key; print it and its key-file line")
    new.add_argument("--tenant", required=True, help="tenant the key acts for, e.g. acme")
    new.add_argument(
        "--scopes",
        default=",".join(sorted(ALL_SCOPES)),
        help="comma-separated, of jobs:submit, jobs:read, jobs:cancel (default: all three)",
    )
    new.add_argument("--id", dest="key_id", help="key id (default: generated)")
    new.add_argument("--file", type=Path, help="add the line to this key file")
    args = parser.parse_args(argv)
    scopes = frozenset(s.strip() for s in args.scopes.split(",") if s.strip())
    try:
        key, entry = new_key(args.tenant, scopes, args.key_id)
        if args.file is not None:
            if args.file.exists() and entry.key_id in parse_key_file(args.file.read_text()):
                raise ValueError(f"key id {entry.key_id!r} is already in {args.file}")
            append_line(args.file, entry.line())
    except (ValueError, KeyFileError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    print(f"key (shown once, store it now): {key}")  # noqa: T201
    if args.file is not None:
        print(f"added to {args.file}: {entry.line()}")  # noqa: T201
    else:
        print(f"line for the key file: {entry.line()}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
