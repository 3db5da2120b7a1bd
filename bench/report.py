"""results.json -> report.md + charts (PNG). Rendering only: nothing is measured here.

``make bench ARGS=--report-only`` re-renders from the stored JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import io_scaling, waiting

X = "\u00d7"  # multiplication sign
DASH = "\u2013"
SYSTEMS = ("longhaul", "reference", "celery")
E2E_SYSTEMS = ("longhaul", "longhaul-memory", "reference", "celery")
LABEL = {
    "longhaul": "Longhaul",
    "longhaul+patches": "Longhaul + bench/patches",
    "longhaul-memory": "Longhaul, dev server in memory",
    "reference": "Resonate example pattern",
    "celery": "FastAPI + Celery (Redis)",
    "ceiling": "bare FastAPI route (ceiling)",
}
COMPONENT_LABEL = {
    "gateway": "HTTP server (gunicorn master + workers)",
    "devserver": "Resonate dev server",
    "workers": "job workers",
    "redis": "Redis",
    "loadgen": "load generator",
    "other": "other load on the machine",
}
COLORS = {
    "longhaul": "#1f77b4",
    "longhaul+patches": "#17becf",
    "reference": "#ff7f0e",
    "celery": "#2ca02c",
    "ceiling": "#7f7f7f",
}


def para(text: str) -> str:
    """Source prose is wrapped to fit the line limit; the report gets one line per paragraph."""
    return " ".join(text.split())


def g(d: Any, *keys: Any) -> Any:
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(str(k))
    return d


def fmt(x: Any, digits: int = 0, unit: str = "") -> str:
    if x is None:
        return DASH
    if isinstance(x, (int, float)):
        return f"{x:,.{digits}f}{unit}"
    return str(x)


def span(values: Any) -> str:
    """A range of whole numbers (low, dash, high), or one number when both round the same."""
    low, high = (f"{v:.0f}" for v in (min(values), max(values)))
    return low if low == high else f"{low}{DASH}{high}"


def ratio(a: Any, b: Any) -> str:
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or not b:
        return ""
    return f" ({X}{a / b:.2f})"


def share(a: Any, b: Any) -> str:
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or not b:
        return DASH
    return f"{100 * a / b:.0f}%"


def mib(kb: Any) -> str:
    return DASH if not isinstance(kb, (int, float)) else f"{kb / 1024:.0f}"


def backoff(r: dict) -> tuple[float, float, float]:
    """The gateway's long-poll re-read schedule: first step (ms), factor, cap (s)."""
    first, cap, factor = g(r, "config", "poll_backoff") or (0.05, 0.5, 1.5)
    return first * 1000, factor, cap


def concurrencies(r: dict) -> list[str]:
    return [str(c) for c in g(r, "config", "concurrencies") or []]


def mid_c(r: dict) -> str:
    cs = concurrencies(r)
    return cs[len(cs) // 2] if cs else "8"


def peak(table: dict | None) -> float | None:
    if not table:
        return None
    return max((v.get("rps") or 0 for v in table.values()), default=None) or None


def table_of(ph: dict, phase: str, system: str, *rest: str) -> Any:
    """``phases[phase][system]...``; the ceiling keeps its submit and status runs in one place."""
    if system == "ceiling":
        return g(ph, "ceiling", "ceiling", phase, *rest)
    return g(ph, phase, system, *rest)


# ── charts ────────────────────────────────────────────────────────────────


def charts(r: dict, out: Path) -> dict[str, str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return {}
    made: dict[str, str] = {}
    ph = r.get("phases", {})

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        made[name] = name

    def lines(ax: Any, table: dict | None, system: str, key: str = "rps", **kw: Any) -> None:
        if not table:
            return
        cs = sorted(table, key=int)
        ys = [g(table[c], *key.split(".")) for c in cs]
        style = kw.pop("style", "o-")
        ax.plot([int(c) for c in cs], ys, style, color=COLORS[system], **kw)

    submit = {s: table_of(ph, "submit", s) for s in (*SYSTEMS, "ceiling")}
    if any(submit.values()):
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
        for s, t in submit.items():
            lines(a1, t, s, label=LABEL[s])
            if s != "ceiling":
                lines(a2, t, s, "latency_ms.p50", label=f"{LABEL[s]} p50")
                lines(a2, t, s, "latency_ms.p99", style="x--", label=f"{LABEL[s]} p99")
        a1.set(title="POST /v1/jobs: accepted/s", ylabel="requests/s")
        a2.set(title="submit latency", ylabel="ms")
        for ax in (a1, a2):
            ax.set(xscale="log", yscale="log", xlabel="concurrent connections")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        save(fig, "submit.png")

    status = {s: g(ph, "status", s) for s in ("longhaul", "longhaul+patches", *SYSTEMS[1:])}
    if any(status.values()):
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for ax, label in zip(axes, ("completed", "pending"), strict=True):
            for s, t in status.items():
                lines(ax, g(t, label), s, label=LABEL[s])
            lines(ax, table_of(ph, "status", "ceiling"), "ceiling", label=LABEL["ceiling"])
            ax.set(xscale="log", yscale="log", xlabel="concurrent connections")
            ax.set(ylabel="reads/s", title=f"GET a {label} job")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        save(fig, "status.png")

    e2e = {s: g(ph, "e2e", s) for s in SYSTEMS if g(ph, "e2e", s)}
    if e2e:
        fig, ax = plt.subplots(figsize=(9, 4))
        qs = ("p50", "p90", "p99")
        width = 0.13
        n = len(e2e)
        for i, (s, rec) in enumerate(e2e.items()):
            for j, key in enumerate(("e2e_ms", "settled_ms")):
                xs = [k + (i * 2 + j - n + 0.5) * width for k in range(len(qs))]
                what = "seen by the client" if j == 0 else "settled on the server"
                ax.bar(
                    xs,
                    [g(rec, key, q) or 0 for q in qs],
                    width,
                    color=COLORS[s],
                    alpha=0.9 if j == 0 else 0.45,
                    hatch=None if j == 0 else "//",
                    label=f"{LABEL[s]}: {what}",
                )
        ax.set_xticks(range(len(qs)), qs)
        rate = g(r, "config", "e2e_rate") or 0
        ax.set(ylabel="ms after the job was due", yscale="log")
        ax.set_title(f"echo job end to end at {rate:g} jobs/s (open loop)")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3, axis="y")
        save(fig, "e2e.png")

    scaling = {s: g(ph, "scaling", s) for s in ("longhaul", "celery") if g(ph, "scaling", s)}
    if scaling:
        fig, ax = plt.subplots(figsize=(6.5, 4))
        for s, t in scaling.items():
            ns = sorted(t, key=int)
            xs = [int(n) for n in ns]
            ax.plot(xs, [t[n].get("completion_rate") for n in ns], "o-", color=COLORS[s])
            ax.lines[-1].set_label(f"{LABEL[s]}: completed/s")
            ax.plot(xs, [t[n]["rps"] for n in ns], "x--", color=COLORS[s])
            ax.lines[-1].set_label(f"{LABEL[s]}: accepted/s")
        ax.set(xlabel="worker processes", ylabel="jobs/s", title="echo jobs vs worker processes")
        ax.set_xticks(sorted({int(n) for t in scaling.values() for n in t}))
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        save(fig, "scaling.png")

    variants = g(ph, "patches", "longhaul", "variants")
    if variants:
        panels = [
            ("status", "cpu_ms_per_request.gateway", "gateway CPU-ms per status read"),
            ("submit", "cpu_ms_per_request.gateway", "gateway CPU-ms per submit"),
            (
                "submit_grown",
                "cpu_ms_per_request.devserver",
                "dev server CPU-ms per submit,\nserver holding many promises",
            ),
            ("e2e", "e2e_ms.p50", "end to end p50 ms"),
        ]
        fig, axes = plt.subplots(1, len(panels), figsize=(14, 3.8))
        names = list(variants)
        short = [n[:2] + n[2:].split("-")[0] if n[:2] in ("+ ", "- ") else n for n in names]
        for ax, (block, key, title) in zip(axes, panels, strict=True):
            vals = [g(variants[n], block, *key.split(".")) for n in names]
            xs = [i for i, v in enumerate(vals) if v is not None]
            ax.bar(
                xs,
                [vals[i] for i in xs],
                color=["#7f7f7f" if names[i] == "current tree" else "#1f77b4" for i in xs],
            )
            ax.set_xticks(range(len(names)), short, rotation=30, fontsize=8)
            ax.set_title(title + " (lower is better)", fontsize=8)
            ax.grid(alpha=0.3, axis="y")
        save(fig, "patches.png")

    prof = g(ph, "profile", "longhaul")
    if prof:
        rows = [
            ("gateway, status reads", g(prof, "status", "profiles", "gateway", "categories")),
            ("gateway, submits", g(prof, "submit", "profiles", "gateway", "categories")),
            ("dev server, submits", g(prof, "submit", "profiles", "devserver", "categories")),
            ("worker, submits", g(prof, "submit", "profiles", "worker", "categories")),
        ]
        rows = [(label, cats) for label, cats in rows if cats]
        fig, ax = plt.subplots(figsize=(11, 3.8))
        order: list[str] = []
        for _, cats in rows:
            order += [k for k in cats if k not in order]
        cmap = plt.get_cmap("tab20")
        seen: set[str] = set()
        for i, (_, cats) in enumerate(rows):
            left = 0.0
            for j, k in enumerate(order):
                v = cats.get(k, 0)
                if not v:
                    continue
                ax.barh(i, v, left=left, color=cmap(j % 20), label=None if k in seen else k)
                seen.add(k)
                left += v
        ax.set_yticks(range(len(rows)), [label for label, _ in rows])
        ax.set_xlabel("% of CPU samples (py-spy)")
        ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5))
        ax.invert_yaxis()
        save(fig, "profile.png")
    return made


