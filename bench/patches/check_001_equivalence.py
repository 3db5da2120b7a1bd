"""Differential check for patch 001: the indexed state machine against the SDK's own.

    .venv/bin/python bench/patches/check_001_equivalence.py [sequences]

Copies ``services/`` to a scratch directory, applies
``001-devserver-indexed-state.patch`` there, and drives the patched
``IndexedServerState`` and the SDK's unmodified ``ServerState`` with the same
random sequences of requests and clock ticks (promise create/get/settle/
register_listener, task create/acquire/release/fulfil/fence/suspend/heartbeat,
with shared branches, targets, timers, delays and expiring timeouts). After
every step it compares the response, the outgoing messages, and the whole state
(promises with awaiters and subscribers, tasks, both timeout tables in order).
Exit status 0 and ``ok`` when nothing differs.
"""

from __future__ import annotations

import copy
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PATCH = HERE / "001-devserver-indexed-state.patch"


def snapshot(st: Any) -> tuple:
    return (
        {
            k: (p.to_record(), sorted(p.awaiters), sorted(p.subscribers))
            for k, p in st.promises.items()
        },
        list(st.promises),
        {k: (t.to_record(), sorted(t.resumes)) for k, t in st.tasks.items()},
        [(pt.id, pt.timeout) for pt in st.p_timeouts],
        [(tt.id, tt.typ, tt.timeout) for tt in st.t_timeouts],
    )


def request(
    rnd: random.Random, step: int, now: int, ids: list[str], roots: list[str], ref: Any
) -> dict:
    kind = rnd.choice(
        [
            "promise.create", "promise.create", "promise.get", "promise.settle",
            "promise.register_listener", "task.create", "task.acquire", "task.release",
            "task.fulfill", "task.fence", "task.suspend", "task.suspend", "task.heartbeat",
        ]
    )  # fmt: skip
    req: dict[str, Any] = {"kind": kind, "corrId": f"c{step}"}

    def known() -> str:
        return rnd.choice(ids)

    def new_id(pid: str) -> str:
        if pid not in ids:
            ids.append(pid)
        return pid

    if kind == "promise.create":
        root = rnd.choice(roots)
        pid = new_id(root if rnd.random() < 0.3 else f"{root}.{rnd.randrange(6)}")
        tags = {"resonate:branch": root, "resonate:origin": root}
        if rnd.random() < 0.6:
            tags["resonate:target"] = "poll://any@worker"
        if rnd.random() < 0.1:
            tags["resonate:timer"] = "true"
        if rnd.random() < 0.1:
            tags["resonate:delay"] = str(now + rnd.choice([-5, 50, 40_000]))
        timeout = now + rnd.choice([-1, 10, 1000, 100_000, 10**9])
        req.update(id=pid, timeoutAt=timeout, param={"d": step}, tags=tags)
    elif kind == "promise.get":
        req["id"] = known()
    elif kind == "promise.settle":
        state = rnd.choice(["resolved", "rejected", "rejected_canceled"])
        req.update(id=known(), state=state, value={"v": step})
    elif kind == "promise.register_listener":
        req.update(awaited=known(), address=f"poll://uni@gw/{rnd.randrange(3)}")
    elif kind == "task.create":
        root = rnd.choice(roots)
        pid = new_id(root if rnd.random() < 0.5 else f"{root}.t{rnd.randrange(4)}")
        data = {
            "id": pid,
            "timeoutAt": now + rnd.choice([-1, 100_000]),
            "param": {},
            "tags": {"resonate:branch": root},
        }
        req.update(
            pid=f"w{rnd.randrange(2)}",
            ttl=rnd.choice([1000, 60_000]),
            action={"kind": "promise.create", "data": data},
        )
    elif kind == "task.acquire":
        req.update(
            id=known(), pid=f"w{rnd.randrange(2)}", ttl=rnd.choice([1000, 60_000]), version=0
        )
    elif kind == "task.release":
        req.update(id=known(), version=0)
    elif kind == "task.fulfill":
        tid = known()
        target = known() if rnd.random() < 0.2 else tid
        settle = {"id": target, "state": "resolved", "value": {}}
        req.update(id=tid, version=0, action={"kind": "promise.settle", "data": settle})
    elif kind == "task.fence":
        tid = known()
        task = ref.tasks.get(tid)
        child = new_id(f"{tid}.f{rnd.randrange(4)}")
        if rnd.random() < 0.5:
            data = {
                "id": child,
                "timeoutAt": now + 100_000,
                "param": {},
                "tags": {"resonate:branch": tid.split(".")[0]},
            }
            action = {"kind": "promise.create", "data": data}
        else:
            action = {
                "kind": "promise.settle",
                "data": {"id": child, "state": "resolved", "value": {}},
            }
        req.update(id=tid, version=task.version if task else 0, action=action)
    elif kind == "task.suspend":
        tid = known()
        task = ref.tasks.get(tid)
        actions = [
            {"kind": "promise.register_callback", "data": {"awaited": known(), "awaiter": tid}}
            for _ in range(rnd.randrange(1, 3))
        ]
        req.update(id=tid, version=task.version if task else 0, actions=actions)
    else:  # task.heartbeat
        tasks = [{"id": known(), "version": rnd.choice([0, 1, None])} for _ in range(2)]
        req.update(pid=f"w{rnd.randrange(2)}", tasks=tasks)
    return req


def run(seed: int, steps: int = 400) -> None:
    from resonate.connections import local
    from resonate.error import ServerError

    from services.devserver.reference_state import IndexedServerState

    rnd = random.Random(seed)
    ref, new = local.ServerState(), IndexedServerState()
    now = 1_000_000
    roots = [f"r{i}" for i in range(8)]
    ids = list(roots)
    for step in range(steps):
        now += rnd.choice([0, 1, 5, 100, 1000, 20_000, 31_000])
        if rnd.random() < 0.03:
            for st in (ref, new):
                st.outgoing.clear()
                st.tick(now)
        else:
            req = request(rnd, step, now, ids, roots, ref)

            def call(st: Any, req: dict = req, now: int = now) -> Any:
                try:
                    return st.apply(now, copy.deepcopy(req))
                except ServerError as exc:
                    return ("error", exc.code)

            a, b = call(ref), call(new)
            assert a == b, f"seed {seed} step {step} {req['kind']}: {a} != {b}"
        out_a = [(m.address, m.message) for m in ref.outgoing]
        out_b = [(m.address, m.message) for m in new.outgoing]
        assert out_a == out_b, f"seed {seed} step {step}: outgoing {out_a} != {out_b}"
        assert snapshot(ref) == snapshot(new), f"seed {seed} step {step}: state differs"


def main() -> int:
    sequences = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    scratch = os.environ.get("CHECK_001_TREE")
    if scratch is None:
        root = Path(tempfile.mkdtemp(prefix="check-001-"))
        try:
            shutil.copytree(REPO / "services", root / "services")
            subprocess.run(["git", "apply", str(PATCH)], cwd=root, check=True)
            env = {**os.environ, "CHECK_001_TREE": str(root)}
            argv = [sys.executable, str(Path(__file__).resolve()), str(sequences)]
            return subprocess.run(argv, cwd=root, env=env, check=False).returncode
        finally:
            shutil.rmtree(root, ignore_errors=True)
    sys.path.insert(0, scratch)
    for seed in range(sequences):
        run(seed)
    sys.stdout.write(f"ok: {sequences} random sequences, no difference\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
