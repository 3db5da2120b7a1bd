"""The API key format, the key file, and its reloading (rotation, Kubernetes' symlink swap)."""

from __future__ import annotations

import asyncio
import io
import os
from pathlib import Path

import pytest

from services.gateway.auth.keys import KeyFileError, KeyRing, new_key, parse_key_file, split_key
from services.gateway.auth.principal import ALL_SCOPES, AuthFailure
from services.gateway.keys import main as keys_cli
from tests.gateway.conftest import AuthGateway, write_keys
from tests.support import json_logging

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_keys_are_high_entropy_and_carry_their_id() -> None:
    key, entry = new_key("acme", ALL_SCOPES)
    assert key.startswith(f"lh_{entry.key_id}_")
    assert split_key(key) == entry.key_id
    secret = key.removeprefix(f"lh_{entry.key_id}_")
    assert len(secret) == 43  # 32 random bytes, base64url
    assert key not in entry.line() and entry.line().endswith(entry.digest.hex())
    assert new_key("acme", ALL_SCOPES)[0] != key
    for bad in ("lh_", "lh_id", "lh__secret", "lh_UPPER_x", "sk_abc_def", "Bearer"):
        assert split_key(bad) is None, bad


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no key"),
        ("# only a comment\n\n", "no key"),
        ("k1 acme jobs:read\n", "expected"),
        ("k1 acme jobs:read md5:abc\n", "sha256"),
        ("k1 ACME jobs:read sha256:" + "0" * 64, "tenant"),
        ("k1 ledger jobs:read sha256:" + "0" * 64, "reserved"),
        ("k1 acme jobs:write sha256:" + "0" * 64, "unknown: jobs:write"),
        ("k_1 acme jobs:read sha256:" + "0" * 64, "key id"),
        ("k1 acme jobs:read sha256:" + "0" * 64 + "\nk1 b jobs:read sha256:" + "1" * 64, "twice"),
    ],
)
def test_bad_key_files_are_refused(text: str, message: str) -> None:
    with pytest.raises(KeyFileError, match=message):
        parse_key_file(text)


def test_several_keys_per_tenant_and_comments() -> None:
    (_, one), (_, two) = new_key("acme", ALL_SCOPES), new_key("acme", frozenset({"jobs:read"}))
    entries = parse_key_file(f"# header\n{one.line()}  # old, rotate out\n\n{two.line()}\n")
    assert set(entries) == {one.key_id, two.key_id}
    assert entries[two.key_id].scopes == {"jobs:read"}


def _ring(path: Path, clock: Clock) -> KeyRing:
    return KeyRing(path, reload_interval_s=1.0, clock=clock)


def test_reload_is_throttled_and_follows_edits(tmp_path: Path) -> None:
    path, clock = tmp_path / "keys", Clock()
    key1, e1 = new_key("acme", ALL_SCOPES)
    key2, e2 = new_key("acme", ALL_SCOPES)
    write_keys(path, [e1])
    ring = _ring(path, clock)
    assert ring.verify(key1, e1.key_id).tenant == "acme"
    write_keys(path, [e2])  # rotation: the old key is gone, the new one in
    with pytest.raises(AuthFailure):  # not yet looked at: at most once a second
        ring.verify(key2, e2.key_id)
    clock.now = 1.0
    assert ring.verify(key2, e2.key_id).id == e2.key_id
    with pytest.raises(AuthFailure) as revoked:
        ring.verify(key1, e1.key_id)
    assert revoked.value.reason == "unknown_key"