# ── markdown ──────────────────────────────────────────────────────────────


class Doc:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, text: str = "") -> None:
        self.lines.append(text)

    def p(self, text: str) -> None:
        self.lines += [para(text), ""]

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        self.lines.append("| " + " | ".join(header) + " |")
        self.lines.append("|" + "---|" * len(header))
        self.lines += ["| " + " | ".join(row) + " |" for row in rows]
        self.lines.append("")

    def image(self, made: dict[str, str], name: str, alt: str) -> None:
        if name in made:
            self.lines += [f"![{alt}]({name})", ""]


def render(r: dict, made: dict[str, str]) -> str:
    doc = Doc()
    header(doc, r)
    headline(doc, r, made)
    ceiling_share(doc, r)
    where_time_goes(doc, r, made)
    submit_details(doc, r)
    status_details(doc, r, made)
    ablation_section(doc, r)
    wait_cost(doc, r)
    waiting.report_section(doc, r)
    end_to_end(doc, r, made)
    server_cost(doc, r)
    worker_scaling(doc, r, made)
    io_scaling.report_section(doc, r)
    memory(doc, r)
    listing_section(doc, r)
    webhooks_section(doc, r)
    retention_section(doc, r)
    patches(doc, r, made)
    method(doc, r)
    return "\n".join(doc.lines)


def header(doc: Doc, r: dict) -> None:
    m = r.get("machine", {})
    doc("# Longhaul benchmarks")
    doc()
    doc.p(
        f"""Generated by `{r.get("command", "make bench")}` on {r.get("generated_at", "?")}
        (wall time {fmt(r.get("wall_s"))} s) from the repository at {m.get("git_head", "?")}.
        Raw numbers: [`results.json`](results.json); logs of every process: `raw-*/` (not
        committed). `make bench ARGS=--report-only` rebuilds this page from the JSON."""
    )
    packages = ", ".join(f"{k} {v}" for k, v in (m.get("packages") or {}).items())
    tools = ", ".join(v for v in (m.get("tools") or {}).values() if v)
    doc.p(
        f"""**Machine:** {m.get("nproc")} CPUs ({m.get("cpu_model")}), {m.get("memory_gib")} GiB
        RAM, {m.get("os")}, Linux {m.get("kernel")}, Python {m.get("python")}; {packages}.
        Tools: {tools}."""
    )
    doc.p(
        f"""**Absolute numbers belong to this machine; the ratios are the claim.** The load
        generator shares the two cores with the system under test (there is nowhere else to put
        it): wrk is C and cheap per request, the open-loop client is one asyncio process at
        `nice -5`, and the CPU each used is reported with every result. Every timed window also
        records the CPU time used by *nothing of ours* (the machine's busy time minus the system
        under test, the load generator and the harness): {other_load(r)}"""
    )
    errors = r.get("errors") or []
    if errors:
        failed = "; ".join(f"{e['phase']}/{e['system']}: `{e['error'][:160]}`" for e in errors)
        doc.p(f"**Phases that failed in this run:** {failed}")


def other_load(r: dict) -> str:
    other = window = 0.0

    def walk(x: Any) -> None:
        nonlocal other, window
        if isinstance(x, dict):
            if isinstance(x.get("cpu_s"), dict) and "window_s" in x:
                other += x["cpu_s"].get("other", 0)
                window += x["window_s"]
            for v in x.values():
                walk(v)

    walk(r.get("phases", {}))
    nproc = r.get("machine", {}).get("nproc") or 1
    frac = other / (window * nproc) if window else 0.0
    if frac < 0.03:
        verdict = "negligible"
    elif frac < 0.08:
        verdict = "small"
    else:
        verdict = "**significant: this run's numbers are depressed and noisy**"
    before = r.get("machine", {}).get("background_cpu_share_before") or 0
    after = r.get("machine", {}).get("background_cpu_share_after") or 0
    return (
        f"over all timed windows of this run it came to {frac:.1%} of the machine ({verdict}); "
        f"the machine was {before:.0%} busy just before the run and {after:.0%} just after."
    )


def headline(doc: Doc, r: dict, made: dict[str, str]) -> None:
    ph = r.get("phases", {})
    cfg = r.get("config", {})
    mid = mid_c(r)
    doc("## Headline")
    doc()
    doc.p(
        f"""Each cell: the value, and in brackets that value divided by Longhaul's. Throughput is
        the best of {", ".join(concurrencies(r))} concurrent connections (closed loop,
        {fmt(cfg.get("duration_s"))} s per point; submits and completed-job status reads: the
        median of {cfg.get("submit_rounds", 1)} rounds of {fmt(cfg.get("submit_round_s"))} s, the
        systems measured in turns); latencies at {mid} connections. One machine,
        one gunicorn/uvicorn configuration (2 workers) for every HTTP server, one dev Resonate
        server and the same worker processes for Longhaul and the example pattern."""
    )
    cols = ["longhaul", "reference", "celery", "ceiling"]
    rows: list[list[str]] = []

    def row(title: str, values: dict[str, Any], digits: int = 0) -> None:
        if all(values.get(c) is None for c in cols):
            return
        base = values.get("longhaul")
        cells = [
            fmt(values.get(c), digits) + ("" if c == "longhaul" else ratio(values.get(c), base))
            for c in cols
        ]
        rows.append([title, *cells])

    sub = {s: peak(table_of(ph, "submit", s)) for s in cols}
    row("submit: jobs accepted/s (peak)", sub)
    sub_lat = {s: g(ph, "submit", s, mid, "latency_ms") for s in SYSTEMS}
    sub_lat["ceiling"] = g(ph, "ceiling", "ceiling", "submit", mid, "latency_ms")
    row(f"submit: p50 ms at {mid} connections", {s: g(v, "p50") for s, v in sub_lat.items()}, 1)
    row(f"submit: p99 ms at {mid} connections", {s: g(v, "p99") for s, v in sub_lat.items()}, 1)
    done = {s: peak(g(ph, "status", s, "completed")) for s in SYSTEMS}
    done["ceiling"] = peak(g(ph, "ceiling", "ceiling", "status"))
    row("status read, completed job: reads/s (peak)", done)
    patched = peak(g(ph, "status", "longhaul+patches", "completed"))
    if patched:
        row("same, Longhaul with bench/patches applied", done | {"longhaul": patched})
    lat = {s: g(ph, "status", s, "completed", mid, "latency_ms", "p50") for s in SYSTEMS}
    lat["ceiling"] = g(ph, "ceiling", "ceiling", "status", mid, "latency_ms", "p50")
    row(f"status read, completed job: p50 ms at {mid} connections", lat, 2)
    pend = {s: peak(g(ph, "status", s, "pending")) for s in SYSTEMS}
    row("status read, pending job: reads/s (peak)", pend)
    overlap = {s: g(ph, "status", s, "overlap") for s in SYSTEMS}
    if any(overlap.values()):
        jobs, c = cfg.get("overlap_jobs"), max(concurrencies(r), key=int)
        row(
            f"status read, {jobs} completed jobs polled from {c} connections: % answers wrong",
            {s: wrong_percent(v) for s, v in overlap.items()},
            1,
        )
    patched = peak(g(ph, "status", "longhaul+patches", "pending"))
    if patched:
        row("same, Longhaul with bench/patches applied", pend | {"longhaul": patched})
    rate = fmt(cfg.get("e2e_rate"))
    row(
        f"end to end at {rate} jobs/s: p50 ms, until the client sees success",
        {s: g(ph, "e2e", s, "e2e_ms", "p50") for s in SYSTEMS},
        1,
    )
    row(
        f"end to end at {rate} jobs/s: p99 ms, until the client sees success",
        {s: g(ph, "e2e", s, "e2e_ms", "p99") for s in SYSTEMS},
        1,
    )
    row(
        f"end to end at {rate} jobs/s: p50 ms, until the job settled on the server",
        {s: g(ph, "e2e", s, "settled_ms", "p50") for s in SYSTEMS},
        1,
    )
    best = {}
    for s in ("longhaul", "celery"):
        table = g(ph, "scaling", s) or {}
        best[s] = max((v.get("completed_per_s") or 0 for v in table.values()), default=0) or None
    row("echo jobs completed/s under closed-loop submits, best of 1, 2, 4 workers", best)
    for comp, title in (
        ("gateway", "peak RSS MiB, HTTP server (master + workers)"),
        ("workers", "peak RSS MiB, worker processes (all)"),
        ("devserver", "peak RSS MiB, Resonate dev server"),
        ("redis", "peak RSS MiB, Redis"),
    ):
        vals = {s: g(ph, "e2e", s, "memory_kb", comp, "peak") for s in SYSTEMS}
        row(title + ", end-to-end run", {s: v / 1024 if v else None for s, v in vals.items()})
    doc.table(["", *[LABEL[c] for c in cols]], rows)
    text = headline_text(r)
    if text:
        doc.p(text)
    doc.image(made, "submit.png", "submit throughput and latency")


