"""ACME's kinds, run by Longhaul's worker code on an in-process Resonate.

Run from a Longhaul checkout: ``.venv/bin/python -m pytest examples/acme-jobs/tests``
(Longhaul's own ``make test`` runs them too).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from acme_jobs.kinds import KINDS, InvoiceInput
from pydantic import ValidationError
from resonate.testing import local_resonate

from services.contract import load_catalogue
from services.contract.outcome import read_failure, unwrap_result
from services.worker.jobs import JobDeps, Outbox, register_jobs
from services.worker.metrics import WorkerMetrics

pytestmark = pytest.mark.unit

ORDER = {
    "customer": "acme",
    "currency": "USD",
    "lines": [{"sku": "bolt", "quantity": 100, "unit_price_eur": "0.15"}],
}


@pytest.fixture
async def resonate():
    client = local_resonate()
    register_jobs(
        client,
        JobDeps(metrics=WorkerMetrics(), outbox=Outbox(None)),
        load_catalogue(["acme_jobs.kinds"]),
    )
    yield client
    await client.stop()


async def run(resonate, kind: str, payload: dict, job_id: str):
    handle = resonate.rpc(job_id, f"longhaul.{kind}", payload)
    try:
        return unwrap_result(await handle.result())
    except Exception as exc:
        return read_failure(str(exc))


def read_json(path: str) -> dict:
    return json.loads(Path(path).read_text())


def read_lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_the_module_defines_its_kinds() -> None:
    assert [k.name for k in KINDS] == ["invoice", "flaky", "doomed"]
    with pytest.raises(ValidationError):
        InvoiceInput.model_validate({**ORDER, "currency": "usd"})


async def test_an_invoice_is_priced_and_stored(resonate, tmp_path: Path) -> None:
    result, attempts = await run(resonate, "invoice", {**ORDER, "out_dir": str(tmp_path)}, "inv-1")
    assert attempts == 1
    assert result["total"] == "16.25" and result["rate"] == "1.0832"
    assert read_json(result["document"])["total"] == "16.25"


async def test_a_failing_rate_lookup_is_retried(resonate, tmp_path: Path) -> None:
    payload = {**ORDER, "rate_failures": 2, "trace_dir": str(tmp_path)}
    result, attempts = await run(resonate, "invoice", payload, "inv-2")
    assert attempts == 3 and result["total"] == "16.25"
    steps = read_lines(tmp_path / "inv-2.log")
    assert steps == ["fetch_rate", "fetch_rate", "fetch_rate", "store_invoice"]


async def test_an_unknown_currency_fails_at_once(resonate) -> None:
    error, attempts = await run(resonate, "invoice", {**ORDER, "currency": "XXX"}, "inv-3")
    assert attempts == 1
    assert error == {"type": "PermanentError", "message": "no exchange rate for XXX"}