def test_wrong_secret_of_a_known_id(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    key, entry = new_key("acme", ALL_SCOPES)
    write_keys(path, [entry])
    with pytest.raises(AuthFailure) as bad:
        _ring(path, Clock()).verify(key[:-1] + ("A" if key[-1] != "A" else "B"), entry.key_id)
    assert bad.value.reason == "bad_key" and bad.value.status == 401


@pytest.mark.parametrize(
    "damage",
    ["half-written", "empty", "deleted", "garbage"],
)
def test_a_bad_new_file_keeps_the_old_keys_and_is_logged_once(tmp_path: Path, damage: str) -> None:
    path, clock = tmp_path / "keys", Clock()
    key, entry = new_key("acme", ALL_SCOPES)
    write_keys(path, [entry])
    ring = _ring(path, clock)
    if damage == "half-written":
        path.write_text(entry.line()[:30])
    elif damage == "empty":
        path.write_text("")
    elif damage == "deleted":
        path.unlink()
    else:
        path.write_bytes(b"\xff\xfe not text")
    stream = io.StringIO()
    with json_logging("gateway", stream) as lines:
        for step in range(1, 4):
            clock.now = float(step)
            assert ring.verify(key, entry.key_id).tenant == "acme"
        refused = [line for line in lines() if line["event"].startswith("api key file refused")]
    assert len(refused) == 1 and refused[0]["level"] == "error"
    # Fixed: the new file is taken.
    key2, entry2 = new_key("globex", ALL_SCOPES)
    write_keys(path, [entry2])
    clock.now = 10.0
    assert ring.verify(key2, entry2.key_id).tenant == "globex"


def test_kubernetes_symlink_swap_is_followed(tmp_path: Path) -> None:
    """A mounted Secret: keys -> ..data/keys, ..data -> ..<timestamp>; an update swaps ..data."""
    clock = Clock()
    key1, e1 = new_key("acme", ALL_SCOPES)
    key2, e2 = new_key("acme", ALL_SCOPES)
    (tmp_path / "..v1").mkdir()
    (tmp_path / "..v1" / "keys").write_text(e1.line() + "\n")
    os.symlink("..v1", tmp_path / "..data")
    os.symlink("..data/keys", tmp_path / "keys")
    ring = _ring(tmp_path / "keys", clock)
    assert ring.verify(key1, e1.key_id)
    (tmp_path / "..v2").mkdir()
    (tmp_path / "..v2" / "keys").write_text(e2.line() + "\n")
    os.symlink("..v2", tmp_path / "..data_tmp")
    os.replace(tmp_path / "..data_tmp", tmp_path / "..data")
    clock.now = 1.0
    assert ring.verify(key2, e2.key_id)
    with pytest.raises(AuthFailure):
        ring.verify(key1, e1.key_id)
    assert ring.reloads == 1


def test_a_bad_file_at_boot_fails(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text("nonsense\n")
    with pytest.raises(KeyFileError):
        _ring(path, Clock())


async def test_rotation_while_requests_run(auth_gateway: AuthGateway) -> None:
    """Clients poll with the old key while the file is edited: none of them sees a failure
    until the old key's line goes, the new key works once it is added."""
    gw = auth_gateway
    job = (
        await gw.client.post("/v1/jobs", json={"kind": "echo", "input": {}}, headers=gw.auth("a"))
    ).json()
    entries = {n: e for n, e in _entries(gw).items()}
    new_plain, new_entry = new_key("acme", ALL_SCOPES, key_id="a-next")
    statuses: list[int] = []
    stop = asyncio.Event()

    async def poll() -> None:
        while not stop.is_set():
            response = await gw.client.get(f"/v1/jobs/{job['id']}", headers=gw.auth("a"))
            statuses.append(response.status_code)
            await asyncio.sleep(0.005)

    pollers = [asyncio.create_task(poll()) for _ in range(4)]
    await asyncio.sleep(0.1)
    write_keys(gw.keys_file, [*entries.values(), new_entry])  # step 1: add the new key
    new_headers = {"Authorization": f"Bearer {new_plain}"}
    for _ in range(100):
        if (await gw.client.get(f"/v1/jobs/{job['id']}", headers=new_headers)).status_code == 200:
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the added key never worked")
    await asyncio.sleep(0.1)
    stop.set()
    await asyncio.gather(*pollers)
    assert statuses and set(statuses) == {200}, set(statuses)
    # step 2: the old line goes; the old key stops working, the new one keeps working.
    write_keys(gw.keys_file, [e for n, e in entries.items() if n != "a"] + [new_entry])
    for _ in range(100):
        if (await gw.client.get(f"/v1/jobs/{job['id']}", headers=gw.auth("a"))).status_code == 401:
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the removed key kept working")
    assert (await gw.client.get(f"/v1/jobs/{job['id']}", headers=new_headers)).status_code == 200


def _entries(gw: AuthGateway):
    ring = gw.app.state.auth.keys
    ring.maybe_reload()
    return dict(ring.entries)


def test_cli_prints_the_key_once_and_adds_a_line_the_gateway_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "keys"
    assert (
        keys_cli(
            ["new", "--tenant", "acme", "--scopes", "jobs:submit,jobs:read", "--file", str(path)]
        )
        == 0
    )
    assert keys_cli(["new", "--tenant", "acme", "--id", "second", "--file", str(path)]) == 0
    out = capsys.readouterr().out
    plain = [line.rsplit(" ", 1)[1] for line in out.splitlines() if line.startswith("key ")]
    assert len(plain) == 2
    text = path.read_text()
    assert all(p not in text for p in plain)
    ring = KeyRing(path, reload_interval_s=1)
    first = ring.verify(plain[0], split_key(plain[0]) or "")
    assert (first.tenant, first.scopes) == ("acme", {"jobs:submit", "jobs:read"})
    assert ring.verify(plain[1], "second").scopes == ALL_SCOPES
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    # a duplicate id or a bad tenant changes nothing
    assert keys_cli(["new", "--tenant", "acme", "--id", "second", "--file", str(path)]) == 2
    assert keys_cli(["new", "--tenant", "Acme!", "--file", str(path)]) == 2
    assert path.read_text() == text
    # without --file: the line to add
    assert keys_cli(["new", "--tenant", "globex", "--scopes", "jobs:read"]) == 0
    line = capsys.readouterr().out.splitlines()[-1]
    assert line.startswith("line for the key file: ") and " globex jobs:read sha256:" in line