def wrong_percent(rec: dict | None) -> float | None:
    """Share of a point's answers that lacked the expected status (None: not checked)."""
    if not rec or rec.get("wrong") is None or not rec.get("requests"):
        return None
    return 100 * rec["wrong"] / rec["requests"]


def unpaired_note(r: dict, phase: str) -> str:
    """A sentence for a phase whose systems could not all be measured in turns."""
    table = g(r.get("phases", {}), phase) or {}
    seen = set()
    for rec in table.values():
        point = next(iter(rec.get("completed", rec).values()), None) if rec else None
        if isinstance(point, dict) and "batch" in point:
            seen.add(point["batch"])
    if len(seen) < 2:
        return ""
    return """ On the given Resonate server the Resonate-based systems share the workers'
        group (a job one submits could run on another's workers), so each ran alone, one after
        the other: their rounds are not paired, and the drift between them is not removed."""


def rounds_ahead(r: dict, a: str, b: str) -> tuple[int, int]:
    """Completed-job rounds (every concurrency) in which ``a`` read more per second than ``b``.

    Round k of a point ran both systems back to back, so each pair saw the same machine.
    """
    won = total = 0
    for c, rec in (g(r.get("phases", {}), "status", a, "completed") or {}).items():
        theirs_rec = g(r.get("phases", {}), "status", b, "completed", c) or {}
        if rec.get("batch") != theirs_rec.get("batch"):
            continue  # not measured in turns (systems sharing one given Resonate server)
        for mine, theirs in zip(
            rec.get("rounds") or [], theirs_rec.get("rounds") or [], strict=False
        ):
            total += 1
            won += mine["rps"] > theirs["rps"]
    return won, total


def read_verdict(r: dict) -> tuple[str, str] | None:
    """(verdict, evidence) for Longhaul's completed-job read against the example pattern's.

    All measures must agree for "at least as fast": peak reads/s under wrk, the gateway's
    CPU per read at the middle concurrency, and more reads/s in most rounds measured in turns.
    """
    ph = r.get("phases", {})
    lc = peak(g(ph, "status", "longhaul", "completed"))
    rc = peak(g(ph, "status", "reference", "completed"))
    if not (lc and rc):
        return None
    mid = mid_c(r)
    lcpu = g(ph, "status", "longhaul", "completed", mid, "cpu_ms_per_request", "gateway")
    rcpu = g(ph, "status", "reference", "completed", mid, "cpu_ms_per_request", "gateway")
    evidence = f"{lc:,.0f} against {rc:,.0f} reads/s, {X}{lc / rc:.2f}"
    won, rounds = rounds_ahead(r, "longhaul", "reference")
    if rounds:
        evidence += f"; more reads/s in {won} of {rounds} rounds measured in turns"
    cpu_ok = True
    if isinstance(lcpu, float) and isinstance(rcpu, float):
        evidence += f"; {lcpu:.2f} against {rcpu:.2f} gateway CPU-ms per read"
        cpu_ok = lcpu <= rcpu
    majority = not rounds or 2 * won > rounds
    if lc >= rc and cpu_ok and majority:
        return "at least as fast as", evidence
    if lc >= 0.9 * rc:
        return "within this run's noise of, but not ahead of,", evidence
    return "slower than", evidence


def headline_text(r: dict) -> str:
    ph = r.get("phases", {})
    out = []
    ls, rs, cs = (peak(g(ph, "submit", s)) for s in SYSTEMS)
    if ls and rs:
        celery = f" and {ls / cs:.2f}{X} Celery's" if cs else ""
        out.append(
            f"""Submitting, Longhaul accepts {ls / rs:.2f}{X} the example pattern's jobs per
            second{celery}. Longhaul validates the input against the kind's schema, fingerprints it
            for Idempotency-Key reuse and answers 202 once the promise exists; the example pattern
            checks nothing (it also waits for the promise, in this harness) and the Celery app
            answers once the message is in Redis."""
        )
    lc = peak(g(ph, "status", "longhaul", "completed"))
    pc = peak(g(ph, "status", "longhaul+patches", "completed"))
    read = read_verdict(r)
    if read:
        out.append(
            f"""Reading a completed job, the gateway is {read[0]} the example pattern
            ({read[1]})"""
            + (f"; with bench/patches applied it reads {pc:,.0f}/s." if pc else ".")
            + " Where its time goes: *The status read, taken apart* below."
        )
    cp, cg = peak(table_of(ph, "submit", "ceiling")), peak(table_of(ph, "status", "ceiling"))
    if cp and cg and ls and lc:
        after = f" ({100 * pc / cg:.0f}% with bench/patches)" if pc else ""
        out.append(
            f"""Against the bare-route ceiling the gateway reaches {100 * ls / cp:.0f}% of the
            request rate on submits, where the dev server and the workers running each job share
            the two cores with it, and {100 * lc / cg:.0f}%{after} on status reads."""
        )
    settled = {s: g(ph, "e2e", s, "settled_ms", "p50") for s in SYSTEMS}
    seen = {s: g(ph, "e2e", s, "e2e_ms", "p50") for s in SYSTEMS}
    if all(isinstance(v, (int, float)) for v in (*settled.values(), *seen.values())):
        out.append(
            f"""End to end, all three finish an echo job within {span(settled.values())} ms (p50)
            of it being due; what a client sees ({span(seen.values())} ms) is set
            by whether its first read comes before or after that and by the step to the next read
            ({backoff(r)[0]:.0f} ms for the `?wait=` of Longhaul and the Celery app,
            {fmt((g(r, "config", "ref_poll_s") or 0) * 1000)} ms for the example pattern's polling
            client), not by the work."""
        )
    return para(" ".join(out))


def ceiling_share(doc: Doc, r: dict) -> None:
    ph = r.get("phases", {})
    if not g(ph, "ceiling", "ceiling"):
        return
    doc("## Share of the bare-route ceiling")
    doc()
    doc.p(
        """The ceiling is a FastAPI app whose two routes return a constant, served with the
        gateway's gunicorn options, `LonghaulUvicornWorker` class and worker count
        (`bench/apps/ceiling.py` through `bench/apps/serve.py`): what this HTTP stack answers on
        this machine when the application does nothing."""
    )
    patched = bool(g(ph, "status", "longhaul+patches"))
    rows = []
    for c in concurrencies(r):
        cp = g(ph, "ceiling", "ceiling", "submit", c, "rps")
        cg = g(ph, "ceiling", "ceiling", "status", c, "rps")
        ls = g(ph, "submit", "longhaul", c, "rps")
        lg = g(ph, "status", "longhaul", "completed", c, "rps")
        pg = g(ph, "status", "longhaul+patches", "completed", c, "rps")
        rg = g(ph, "status", "reference", "completed", c, "rps")
        row = [c, fmt(cp), fmt(ls), share(ls, cp), fmt(cg), fmt(lg), share(lg, cg)]
        row += [fmt(pg), share(pg, cg)] if patched else []
        rows.append([*row, fmt(rg), share(rg, cg)])
    header = [
        "connections", "ceiling POST/s", "Longhaul submit/s", "share", "ceiling GET/s",
        "Longhaul status/s", "share",
    ]  # fmt: skip
    header += ["with bench/patches", "share"] if patched else []
    doc.table([*header, "example pattern /wait/s", "share"], rows)


