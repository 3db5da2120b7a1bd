"""The container images, built with podman from the Dockerfiles as written and run
the way the chart runs them (scripts/images/build.sh and scripts/images/smoke.py).

Slow (a cold build debootstraps a base and installs from PyPI). Nothing here is
skipped: without podman (and no apt-get to install it) or without root, the build
fails and so do these tests. Deselect them explicitly with ``-m "not images"``.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.images.smoke import image_tag

pytestmark = [pytest.mark.images, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = ("Dockerfile.gateway", "Dockerfile.worker")


def run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Like subprocess.run, but a timeout or an interruption sends SIGTERM first,
    so that the smoke script removes its containers before it goes."""
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except BaseException:
        proc.terminate()
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


def output(proc: subprocess.CompletedProcess[str]) -> str:
    out, err = proc.stdout[-6000:], proc.stderr[-6000:]
    return f"exit {proc.returncode}\n--- stdout\n{out}\n--- stderr\n{err}"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def images() -> dict[str, str]:
    before = {name: digest(ROOT / name) for name in DOCKERFILES}
    proc = run(["bash", "scripts/images/build.sh"], timeout=1500)
    assert proc.returncode == 0, output(proc)
    assert {name: digest(ROOT / name) for name in DOCKERFILES} == before
    tag = image_tag()
    return {
        "gateway": f"longhaul-gateway:{tag}",
        "worker": f"longhaul-worker:{tag}",
        "example": f"longhaul-acme-jobs:{tag}",
    }


def smoke(images: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "scripts.images.smoke"]
    cmd += ["--gateway-image", images["gateway"], "--worker-image", images["worker"]]
    cmd += ["--example-image", images.get("example", ""), *args]
    return run(cmd, timeout=600)


def assert_cleaned_up(proc: subprocess.CompletedProcess[str]) -> None:
    prefix = re.search(r"smoke: run (lhsmoke-[0-9a-f]+)", proc.stdout).group(1)
    left = run(["podman", "ps", "-a", "-q", "--filter", f"label=io.longhaul.smoke={prefix}"], 60)
    assert left.returncode == 0 and left.stdout.strip() == "", left.stdout
    volumes = run(
        ["podman", "volume", "ls", "-q", "--filter", f"label=io.longhaul.smoke={prefix}"], 60
    )
    assert volumes.returncode == 0 and volumes.stdout.strip() == "", output(volumes)
    networks = run(["podman", "network", "ls", "-q", "--filter", f"name=^{prefix}-net$"], 60)
    assert networks.returncode == 0 and networks.stdout.strip() == "", output(networks)


def test_the_images_pass_the_smoke_test(images: dict[str, str], tmp_path: Path) -> None:
    report = tmp_path / "REPORT.md"
    proc = smoke(images, "--report", str(report), "--start-samples", "0")
    assert proc.returncode == 0, output(proc)
    assert "SMOKE FAILED" not in proc.stderr
    # examples/acme-jobs/Dockerfile, built FROM the worker image, ran its own kinds.
    assert "smoke: the example project's image runs its own kinds: ok" in proc.stdout
    text = report.read_text()
    for heading in (
        "## Images",
        "## Cold start to ready",
        "## What the final images still contain",
    ):
        assert heading in text
    # A final stage must not carry build tools or build configuration.
    for what in ("uv binary (build tool)", "compilers, make, binutils", "build configuration"):
        row = next(line for line in text.splitlines() if line.startswith(f"| {what}"))
        assert "| absent |" in row, row
    assert_cleaned_up(proc)


# Deliberately broken variants, derived from the real Dockerfiles in a temp dir.
BROKEN = {
    # The entrypoint writes to the root filesystem, which the chart mounts read-only.
    "gateway-writes-rootfs": (
        "Dockerfile.gateway",
        'CMD ["python", "-m", "services.gateway"]',
        'CMD ["sh", "-c", "date > /app/started-at && exec python -m services.gateway"]',
        "--gateway-image",
        ["SMOKE FAILED: gateway start", "Read-only file system"],
    ),
    # The entrypoint names a module that does not exist.
    "worker-wrong-entrypoint": (
        "Dockerfile.worker",
        'CMD ["python", "-m", "services.worker"]',
        'CMD ["python", "-m", "services.wroker"]',
        "--worker-image",
        ["SMOKE FAILED: worker-1 start", "No module named services.wroker"],
    ),
}


@pytest.mark.parametrize("variant", sorted(BROKEN))
def test_a_broken_image_fails_the_smoke_test(
    images: dict[str, str], tmp_path: Path, variant: str
) -> None:
    source, line, replacement, flag, expected = BROKEN[variant]
    text = (ROOT / source).read_text()
    assert text.count(line) == 1, f"{source} no longer has {line}"
    dockerfile = tmp_path / f"{source}.broken-{variant}"
    dockerfile.write_text(
        text.replace(line, f"# BROKEN ON PURPOSE (tests/images: {variant})\n{replacement}")
    )
    tag = f"longhaul-broken-{variant}:test"
    try:
        built = run(["bash", "scripts/images/build.sh", "--variant", str(dockerfile), tag], 900)
        assert built.returncode == 0, output(built)
        role = flag.removeprefix("--").removesuffix("-image")
        proc = smoke({**images, role: tag, "example": ""}, "--no-analysis", "--start-samples", "0")
        assert proc.returncode == 1, output(proc)
        for text in expected:
            assert text in proc.stderr, output(proc)
        assert_cleaned_up(proc)
    finally:
        run(["podman", "rmi", "--force", tag], 120)
