"""`make run`'s program: starts everything, serves jobs, and Ctrl-C leaves no process behind."""

from __future__ import annotations

import re
import signal
import sys
from pathlib import Path

import httpx
import pytest

from tests.stack.conftest import StartMakeRun
from tests.stack.make_run import environ_of

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(60),
    pytest.mark.skipif(sys.platform != "linux", reason="reads /proc to find leftover processes"),
]


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_stack_starts_serves_and_stops_cleanly(
    make_run: StartMakeRun, stop_signal: signal.Signals
) -> None:
    run = make_run()
    run.wait_for("Longhaul is up")
    assert len(run.leftovers()) >= 5  # stack, dev server, gateway x2, workers
    job = httpx.post(f"{run.base_url}/v1/jobs", json={"kind": "echo", "input": {"a": 1}}).json()
    done = httpx.get(f"{run.base_url}/v1/jobs/{job['id']}", params={"wait": 10}).json()
    assert done["result"] == {"a": 1}
    # make run says where the dev server's own request counter is; it counted the job.
    line = run.lines[run.wait_for("Prometheus metrics: ")]
    server_metrics = re.search(r"dev Resonate server (\S+/metrics)", line)
    assert server_metrics is not None, line
    scrape = httpx.get(server_metrics.group(1)).text
    assert re.search(r'resonate_request_total\{kind="promise.create",status="201"\} [1-9]', scrape)

    assert run.interrupt(stop_signal) == 0
    assert run.leftovers() == []


def test_dev_server_keeps_its_state_in_the_state_dir(make_run: StartMakeRun) -> None:
    run = make_run()
    run.wait_for("Longhaul is up")
    db = run.state_dir / "devserver.sqlite3"
    assert run.state_dir.is_dir()
    assert any(str(db) in line for line in run.lines[:5]), run.tail()
    env = environ_of(run.components()["devserver"])
    assert env["LONGHAUL_DEVSERVER_DB"] == str(db)
    # What the chart gives the real server, unless the caller says otherwise.
    assert env["RESONATE_TASKS__RETRY_TIMEOUT"] == "5000"
    assert run.interrupt() == 0


def test_fresh_start_deletes_only_the_dev_server_state(
    make_run: StartMakeRun, tmp_path: Path
) -> None:
    state_dir = tmp_path / "run-0" / "state"  # where make_run puts the first run's state
    state_dir.mkdir(parents=True)
    old = {"devserver.sqlite3": "old promises", "devserver.sqlite3-wal": "old log"}
    for name, text in old.items():
        (state_dir / name).write_text(text)
    (state_dir / "notes.txt").write_text("mine")
    run = make_run(LONGHAUL_STACK_FRESH="true", RESONATE_TASKS__RETRY_TIMEOUT="1234")
    run.wait_for("Longhaul is up")
    for name, text in old.items():
        run.wait_for(f"fresh start: removed {re.escape(str(state_dir / name))}$", timeout=0)
        # A durable dev server makes a new, empty file of that name.
        path = state_dir / name
        assert not path.exists() or path.read_text(errors="replace") != text
    assert (state_dir / "notes.txt").read_text() == "mine"
    env = environ_of(run.components()["devserver"])
    assert env["RESONATE_TASKS__RETRY_TIMEOUT"] == "1234"
    assert run.interrupt() == 0


def test_auth_is_off_by_default_and_says_so_loudly(make_run: StartMakeRun) -> None:
    run = make_run()
    run.wait_for("Longhaul is up")
    assert any("AUTHENTICATION IS OFF" in line for line in run.lines), run.tail()
    gateway_env = environ_of(run.components()["gateway"])
    assert gateway_env["LONGHAUL_AUTH_MODE"] == "none"
    # The job-id secret is generated once in the state dir, private, and kept.
    secret_file = run.state_dir / "id-secret"
    assert gateway_env["LONGHAUL_ID_SECRET"] == secret_file.read_text().strip()
    assert secret_file.stat().st_mode & 0o077 == 0
    job = httpx.post(f"{run.base_url}/v1/jobs", json={"kind": "echo", "input": {}}).json()
    assert job["id"].startswith("default.job-")
    assert run.interrupt() == 0


def test_with_a_key_file_tenants_cannot_see_each_other(
    make_run: StartMakeRun, tmp_path: Path
) -> None:
    """The issue's local check: a curl with tenant A's key submits and reads a job, the same
    curl with tenant B's key gets 404 for it."""
    from services.gateway.keys import main as keys_cli

    keys = tmp_path / "api-keys"
    plain = {}
    for tenant in ("acme", "globex"):
        import contextlib
        import io

        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert keys_cli(["new", "--tenant", tenant, "--file", str(keys)]) == 0
        plain[tenant] = out.getvalue().splitlines()[0].rsplit(" ", 1)[1]
    run = make_run(LONGHAUL_AUTH_API_KEYS_FILE=str(keys))
    run.wait_for("Longhaul is up")
    assert not any("AUTHENTICATION IS OFF" in line for line in run.lines)
    assert any("authentication: API keys from" in line for line in run.lines)
    url = f"{run.base_url}/v1/jobs"

    def auth(tenant: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {plain[tenant]}"}

    assert httpx.post(url, json={"kind": "echo", "input": {}}).status_code == 401
    job = httpx.post(url, json={"kind": "echo", "input": {"a": 1}}, headers=auth("acme")).json()
    assert job["id"].startswith("acme.job-")
    done = httpx.get(f"{url}/{job['id']}", params={"wait": 10}, headers=auth("acme"))
    assert done.status_code == 200 and done.json()["result"] == {"a": 1}
    other = httpx.get(f"{url}/{job['id']}", headers=auth("globex"))
    assert other.status_code == 404
    assert httpx.delete(f"{url}/{job['id']}", headers=auth("globex")).status_code == 404
    assert run.interrupt() == 0


def test_make_run_with_resonate_auth_on(make_run: StartMakeRun) -> None:
    """LONGHAUL_STACK_RESONATE_AUTH=true: the dev server verifies JWTs, the others mint them."""
    run = make_run(LONGHAUL_STACK_RESONATE_AUTH="true")
    run.wait_for("Longhaul is up")
    key_dir = run.state_dir / "resonate-auth"
    server = environ_of(run.components()["devserver"])
    assert server["RESONATE_AUTH__PUBLICKEY"] == str(key_dir / "public.pem")
    assert server["RESONATE_AUTH__AUD"] == "resonate"
    gateway = environ_of(run.components()["gateway"])
    assert gateway["LONGHAUL_RESONATE_AUTH_PRIVATE_KEY"] == str(key_dir / "private.pem")
    job = httpx.post(f"{run.base_url}/v1/jobs", json={"kind": "echo", "input": {"a": 1}}).json()
    done = httpx.get(f"{run.base_url}/v1/jobs/{job['id']}", params={"wait": 10}).json()
    assert done["result"] == {"a": 1}
    # Without a token the dev server refuses the same read.
    envelope = {
        "kind": "promise.get",
        "head": {"corrId": "1", "version": "2026-04-01"},
        "data": {"id": job["id"]},
    }
    assert httpx.post(f"http://127.0.0.1:{run.devserver_port}/", json=envelope).status_code == 401
    assert run.interrupt() == 0