def where_time_goes(doc: Doc, r: dict, made: dict[str, str]) -> None:
    ph = r.get("phases", {})
    cfg = r.get("config", {})
    mid = mid_c(r)
    doc("## Where the time goes")
    doc()
    doc.p(
        f"""CPU milliseconds per request by process, from `/proc/<pid>/stat` over the timed window
        at {mid} connections (a component's processes summed). A submit's dev server and worker
        time includes running the job it created. Two cores give 2,000 CPU-ms per second."""
    )
    comps = ["gateway", "devserver", "workers", "redis", "loadgen", "other"]
    picks = [
        ("submit, ceiling", g(ph, "ceiling", "ceiling", "submit", mid)),
        ("submit, Longhaul", g(ph, "submit", "longhaul", mid)),
        ("submit, example pattern", g(ph, "submit", "reference", mid)),
        ("submit, Celery", g(ph, "submit", "celery", mid)),
        ("status (completed), ceiling", g(ph, "ceiling", "ceiling", "status", mid)),
        ("status (completed), Longhaul", g(ph, "status", "longhaul", "completed", mid)),
        (
            "status (completed), Longhaul + bench/patches",
            g(ph, "status", "longhaul+patches", "completed", mid),
        ),
        ("status (completed), example pattern", g(ph, "status", "reference", "completed", mid)),
        ("status (completed), Celery", g(ph, "status", "celery", "completed", mid)),
        ("status (pending), Longhaul", g(ph, "status", "longhaul", "pending", mid)),
        ("status (pending), example pattern", g(ph, "status", "reference", "pending", mid)),
    ]
    rows = []
    for title, rec in picks:
        per = g(rec, "cpu_ms_per_request")
        if per:
            ours = sum(v for k, v in per.items() if k != "other")
            rows.append([title, *[fmt(per.get(c), 3) for c in comps], fmt(ours, 3)])
    doc.table(["request", *[COMPONENT_LABEL[c] for c in comps], "total, ours"], rows)
    prof = g(ph, "profile", "longhaul")
    if prof:
        doc.p(
            f"""Inside the processes: py-spy sampled the gateway (gunicorn master and workers)
            under {cfg.get("profile_connections")} connections of status reads, then of submits,
            and the dev server and one worker during the submits. A sample counts for the
            innermost frame that belongs to a component (a sample in `logging` called by the
            middleware counts as logging; a socket write counts for the library making it; uvloop's
            own C code shows as the event loop). Threads parked in a wait are left out."""
        )
        for path, who, title in (
            ("status", "gateway", "Gateway, status reads"),
            ("submit", "gateway", "Gateway, submits"),
            ("submit", "devserver", "Dev Resonate server, during the submits (their jobs run)"),
            ("submit", "worker", "One worker, during the submits"),
        ):
            p = g(prof, path, "profiles", who)
            if not p or not p.get("samples"):
                continue
            rps = fmt(g(prof, path, "rps_under_profiler"))
            doc(f"**{title}** ({p['samples']} samples; {rps} req/s under the profiler)")
            doc()
            doc.table(
                ["component", "share of samples"],
                [[k, f"{v}%"] for k, v in p["categories"].items()],
            )
            if p.get("top_self"):
                doc("<details><summary>hottest frames (self time)</summary>")
                doc()
                doc.lines += [f"- {t['pct']}% `{t['frame']}`" for t in p["top_self"][:8]]
                doc()
                doc("</details>")
                doc()
        doc.image(made, "profile.png", "where the CPU samples fall")
    text = where_text(r)
    if text:
        doc.p(text)


def where_text(r: dict) -> str:
    ph = r.get("phases", {})
    mid = mid_c(r)
    out = []
    cs = g(ph, "ceiling", "ceiling", "submit", mid, "cpu_ms_per_request", "gateway")
    ls = g(ph, "submit", "longhaul", mid, "cpu_ms_per_request")
    if cs and ls:
        job = sum(v for k, v in ls.items() if k not in ("other", "loadgen"))
        out.append(
            f"""A submit costs the Longhaul gateway {ls.get("gateway", 0):.2f} CPU-ms against
            {cs:.2f} for the bare route ({X}{ls.get("gateway", 0) / cs:.1f}); the dev server adds
            {ls.get("devserver", 0):.2f} ms and the workers {ls.get("workers", 0):.2f} ms per job,
            so the gateway is {100 * ls.get("gateway", 0) / job:.0f}% of what a job costs. On two
            cores that whole pipeline, not the gateway alone, bounds the submit rate."""
        )
    cg = g(ph, "ceiling", "ceiling", "status", mid, "cpu_ms_per_request", "gateway")
    lg = g(ph, "status", "longhaul", "completed", mid, "cpu_ms_per_request")
    pg = g(ph, "status", "longhaul+patches", "completed", mid, "cpu_ms_per_request")
    if cg and lg:
        after = f" ({pg.get('gateway', 0):.2f} with bench/patches)" if pg else ""
        out.append(
            f"""A status read costs the gateway {lg.get("gateway", 0):.2f} CPU-ms{after} against
            {cg:.2f} for the bare route, and the dev server {lg.get("devserver", 0):.2f} ms."""
        )
    prof = g(ph, "profile", "longhaul")
    if prof:
        st = g(prof, "status", "profiles", "gateway", "categories") or {}
        hop = next((v for k, v in st.items() if k.startswith("thread-pool")), 0)
        if hop >= 5:
            out.append(
                f"""On the status path {hop}% of the gateway's samples are FastAPI's thread-pool
                round trips for the plain `def` dependencies in `services/gateway/deps.py`
                (patch 002 makes them `async def`)."""
            )
        dv = g(prof, "submit", "profiles", "devserver", "categories") or {}
        scans = sum(v for k, v in dv.items() if "scan" in k)
        if scans >= 3:
            out.append(
                f"""In the dev server {scans:.0f}% of the samples are the reference state machine's
                scans over every promise it holds, a share that grows with every job it has
                ever run."""
            )
    return para(" ".join(out))


def ablation_section(doc: Doc, r: dict) -> None:
    ph = r.get("phases", {})
    asgi = g(ph, "asgi", "longhaul")
    ab = g(ph, "ablation", "longhaul")
    if not (asgi or ab):
        return
    doc("### The status read, taken apart")
    doc()
    if asgi:
        asgi_part(doc, r, asgi)
    if ab:
        wrk_ablation_part(doc, r, ab)


def asgi_part(doc: Doc, r: dict, asgi: dict) -> None:
    doc.p(
        f"""**In one process** (`bench/asgi_cost.py`): each app is called through its ASGI
        entry {fmt(g(r, "config", "asgi_requests"))} times, three rounds, for one completed job;
        the Resonate SDK runs in full, but its HTTP send replays the answer a real dev server
        gave for that job, so there is no socket, no uvicorn and no other process in the
        measurement: process CPU microseconds per read, median of the rounds. Rounds in one
        process agree to a few microseconds; separate processes of the same code differ by up
        to about 5%. Rows named `- patch` are the current gateway with that patch taken out
        again (the before; 002 no longer touches the read route, which takes no dependencies);
        `ablations/` rows remove a feature to price it."""
    )
    cur = g(asgi, "current gateway", "us_per_read")
    rows = []
    for name, rec in asgi.items():
        us = rec.get("us_per_read")
        spread = rec.get("samples_us") or []
        rows.append([
            name, fmt(us, 1), f"{min(spread):.1f}{DASH}{max(spread):.1f}" if spread else DASH,
            f"{us - cur:+.1f}" if isinstance(cur, float) and name != "current gateway" else DASH,
        ])  # fmt: skip
    doc.table(["app", "CPU us per read", "rounds", "vs current gateway"], rows)
    us = {n: g(asgi, n, "us_per_read") for n in asgi}
    ref = us.get("Resonate example pattern")
    ceil = us.get("bare FastAPI route (ceiling)")
    before = next((v for n, v in us.items() if n.startswith("current gateway - 004")), None)
    nolog = next((v for n, v in us.items() if n.endswith("no-access-log")), None)
    noctx = next((v for n, v in us.items() if n.endswith("no-request-context")), None)
    if not all(isinstance(v, float) for v in (cur, ref, ceil)):
        return
    parts = [
        f"""The gateway's read costs {cur:.0f} us here against {ref:.0f} for the example pattern
        ({X}{cur / ref:.2f}) and {ceil:.0f} for the bare route"""
        + (f"; before patch 004 it cost {before:.0f}." if isinstance(before, float) else ".")
    ]
    if isinstance(nolog, float) and isinstance(noctx, float):
        parts.append(
            f"""Of the {cur:.0f} us, the JSON access-log line is {cur - nolog:.0f}, the rest of
            the request context (request id and its structlog binding, two Prometheus
            multiprocess metrics) {nolog - noctx:.0f}, and the remaining {noctx:.0f} us are
            FastAPI's middleware and routing, the read route, the bounded Resonate SDK read and
            the job view: about the bare route's {ceil:.0f} us, which spends on FastAPI's
            parameter resolution what the read route spends on the SDK. The example pattern has
            no log line, request id or metrics; it pays for FastAPI resolving its `id` parameter
            and serializing its returned dict."""
        )
    doc.p(" ".join(parts))


