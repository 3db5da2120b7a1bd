"""``python -m bench`` (``make bench``): measure, then write bench/results/.

    make bench                                  # everything, ~8½ minutes on 2 cores
    make bench ARGS="--quick"                   # a shorter pass (smoke run, not for the report)
    make bench ARGS="--only submit,status"      # some phases
    make bench ARGS="--report-only"             # rebuild report.md and charts from results.json
    RESONATE_URL=http://host:8001 make bench    # a real Resonate server instead of the dev server
    make bench ARGS="--gateway-url http://127.0.0.1:8000"   # drive a running gateway too

Phases: ceiling, submit, status, e2e, cost, scaling, io_scaling, profile, asgi, ablation, patches,
listing, webhooks, waiting, retention.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from bench import (
    cost,
    environment,
    io_scaling,
    listing,
    phases,
    report,
    retention,
    waiting,
    webhooks,
)

PHASES = (
    "ceiling",
    "submit",
    "status",
    "e2e",
    "cost",
    "scaling",
    "io_scaling",
    "profile",
    "asgi",
    "ablation",
    "patches",
    "listing",
    "webhooks",
    "waiting",
    "retention",
)
RESULTS = Path(__file__).with_name("results")
#: Plan entries whose run measures several systems and returns a mapping of them.
ALL = "all systems"


def _log(msg: str) -> None:
    sys.stdout.write(f"[bench {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stdout.flush()


def _config(args: argparse.Namespace) -> phases.Config:
    cfg = phases.Config()
    if args.quick:
        cfg = phases.Config(
            duration_s=2,
            concurrencies=(1, 16),
            status_jobs=64,
            e2e_duration_s=3,
            hold_clients=16,
            hold_wait_s=2,
            lag_duration_s=1,
            scaling_workers=(1, 2),
            scaling_duration_s=2,
            profile_s=3,
            ab_duration_s=2,
            status_rounds=1,
            cost_jobs=20,
            cost_idle_s=1.0,
            submit_rounds=1,
            preload_promises=3000,
            listing_sizes=(1000, 3000),
            listing_pages=20,
            asgi_requests=3000,
            celery_scaling=False,
            waiting_waits=(2.0, 4.0),
            waiting_cost_polls=4,
            waiting_latency_jobs=10,
            waiting_holders=500,
            waiting_hold_s=8.0,
            waiting_read_connections=16,
            retention_s=3,
            retention_run_s=12,
            retention_rate=10,
            retention_pg_promises=8000,
        )
    if args.duration:
        cfg.duration_s = args.duration
    return cfg


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs (a smoke pass)")
    parser.add_argument("--only", default="", help=f"comma-separated phases of {','.join(PHASES)}")
    parser.add_argument("--skip", default="", help="comma-separated phases to leave out")
    parser.add_argument("--duration", type=float, default=0, help="seconds per closed-loop point")
    parser.add_argument(
        "--gateway-url", default=None, help="drive this Longhaul gateway instead of starting one"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    parser.add_argument(
        "--report-only", action="store_true", help="rebuild the report from results.json"
    )
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        report.write(out)
        _log(f"report rebuilt: {out / 'report.md'}")
        return 0

    started = time.monotonic()
    only = [p for p in args.only.split(",") if p] or list(PHASES)
    skip = {p for p in args.skip.split(",") if p}
    unknown = (set(only) | skip) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases: {sorted(unknown)}")
    wanted = [p for p in PHASES if p in only and p not in skip]
    resonate_url = os.environ.get("RESONATE_URL") or None
    if args.gateway_url:
        wanted = [
            p
            for p in wanted
            if p not in ("cost", "scaling", "io_scaling", "profile", "asgi", "ablation", "patches")
        ]
    if resonate_url:  # the patch and listing runs fill the Resonate server with promises
        # (and the real server serves its request counter on a port of its own: no cost)
        wanted = [p for p in wanted if p not in ("patches", "listing", "cost")]

    tools: dict[str, str | None] = environment.ensure_apt(
        {"wrk": "wrk", "redis-server": "redis-server"}, _log
    )
    if "profile" in wanted:
        tools["py-spy"] = environment.ensure_py_spy(_log)
    if tools.get("wrk") is None:
        _log("wrk is required (apt-get install wrk) and could not be installed")
        return 2
    if tools.get("redis-server") is None:
        _log("redis-server missing: the Celery baseline is left out")
    if "profile" in wanted and not tools.get("py-spy"):
        _log("py-spy missing: the profile phase is left out")
        wanted.remove("profile")

    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    raw = out / f"raw-{stamp}"
    raw.mkdir(parents=True)
    env = dict(os.environ)
    env.update({"PYTHONUNBUFFERED": "1", "LONGHAUL_WORKER_DRAIN_TIMEOUT_S": "2"})
    env.pop("RESONATE_URL", None)  # passed explicitly where used
    cfg = _config(args)
    ctx = phases.Ctx(
        cfg, raw, env, _log, tools, resonate_url=resonate_url, gateway_url=args.gateway_url
    )

    _log(f"machine: {os.cpu_count()} CPUs; raw output and logs in {raw}")
    patches = phases.applicable_patches() if not args.gateway_url else []
    if patches and "status" in wanted:
        ctx.patched_root = phases.patched_tree(patches)
        _log("status reads also run with " + ", ".join(p.name for p in patches) + " applied")
    results: dict[str, Any] = {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": "make bench"
        + (f' ARGS="{" ".join(argv or sys.argv[1:])}"' if (argv or sys.argv[1:]) else ""),
        "machine": environment.machine(tools),
        "config": {
            **{k: getattr(cfg, k) for k in cfg.__dataclass_fields__},
            "poll_backoff": phases._poll_constants(environment.REPO),
        },
        "external": {"resonate_url": resonate_url, "gateway_url": args.gateway_url},
        "patches_in_status": [p.name for p in patches] if ctx.patched_root else [],
        "phases": {},
        "phase_seconds": {},
        "errors": [],
    }
    busy = results["machine"]["background_cpu_share_before"]
    if busy > 0.1:
        _log(
            f"warning: the machine is already {busy:.0%} busy "
            "before the benchmark starts; numbers will be low and noisy"
        )
    systems = ["longhaul", "reference"] + (["celery"] if tools.get("redis-server") else [])
    plan: list[tuple[str, str, Any]] = []
    for phase in wanted:
        if phase == "ceiling":
            plan.append((phase, "ceiling", lambda: phases.ceiling(ctx)))
        elif phase == "status":  # one run each: the systems are measured in turns
            extra = ["longhaul+patches"] if ctx.patched_root else []
            names = [*systems[:1], *extra, *systems[1:]]
            plan.append((phase, ALL, lambda names=names: phases.status_reads(ctx, names)))
        elif phase == "submit":
            plan.append((phase, ALL, lambda: phases.submit_sweep(ctx, systems)))
        elif phase == "e2e":
            # The same stack with its dev server in memory: what the durable store adds.
            memory = [] if resonate_url or args.gateway_url else ["longhaul-memory"]
            for name in [*systems[:1], *memory, *systems[1:]]:
                plan.append((phase, name, lambda name=name: phases.e2e(ctx, name)))
        elif phase == "cost":
            plan.append((phase, "longhaul", lambda: cost.server_cost(ctx)))
        elif phase == "scaling":
            for name in ["longhaul"] + (
                ["celery"] if "celery" in systems and cfg.celery_scaling else []
            ):
                plan.append((phase, name, lambda name=name: phases.scaling(ctx, name)))
        elif phase == "io_scaling":
            plan.append((phase, "longhaul", lambda: io_scaling.io_scaling(ctx)))
        elif phase == "profile":
            plan.append((phase, "longhaul", lambda: phases.profiles(ctx)))
        elif phase == "asgi":
            plan.append((phase, "longhaul", lambda: phases.asgi_cost(ctx)))
        elif phase == "ablation":
            plan.append((phase, "longhaul", lambda: phases.ablation(ctx)))
        elif phase == "patches":
            plan.append((phase, "longhaul", lambda: phases.ab(ctx)))
        elif phase == "listing":
            plan.append((phase, "longhaul", lambda: listing.listing(ctx)))
        elif phase == "webhooks":
            plan.append((phase, "longhaul", lambda: webhooks.webhooks(ctx)))
        elif phase == "waiting":
            plan.append((phase, "longhaul", lambda: waiting.waiting(ctx)))
        elif phase == "retention":
            plan.append((phase, "longhaul", lambda: retention.retention(ctx)))

    try:
        for phase, name, run in plan:
            _log(f"{phase}: {name}")
            t0 = time.monotonic()
            try:
                result = run()
                if name == ALL:
                    results["phases"].setdefault(phase, {}).update(result)
                else:
                    results["phases"].setdefault(phase, {})[name] = result
            except Exception as exc:  # one failed phase must not lose the others
                _log(f"{phase}/{name} failed: {exc!r}")
                results["errors"].append(
                    {
                        "phase": phase,
                        "system": name,
                        "error": repr(exc),
                        "trace": traceback.format_exc(),
                    }
                )
            results["phase_seconds"][f"{phase}/{name}"] = round(time.monotonic() - t0, 1)
            results["errors"].extend(ctx.errors)
            ctx.errors.clear()
            phases.dump(results, out / "results.json")
    except KeyboardInterrupt:
        _log("interrupted: writing what was measured")
    finally:
        if ctx.patched_root is not None:
            shutil.rmtree(ctx.patched_root, ignore_errors=True)
    results["wall_s"] = round(time.monotonic() - started, 1)
    results["machine"]["background_cpu_share_after"] = round(environment.background_load(1.0), 3)
    phases.dump(results, out / "results.json")
    report.write(out)
    _log(f"done in {results['wall_s']:.0f} s: {out / 'report.md'}")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
