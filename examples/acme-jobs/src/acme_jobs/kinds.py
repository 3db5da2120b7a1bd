"""ACME's job kinds, defined with Longhaul's public API only.

- ``invoice``: price an order in a currency (a rate lookup that may fail and is
  retried), then store the invoice document; two durable steps.
- ``flaky``: fails its first ``fail_times`` attempts, then succeeds; shows that
  a retry replays completed steps instead of running them again.
- ``doomed``: always fails with a permanent error: failed at once, never retried.

Every step writes one line to ``trace_dir`` (when given) as it runs, so a test
or a curious user can count step executions across worker processes.
"""

from __future__ import annotations

import asyncio
import json
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from longhaul import Context, JobKind, PermanentError, Retry, attempt

# ── shared ──────────────────────────────────────────────────────────────────


def trace(trace_dir: str | None, job_id: str, step: str) -> None:
    if trace_dir:
        path = Path(trace_dir)
        path.mkdir(parents=True, exist_ok=True)
        with (path / f"{job_id}.log").open("a") as log:
            log.write(step + "\n")


# ── invoice ─────────────────────────────────────────────────────────────────

#: Rates a real job would fetch from a service; unknown currencies are permanent.
RATES = {"EUR": Decimal("1"), "USD": Decimal("1.0832"), "GBP": Decimal("0.8571")}


class Line(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(gt=0, le=10_000)
    unit_price_eur: Decimal = Field(gt=0, le=1_000_000, decimal_places=2)


class InvoiceInput(BaseModel):
    """An order to invoice: lines priced in EUR, billed in ``currency``."""

    model_config = ConfigDict(extra="forbid")

    customer: str = Field(min_length=1, max_length=128)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    lines: list[Line] = Field(min_length=1, max_length=500)
    #: Rate lookups that fail before one answers (to watch retries).
    rate_failures: int = Field(default=0, ge=0, le=10)
    out_dir: str | None = Field(default=None, description="Where the invoice is written.")
    trace_dir: str | None = None


class InvoiceOutput(BaseModel):
    customer: str
    currency: str
    rate: str
    total: str
    document: str


class RateServiceDown(Exception):
    """The rate service did not answer: worth retrying."""


async def fetch_rate(ctx: Context, params: InvoiceInput) -> str:
    trace(params.trace_dir, ctx.info.origin_id, "fetch_rate")
    await asyncio.sleep(0)  # a real job awaits an HTTP call here
    if attempt(ctx) <= params.rate_failures:
        raise RateServiceDown(f"rate service unavailable (attempt {attempt(ctx)})")
    rate = RATES.get(params.currency)
    if rate is None:
        raise PermanentError(f"no exchange rate for {params.currency}")
    return str(rate)


async def store_invoice(ctx: Context, params: InvoiceInput, rate: str) -> dict[str, str]:
    trace(params.trace_dir, ctx.info.origin_id, "store_invoice")
    total_eur = sum((line.unit_price_eur * line.quantity for line in params.lines), Decimal(0))
    total = (total_eur * Decimal(rate)).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    document = {
        "invoice": ctx.info.origin_id,
        "customer": params.customer,
        "currency": params.currency,
        "total": str(total),
    }
    where = "none"
    if params.out_dir:
        # Idempotent: a step that runs twice writes the same file.
        target = Path(params.out_dir) / f"{ctx.info.origin_id}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(target.write_text, json.dumps(document, sort_keys=True))
        where = str(target)
    return {"total": str(total), "document": where}


async def invoice(ctx: Context, params: InvoiceInput) -> dict[str, str]:
    rate = await ctx.run(fetch_rate, params)
    stored = await ctx.run(store_invoice, params, rate)
    return {"customer": params.customer, "currency": params.currency, "rate": rate, **stored}


# ── flaky and doomed ────────────────────────────────────────────────────────


class FlakyInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fail_times: int = Field(ge=0, le=20, description="Attempts that fail before one succeeds.")
    trace_dir: str | None = None


class Unlucky(Exception):
    pass


async def prepare(ctx: Context, trace_dir: str | None) -> str:
    trace(trace_dir, ctx.info.origin_id, "prepare")
    return "prepared"


async def flaky(ctx: Context, params: FlakyInput) -> dict[str, int | str]:
    prepared = await ctx.run(prepare, params.trace_dir)  # runs once, whatever the retries
    trace(params.trace_dir, ctx.info.origin_id, f"attempt {attempt(ctx)}")
    if attempt(ctx) <= params.fail_times:
        raise Unlucky(f"attempt {attempt(ctx)} of {params.fail_times + 1} fails on purpose")
    return {"succeeded_at_attempt": attempt(ctx), "prepared": prepared}


class DoomedInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="doomed", max_length=200)


async def doomed(ctx: Context, params: DoomedInput) -> None:
    raise PermanentError(params.reason)


KINDS = [
    JobKind(
        name="invoice",
        summary="Price an order in the customer's currency and store the invoice.",
        input_model=InvoiceInput,
        output_model=InvoiceOutput,
        function=invoice,
        timeout_s=3600,
        retry=Retry(max_attempts=5, initial_s=0.2, factor=2, max_s=5),
    ),
    JobKind(
        name="flaky",
        summary="Fails its first fail_times attempts, then succeeds.",
        input_model=FlakyInput,
        function=flaky,
        retry=Retry(max_attempts=4, initial_s=0.1, factor=2, max_s=1),
    ),
    JobKind(
        name="doomed",
        summary="Always fails with a permanent error (never retried).",
        input_model=DoomedInput,
        function=doomed,
        retry=Retry(max_attempts=5, initial_s=0.1),
    ),
]