def wrk_ablation_part(doc: Doc, r: dict, ab: dict) -> None:
    cfg = r.get("config", {})
    doc.p(
        f"""**Under load** (wrk): reads of completed jobs at {cfg.get("ablation_connections")}
        connections, each variant on a fresh stack (gateway, dev server) under the same load;
        CPU from `/proc`, so it includes uvicorn, the sockets and the SDK's HTTP client."""
    )
    rows = []
    prev = None
    for name, rec in ab.items():
        per = rec.get("cpu_ms_per_request") or {}
        gw = per.get("gateway")
        delta = f"{gw - prev:+.3f}" if gw is not None and prev is not None else DASH
        rows.append([
            name, fmt(rec.get("rps")), fmt(g(rec, "latency_ms", "p50"), 2), fmt(gw, 3), delta,
            fmt(per.get("devserver"), 3),
        ])  # fmt: skip
        prev = gw
    doc.table(
        [
            "gateway", "reads/s", "p50 ms", "gateway CPU-ms per read", "change vs row above",
            "dev server CPU-ms per read",
        ],
        rows,
    )  # fmt: skip
    gw = {n: g(ab, n, "cpu_ms_per_request", "gateway") for n in ab}
    ref = gw.get("Resonate example pattern")
    # The ablations are built on the patched gateway when patches are pending.
    cur = gw.get("with bench/patches", gw.get("current gateway"))
    nolog = next((v for n, v in gw.items() if n.endswith("no-access-log")), None)
    noctx = next((v for n, v in gw.items() if n.endswith("no-request-context")), None)
    if not all(isinstance(v, float) for v in (ref, cur, nolog, noctx)):
        return
    doc.p(
        f"""Per read under load the gateway spends {cur:.2f} CPU-ms against the example
        pattern's {ref:.2f} ({X}{cur / ref:.2f}): the access-log line {cur - nolog:.2f} ms, the
        rest of the request context {nolog - noctx:.2f} ms, and {noctx:.2f} ms for everything
        else, against the example pattern's {ref:.2f} ms for its bare `resonate.get`. The
        ablation rows are single few-second runs: differences under about 0.03 ms are noise."""
    )


def submit_details(doc: Doc, r: dict) -> None:
    ph = r.get("phases", {})
    cfg = r.get("config", {})
    doc("## Submit")
    doc()
    doc.p(
        f"""`POST /v1/jobs` with a unique `Idempotency-Key` and an echo job (the example pattern:
        `POST /begin?id=<unique>`), wrk, closed loop, one connection per client. For each
        concurrency the two Resonate-based systems start fresh, since the dev server keeps every
        promise it ever created (its indexed state keeps the work per job flat; the `growth`
        measure checks that); the Celery stack is kept. The systems are then measured in
        turns: {cfg.get("submit_rounds", 1)} rounds of {fmt(cfg.get("submit_round_s"))} s, each
        system once a round, who goes first rotating, each run followed by the wait until its
        workers have run every accepted job. The table shows the run with the median accepted/s;
        *rounds* lists them all. Workers run the jobs while the load goes on. *Drained after* is
        how long after the load stopped the last accepted job completed; *completed/s* is the
        accepted jobs over load time plus that drain."""
        + unpaired_note(r, "submit")
    )
    rows = []
    for s in ("ceiling", *SYSTEMS):
        table = table_of(ph, "submit", s)
        for c in sorted(table or {}, key=int):
            rec = table[c]
            lat = rec["latency_ms"]
            every = " / ".join(fmt(x["rps"]) for x in rec.get("rounds") or [])
            rows.append([
                LABEL[s], c, fmt(rec["rps"]), every or DASH, fmt(lat["p50"], 2),
                fmt(lat["p95"], 2), fmt(lat["p99"], 2), str(rec["errors"]),
                fmt(rec.get("drain_s"), 2), fmt(rec.get("completion_rate")),
                fmt(rec.get("promises_after")),
            ])  # fmt: skip
    doc.table(
        [
            "system", "connections", "accepted/s", "rounds accepted/s", "p50 ms", "p95 ms",
            "p99 ms", "errors", "drained after s", "completed/s", "promises held after",
        ],
        rows,
    )  # fmt: skip


def status_details(doc: Doc, r: dict, made: dict[str, str]) -> None:
    ph = r.get("phases", {})
    cfg = r.get("config", {})
    doc("## Status reads")
    doc()
    applied = ", ".join(r.get("patches_in_status") or [])
    patched = (
        f" *Longhaul + bench/patches* is the same gateway with {applied} applied."
        if applied
        else ""
    )
    doc.p(
        f"""All systems are up at once and measured in turns: this machine's speed drifts by
        about 10% over minutes, so numbers taken minutes apart do not compare. Each completed-job
        point runs {cfg.get("status_rounds", 1)} rounds of {fmt(cfg.get("status_round_s"))} s,
        every system once a round (who goes first rotates); the table shows the round with the
        median reads/s and *rounds* lists them all. Pending-job points run once, in the same
        rotation. `GET /v1/jobs/{{id}}` round robin over {cfg.get("status_jobs")} ids (the example
        pattern: `GET /wait?id=`), each wrk thread over ids of its own, so that two reads of one
        id are rarely in flight at once (the next table measures that case on purpose). wrk
        checks every answer's body for the expected status (`succeeded`, or `resolved` for the
        example pattern; `pending`) and counts those without it as *wrong*.
        *Completed*: echo jobs that finished. *Pending*: one-hour
        `sleep` jobs, suspended on the server. Longhaul reads the promise from the Resonate server
        on every request. The example pattern calls `resonate.get(id)`: for a completed job that
        is one read as well; for a pending job the SDK keeps a subscription per id in each
        gunicorn worker and answers `done() == False` from memory until the server pushes the
        settlement, so after its first read of an id it does no I/O. The Celery app reads the
        result backend; an id Celery never saw also reads PENDING, so its pending rows read
        unknown ids.{patched}"""
        + unpaired_note(r, "status")
    )
    doc.image(made, "status.png", "status reads")
    rows = []
    for s in ("longhaul", "longhaul+patches", *SYSTEMS[1:]):
        for label in ("completed", "pending"):
            table = g(ph, "status", s, label) or {}
            for c in sorted(table, key=int):
                rec = table[c]
                lat = rec["latency_ms"]
                every = " / ".join(fmt(x["rps"]) for x in rec.get("rounds") or [])
                rows.append([
                    LABEL[s], label, c, fmt(rec["rps"]), every or DASH, fmt(lat["p50"], 2),
                    fmt(lat["p99"], 2), str(rec["errors"]), fmt(rec.get("wrong")),
                ])  # fmt: skip
    ceil = g(ph, "ceiling", "ceiling", "status") or {}
    for c in sorted(ceil, key=int):
        rec = ceil[c]
        lat = rec["latency_ms"]
        rows.append([
            LABEL["ceiling"], "constant", c, fmt(rec["rps"]), DASH, fmt(lat["p50"], 2),
            fmt(lat["p99"], 2), str(rec["errors"]), fmt(rec.get("wrong")),
        ])  # fmt: skip
    doc.table(
        [
            "system", "job", "connections", "reads/s", "rounds reads/s", "p50 ms", "p99 ms",
            "errors", "wrong",
        ],
        rows,
    )  # fmt: skip
    text = status_text(r)
    if text:
        doc.p(text)
    overlapping_reads(doc, r)


def overlapping_reads(doc: Doc, r: dict) -> None:
    ph = r.get("phases", {})
    cfg = r.get("config", {})
    recs = {s: g(ph, "status", s, "overlap") for s in SYSTEMS}
    if not any(recs.values()):
        return
    first = next(v for v in recs.values() if v)
    doc("### Many clients polling the same jobs")
    doc()
    doc.p(
        f"""{first["connections"]} connections reading the same {cfg.get("overlap_jobs")}
        completed jobs, every wrk thread from the same start, so several reads of each id are
        in flight at once: many clients (or browser tabs, or retries) polling the same jobs."""
    )
    rows = []
    for s, rec in recs.items():
        if not rec:
            continue
        lat = rec["latency_ms"]
        rows.append([
            LABEL[s], fmt(rec["rps"]), fmt(lat["p50"], 2), fmt(lat["p99"], 2), str(rec["errors"]),
            fmt(rec.get("wrong")), fmt(wrong_percent(rec), 1),
        ])  # fmt: skip
    doc.table(["system", "reads/s", "p50 ms", "p99 ms", "errors", "wrong answers", "% wrong"], rows)
    ref = wrong_percent(recs.get("reference"))
    if ref:
        doc.p(
            f"""The example pattern answered {ref:.0f}% of these reads with `pending` for a job
            that had completed. `resonate.get(id)` keeps one subscription per id while its first
            read is in flight; a second `get` of the same id in the same process returns a
            handle on that subscription at once, and `handle.done()` is still `False`. Those
            answers cost no Resonate read, which is also why its reads/s rise here. Longhaul
            makes one Resonate read per request and answers what the server holds."""
        )


def status_text(r: dict) -> str:
    ph = r.get("phases", {})
    lc, rc = (
        peak(g(ph, "status", "longhaul", "completed")),
        peak(g(ph, "status", "reference", "completed")),
    )
    lp, rp = (
        peak(g(ph, "status", "longhaul", "pending")),
        peak(g(ph, "status", "reference", "pending")),
    )
    pc = peak(g(ph, "status", "longhaul+patches", "completed"))
    out = []
    read = read_verdict(r)
    if read and lc and rc:
        out.append(
            f"""On completed jobs Longhaul's status read is {read[0]} the example pattern's
            ({read[1]}); both make one Resonate read per request. The next section takes the
            read apart."""
        )
        if pc:
            out.append(
                f"""With bench/patches applied the same read reaches {pc:,.0f} reads/s:
                {X}{pc / lc:.2f} the current gateway, {X}{pc / rc:.2f} the example pattern."""
            )
    if lp and rp:
        out.append(
            f"""On pending jobs the example pattern answers {rp / lp:.1f}{X} as many reads: after
            its first read of an id it answers from the SDK's in-process subscription and does not
            ask the server again until the settlement is pushed (or its 60 s refresh runs).
            Longhaul reads the server on every request by design: any gateway process answers for
            any job, nothing is held per job, and a cancel or a timeout shows on the very next
            read. A pending read costs one Resonate round trip, like a completed one."""
        )
    return para(" ".join(out))


def wait_cost(doc: Doc, r: dict) -> None:
    ph = r.get("phases", {})
    cfg = r.get("config", {})
    wait = g(ph, "status", "longhaul", "wait")
    if not wait:
        return
    hold = wait.get("hold", {})
    win = hold.get("window_s") or 1
    n = cfg.get("hold_clients") or 1
    ws = fmt(cfg.get("hold_wait_s"))
    gw = (g(hold, "cpu_s", "gateway") or 0) / win * 1000
    dev = (g(hold, "cpu_s", "devserver") or 0) / win * 1000
    lw, lp = wait.get("lag_wait", {}), wait.get("lag_poll", {})
    doc("## The cost of `?wait=`")
    doc()
    doc.p(
        f"""- On a completed job `?wait={ws}` answers from its first read:
        {fmt(g(wait, "completed_wait", "rps"))} reads/s (p50
        {fmt(g(wait, "completed_wait", "latency_ms", "p50"), 2)} ms) against
        {fmt(g(wait, "completed_wait0", "rps"))} reads/s (p50
        {fmt(g(wait, "completed_wait0", "latency_ms", "p50"), 2)} ms) without it, 8 connections."""
    )
    doc.lines.pop()
    doc.p(
        f"""- Parked: {n} clients each long-polling a job that stays pending (`?wait={ws}`) for
        {fmt(win, 1)} s cost the gateway {fmt(gw)} CPU-ms/s and the dev server {fmt(dev)} CPU-ms/s,
        i.e. {fmt(gw / n, 2)} + {fmt(dev / n, 2)} CPU-ms per waiting client per second. Each
        long-poll is woken by the server's push: one read, one listener and one final read
        whatever its length (counted in *Waiting* below); only with push off (or its stream down)
        does it re-read on the gateway's backoff ({backoff(r)[0]:.0f} ms,
        {X}{backoff(r)[1]:g}, capped at {backoff(r)[2]:g} s). Nothing is kept once the request
        ends. {fmt(hold.get("requests"))} long-polls ended in the window (errors
        {hold.get("errors")})."""
    )
    doc.lines.pop()
    doc.p(
        f"""- Detection delay, from a job settling on the server to the client seeing it (1 s
        `sleep` jobs at {fmt(cfg.get("lag_rate"))}/s): with `?wait=` p50
        {fmt(g(lw, "observe_lag_ms", "p50"), 1)} ms, p99 {fmt(g(lw, "observe_lag_ms", "p99"), 1)}
        ms, {fmt(lw.get("reads_per_job"), 1)} GET per job; polling every `Retry-After` (1 s) p50
        {fmt(g(lp, "observe_lag_ms", "p50"), 1)} ms, p99 {fmt(g(lp, "observe_lag_ms", "p99"), 1)}
        ms, {fmt(lp.get("reads_per_job"), 1)} GET per job."""
    )


def end_to_end(doc: Doc, r: dict, made: dict[str, str]) -> None:
    ph = r.get("phases", {})
    cfg = r.get("config", {})
    if not any(g(ph, "e2e", s) for s in SYSTEMS):
        return
    rate = cfg.get("e2e_rate") or 1
    doc("## End to end")
    doc()
    doc.p(
        f"""Open loop: an echo job is due every {fmt(1000 / rate, 1)} ms ({fmt(rate)} jobs/s for
        {fmt(cfg.get("e2e_duration_s"))} s) whatever the server does, and every latency counts from
        the job's due time, not from when its request went out, so a stalled server cannot hide
        its stall (no coordinated omission). Each job is submitted, then watched the way its API
        is meant to be used: Longhaul and the Celery app with `GET ?wait={fmt(cfg.get("wait_s"))}`
        (the Celery app implements the same long-poll with the gateway's backoff), the example
        pattern
        by reading `/wait` at once and then every {fmt((cfg.get("ref_poll_s") or 0) * 1000)} ms
        (its API has no long-poll). *Settled* is when
        the job completed according to the server (Longhaul's `completed_at`, the promise's
        `settledAt` for the example pattern, Celery's `date_done`)."""
    )
    doc.image(made, "e2e.png", "end to end latency")
    rows = []
    for s in E2E_SYSTEMS:
        rec = g(ph, "e2e", s)
        if not rec:
            continue

        def q(key: str, *qs: str, rec: dict = rec) -> str:
            return " / ".join(fmt(g(rec, key, x), 1) for x in qs)

        rows.append([
            LABEL[s], f"{rec['succeeded']}/{rec['jobs']}", q("submit_ms", "p50", "p99"),
            q("e2e_ms", "p50", "p95", "p99"), q("settled_ms", "p50", "p99"),
            q("observe_lag_ms", "p50"), fmt(rec.get("reads_per_job"), 1),
            fmt(g(rec, "send_lag_ms", "p99"), 2), fmt(g(rec, "cpu_s", "loadgen"), 2),
            commits_cell(rec.get("devserver_commits")),
        ])  # fmt: skip
    doc.table(
        [
            "system", "jobs ok", "202 p50 / p99 ms", "seen p50 / p95 / p99 ms",
            "settled p50 / p99 ms", "settled to seen p50 ms", "GETs per job",
            "send lag p99 ms", "load generator CPU s",
            "dev server commits: n, p50 / p99 ≤ ms",
        ],
        rows,
    )  # fmt: skip
    le = g(ph, "e2e", "longhaul")
    obs, sett = g(le, "e2e_ms", "p50"), g(le, "settled_ms", "p50")
    if obs and sett:
        first = backoff(r)[0]
        doc.p(
            f"""For Longhaul the job is done {sett:.0f} ms (p50) after it was due and the client
            sees it {obs:.0f} ms after. When the job is not done by the long-poll's first read, the
            next read comes {first:.0f} ms later: for short jobs that first step, not the work,
            sets the latency the client sees (the Celery app long-polls with the same schedule;
            the example pattern's client polls every {fmt((cfg.get("ref_poll_s") or 0) * 1000)}
            ms)."""
        )


def commits_cell(c: dict | None) -> str:
    if not c:
        return fmt(None)
    return f"{fmt(c.get('commits'))}, {fmt(c.get('p50_le_ms'), 1)} / {fmt(c.get('p99_le_ms'), 1)}"


def server_cost(doc: Doc, r: dict) -> None:
    cost = g(r.get("phases", {}), "cost", "longhaul")
    if not cost:
        return
    doc("## What a job costs the Resonate server")
    doc()
    doc.p(
        f"""The one Resonate server is shared by every tenant and cannot be scaled out, so
        requests to it are the budget. {fmt(cost.get("jobs"))} jobs of each kind, {
            fmt(cost.get("concurrency"))
        } at a time, each submitted, run by a worker and watched by its client
        with `GET ?wait=10` until done; counted from the server's own `resonate_request_total`
        over the window, less what the idle stack sends anyway in as long (heartbeats, adverts:
        {fmt(sum((cost.get("idle_requests_per_s") or {}).values()), 1)} requests/s here)."""
    )
    kinds = [k for k in ("echo", "pipeline") if k in cost]
    request_kinds = sorted({rk for k in kinds for rk in cost[k].get("by_request_kind", {})})
    rows = [
        [
            f"`{k}`",
            fmt(cost[k].get("requests_per_job"), 1),
            fmt(cost[k].get("client_reads_per_job"), 2),
        ]
        + [fmt(cost[k].get("by_request_kind", {}).get(rk), 2) for rk in request_kinds]
        for k in kinds
    ]
    doc.table(
        ["job kind", "Resonate requests per job", "client GETs per job"]
        + [f"`{rk}`" for rk in request_kinds],
        rows,
    )


def worker_scaling(doc: Doc, r: dict, made: dict[str, str]) -> None:
    ph = r.get("phases", {})
    cfg = r.get("config", {})
    tables = {s: g(ph, "scaling", s) for s in ("longhaul", "celery") if g(ph, "scaling", s)}
    if not tables:
        return
    doc("## Worker processes")
    doc()
    doc.p(
        f"""Closed-loop submits at {cfg.get("scaling_connections")} connections for
        {fmt(cfg.get("scaling_duration_s"))} s on a fresh stack per worker count. *Completed/s in
        window* counts the jobs finished while the load ran (Longhaul: the workers'
        `longhaul_worker_jobs_completed_total`; Celery: result keys in Redis); *completed/s* is
        every accepted job over load time plus the time to drain what was left."""
    )
    doc.image(made, "scaling.png", "worker scaling")
    rows = []
    for s, table in tables.items():
        for n in sorted(table, key=int):
            rec = table[n]
            cpu = rec.get("cpu_s", {})
            server = cpu.get("devserver", cpu.get("redis"))
            cpus = " / ".join(
                fmt(x, 1)
                for x in (cpu.get("gateway"), server, cpu.get("workers"), cpu.get("other"))
            )
            rows.append([
                LABEL[s], n, fmt(rec["rps"]), fmt(rec.get("completed_per_s")),
                fmt(rec.get("drain_s"), 2), fmt(rec.get("completion_rate")), cpus,
            ])  # fmt: skip
    doc.table(
        [
            "system", "worker processes", "accepted/s", "completed/s in window", "drained after s",
            "completed/s", "CPU s: HTTP / Resonate or Redis / workers / other",
        ],
        rows,
    )  # fmt: skip
    sc = tables.get("longhaul") or {}
    ns = sorted(sc, key=int)
    if len(ns) >= 2:
        nproc = r.get("machine", {}).get("nproc")
        done = ", ".join(f"{fmt(sc[n].get('completed_per_s'))} with {n}" for n in ns)
        accepted = ", ".join(fmt(sc[n]["rps"]) for n in ns)
        first, last = sc[ns[0]].get("completed_per_s") or 0, sc[ns[-1]].get("completed_per_s") or 0
        doc.p(
            f"""Longhaul's echo jobs completed per second while the load ran: {done} worker
            processes ({X}{(last / first) if first else 0:.2f} from {ns[0]} to {ns[-1]}), while the
            accepted rate went {accepted}/s. On {nproc} cores the gateway, the single-threaded dev
            server and the workers share the same CPUs: what a worker process gains comes out of
            the gateway's and the dev server's share. Worker processes add capacity when jobs do
            real work or wait on I/O, and when there are cores to spare."""
        )


def listing_section(doc: Doc, r: dict) -> None:
    res = g(r.get("phases", {}), "listing", "longhaul")
    if not res or not res.get("sizes"):
        return
    rows = []
    for size in res["sizes"].values():
        for name, m in size.items():
            if not isinstance(m, dict):
                continue
            rows.append([
                fmt(size.get("held")), name, fmt(m.get("found")),
                f"{fmt(m.get('latency_ms_p50'), 2)} / {fmt(m.get('latency_ms_p95'), 2)}",
                fmt(m.get("server_cpu_ms_per_page"), 2),
            ])  # fmt: skip
    doc("## Job list: one search page on the dev server")
    doc()
    doc.p(
        f"""`promise.search` pages (limit {res.get("limit")}) asked one after another of a dev
        server holding job-like promises, half of them one tenant's, {res.get("failed")} of
        those failed (`bench/listing.py`). `failed` and `all` walk the dev server's tenant
        index; `failed, unindexed` filters on a tag without an index and walks every promise,
        as the real server's Postgres search (`tags @> $1`, no index on tags) reads the whole
        table. Dev server numbers: how the cost grows with what is held, not Postgres's."""
    )
    doc.table(
        ["promises held", "query", "found", "latency p50 / p95 ms", "server CPU ms/page"], rows
    )


def webhooks_section(doc: Doc, r: dict) -> None:
    rec = g(r.get("phases", {}), "webhooks", "longhaul")
    if not rec:
        return
    st, e2e = rec.get("settle_to_delivered_ms", {}), rec.get("submit_to_delivered_ms", {})
    plain = rec.get("plain_submit_to_completed_ms", {})
    doc("## Completion webhooks")
    doc()
    doc.p(
        f"""`bench/webhooks.py`: {fmt(rec.get("jobs"))} echo jobs submitted with `notify` at
        {fmt(rec.get("rate_per_s"))}/s (open loop) to a fresh stack; a receiver on 127.0.0.1
        verifies every delivery with `standardwebhooks`. *Plain*: the same rate without `notify`,
        completion observed by long-polling."""
    )
    doc.table(
        ["measure", "p50 ms", "p99 ms"],
        [
            ["job settled to webhook arrived", fmt(st.get("p50")), fmt(st.get("p99"))],
            ["submit to webhook arrived", fmt(e2e.get("p50")), fmt(e2e.get("p99"))],
            ["plain: submit to completion seen", fmt(plain.get("p50")), fmt(plain.get("p99"))],
        ],
    )
    doc.p(
        f"""{fmt(rec.get("delivered"))}/{fmt(rec.get("jobs"))} delivered,
        {fmt(rec.get("deliveries_per_s"))} deliveries/s over the run,
        {fmt(rec.get("duplicates"))} duplicates, {fmt(rec.get("invalid_signatures"))} invalid
        signatures."""
    )


def retention_section(doc: Doc, r: dict) -> None:
    """bench/retention.py: storage stays flat once retention deletes as fast as jobs arrive."""
    ret = g(r.get("phases", {}), "retention", "longhaul")
    if not ret:
        return
    dev = ret.get("devserver") or {}
    doc("## Storage over time with retention")
    doc()
    doc.p(
        f"""Dev server under {fmt(dev.get("rate_jobs_s"))} jobs/s for {fmt(dev.get("run_s"))} s
        with `LONGHAUL_RETENTION` shortened to {fmt(dev.get("retention_s"))} s: after two
        periods its RSS, file (database + WAL) and promise count should stop growing."""
    )
    rows = []
    for label, key in (
        ("at 2 x retention", "at_2_retention"),
        ("max after", "max_after_2_retention"),
        ("end", "end"),
    ):
        v = dev.get(key) or {}
        rows.append(
            [
                label,
                mib(v.get("rss_kb")),
                fmt((v.get("file_bytes") or 0) / 2**20, 1),
                fmt(v.get("promises")),
            ]
        )
    doc.table(["when", "RSS MiB", "file MiB", "promises"], rows)
    pg = ret.get("postgres") or {}
    if pg:
        doc.p(
            f"""`python -m services.retention` against PostgreSQL with {fmt(pg.get("promises"))}
            promises of jobs finished long ago (deleted) and as many finished just now (kept)
            preloaded (v0.9.8 schema), with and without Longhaul's index on
            `promises (origin)`."""
        )
        doc.table(
            ["variant", "promises deleted", "seconds", "promises/s", "batches"],
            [
                [
                    name,
                    fmt(g(pg, name, "promises")),
                    fmt(g(pg, name, "seconds"), 2),
                    fmt(g(pg, name, "deleted_per_s")),
                    fmt(g(pg, name, "batches")),
                ]
                for name in ("without_index", "with_index")
                if name in pg
            ],
        )


def memory(doc: Doc, r: dict) -> None:
    ph = r.get("phases", {})
    rows = []
    for s in SYSTEMS:
        mem = g(ph, "e2e", s, "memory_kb") or {}
        if not mem:
            continue
        gw, wk = mem.get("gateway", {}), mem.get("workers", {})
        server = mem.get("devserver") or mem.get("redis") or {}
        rows.append([
            LABEL[s], f"{gw.get('processes')}, {mib(gw.get('peak'))}",
            f"{wk.get('processes')}, {mib(wk.get('peak'))}", mib(server.get("peak")),
        ])  # fmt: skip
    if not rows:
        return
    doc("## Memory")
    doc()
    doc.p(
        """Peak resident set (`VmHWM` from `/proc/<pid>/status`, summed over a component's
        processes) at the end of the end-to-end run: each process's peak since it started,
        through that load."""
    )
    doc.table(
        [
            "system", "HTTP server: processes, peak MiB", "workers: processes, peak MiB",
            "Resonate dev server / Redis: peak MiB",
        ],
        rows,
    )  # fmt: skip
    base = g(ph, "patches", "longhaul", "variants", "current tree")
    if base and base.get("memory_devserver_kb"):
        doc.p(
            f"""The dev server keeps every promise in memory: holding
            {fmt(base.get("promises_held"))} promises its RSS was
            {mib(base["memory_devserver_kb"])} MiB."""
        )


EFFECTS = {
    "status": [
        ("status reads/s", ("status", "rps"), 0),
        ("gateway CPU-ms per status read", ("status", "cpu_ms_per_request", "gateway"), 3),
    ],
    "submit": [
        ("submits/s", ("submit", "rps"), 0),
        ("gateway CPU-ms per submit", ("submit", "cpu_ms_per_request", "gateway"), 3),
        ("dev server CPU-ms per submit", ("submit", "cpu_ms_per_request", "devserver"), 3),
    ],
    "e2e": [
        ("end-to-end p50 ms", ("e2e", "e2e_ms", "p50"), 1),
        ("end-to-end p99 ms", ("e2e", "e2e_ms", "p99"), 1),
    ],
    "growth": [
        ("submits/s with the promises held", ("submit_grown", "rps"), 0),
        (
            "dev server CPU-ms per submit with the promises held",
            ("submit_grown", "cpu_ms_per_request", "devserver"),
            3,
        ),
    ],
}


def effect_lines(variant: dict, current: dict) -> list[str]:
    """'metric before -> after (xratio)' for what a variant measures, either direction."""
    before, after = (variant, current) if variant.get("reverted") else (current, variant)
    out = []
    for measure in variant.get("measures") or []:
        for label, path, digits in EFFECTS.get(measure, []):
            b, a = g(before, *path), g(after, *path)
            if isinstance(a, (int, float)) and isinstance(b, (int, float)):
                out.append(f"{label} {fmt(b, digits)} \u2192 {fmt(a, digits)}{ratio(a, b)}")
    return out


def patches(doc: Doc, r: dict, made: dict[str, str]) -> None:
    ph = r.get("phases", {})
    cfg = r.get("config", {})
    ab = g(ph, "patches", "longhaul")
    doc("## Proposed fixes: before and after")
    doc()
    if not ab:
        doc.p("(The patch phase did not run.)")
        return
    status = ab.get("patch_status") or {}
    listing = ", ".join(f"`{k}` {v}" for k, v in status.items())
    doc.p(
        f"""Each patch in `bench/patches/` is a `git diff` against the repository; the harness
        measures its two sides back to back. A patch that applies to the tree is measured with
        it applied (*+ patch*, the after); a patch the tree already has is measured with it
        taken out again (*- patch*, the before). Each variant is a scratch copy of `services/`
        started fresh (same venv) under the same load: status reads and submits at
        {cfg.get("ab_connections")} connections for {fmt(cfg.get("ab_duration_s"))} s, end to
        end at {fmt(cfg.get("e2e_rate"))} jobs/s, and the submits again once the dev server holds
        about {fmt(cfg.get("preload_promises"))} promises; a single-patch variant runs what its
        patch's `Measures:` line names. Status now: {listing}."""
    )
    variants = ab.get("variants") or {}
    current = variants.get("current tree", {})
    for name, v in variants.items():
        if name == "current tree":
            continue
        lines = effect_lines(v, current)
        if lines:
            side = "reverted to measure the before" if v.get("reverted") else "applied"
            doc.p(f"**{name.lstrip('+- ')}** ({side}): " + "; ".join(lines) + ".")

    def cell(v: dict, block: str, *path: str, digits: int = 0) -> str:
        return fmt(g(v, block, *path), digits)

    rows = []
    for name, v in variants.items():
        rows.append([
            name, cell(v, "status", "rps"),
            cell(v, "status", "cpu_ms_per_request", "gateway", digits=3),
            cell(v, "submit", "rps"),
            cell(v, "submit", "cpu_ms_per_request", "gateway", digits=3),
            cell(v, "submit", "cpu_ms_per_request", "devserver", digits=3),
            cell(v, "e2e", "e2e_ms", "p50", digits=1) + " / "
            + cell(v, "e2e", "e2e_ms", "p99", digits=1),
            fmt(v.get("promises_held")), cell(v, "submit_grown", "rps"),
            cell(v, "submit_grown", "cpu_ms_per_request", "devserver", digits=3),
            fmt(v.get("reads_per_wait")),
        ])  # fmt: skip
    doc.p("All variants (CPU-ms per request from `/proc`, far steadier than rates):")
    doc.table(
        [
            "variant", "status reads/s", "gateway CPU-ms per read", "submits/s",
            "gateway CPU-ms per submit", "dev server CPU-ms per submit", "end to end p50 / p99 ms",
            "promises held", "submits/s then", "dev server CPU-ms per submit then",
            f"Resonate reads per {fmt(cfg.get('hold_wait_s'))} s long-poll",
        ],
        rows,
    )  # fmt: skip
    doc.image(made, "patches.png", "patches before and after")
    for patch in sorted(Path(__file__).with_name("patches").glob("*.patch")):
        text = patch.read_text()
        head = text[: text.find("diff --git")].strip().splitlines()
        subject = next((ln[9:] for ln in head if ln.startswith("Subject: ")), patch.stem)
        body = "\n".join(ln for ln in head if not ln.startswith(("Subject: ", "Measures: ")))
        doc(f"**`{patch.name}`** ({status.get(patch.name, '?')}): {subject}")
        doc()
        for block in body.split("\n\n"):
            if block.strip():
                doc.p(block)


def method(doc: Doc, r: dict) -> None:
    cfg = r.get("config", {})
    doc("## Method and caveats")
    doc()
    items = [
        """Every system is started by the harness on 127.0.0.1 with free ports and stopped after
        use; Longhaul through `services.stack.local.LocalStack` (dev Resonate server,
        `python -m services.gateway`, `python -m services.worker`), every process logging to a
        file. The gateway runs with its defaults (a JSON access-log line per request, Prometheus
        multiprocess metrics); the baselines have neither.""",
        """The example pattern (`bench/apps/reference.py`) is the Resonate example's gateway on
        SDK 0.8.1: `resonate.options(target="worker").rpc(id, "longhaul.echo", data)` answered
        after `await handle.id()` (the durability point of Longhaul's 202; the original example
        answers before it), `resonate.get(id)` then `handle.done()` / `result()` per poll, one
        full Resonate client with its SSE connection per gunicorn worker, no payload check, no
        idempotency comparison, no metrics or access log.""",
        """The Celery baseline (`bench/apps/celery_app.py`): `send_task` from plain `def` FastAPI
        routes, Redis (Debian's `redis-server`, no persistence, started by the harness) as broker
        and result backend, a prefork worker with as many pool processes as Longhaul has worker
        processes (2). It has no durable orchestration, no idempotency (the key only names the
        task), and cannot tell a queued job from an unknown id.""",
        f"""wrk (closed loop) gives throughput and latency at a fixed number of connections,
        {fmt(cfg.get("duration_s"))} s per point ({fmt(cfg.get("submit_round_s"))} s per round
        where the systems are measured in turns) after a 1 s warm-up on each fresh stack; its
        latency is per request, from send to last byte. It runs up to four threads started
        20 ms apart, each opening its share of the connections: gunicorn's workers share one
        listening socket, and one burst of connections is often accepted by a single worker,
        which then serves them all while the other idles (the harness checks the workers' CPU
        split and repeats a run that still ended up on one worker). The open-loop client gives
        end-to-end latency from each job's due time.""",
        """CPU per request: utime + stime from `/proc/<pid>/stat` of every process of a component
        over the timed window. Memory: `VmHWM`. The profile is a separate run (py-spy at 200 Hz,
        pausing the process for each sample), so the profiler does not slow the measured runs;
        a component with few samples (a mostly idle worker) has shares that move by several
        points from run to run.""",
        """The dev Resonate server is an in-memory stand-in over the SDK's reference state
        machine, not the production Resonate server (Postgres): Resonate-side numbers here are the
        dev server's.""",
        """This machine's speed drifts: two identical stacks measured in turns agree within a
        few percent, while one stack measured now and again a few minutes later can differ by
        10%. Submits and status reads are therefore measured in turns (see *Submit* and
        *Status reads*); every other number is one run of a few seconds, and differences under
        about 10% between numbers from different phases are within that drift.""",
    ]
    doc.lines += ["- " + para(item) for item in items]
    doc()
    durations = ", ".join(f"{k} {v}" for k, v in (r.get("phase_seconds") or {}).items())
    doc.p(f"Phase durations (s): {durations}.")


def write(out: Path) -> None:
    r = json.loads((out / "results.json").read_text())
    made = charts(r, out)
    (out / "report.md").write_text(render(r, made))
