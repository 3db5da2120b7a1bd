"""Job kinds: public name, durable function name and strict input model.

To add a kind: define its input model here, add a ``JobKind`` to ``KINDS``, and
register an implementation under the same function name in
``services/worker/jobs.py``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, RootModel

#: The Resonate group every worker joins and every job is routed to.
GROUP = "worker"


class EchoInput(RootModel[dict[str, Any]]):
    """Any JSON object; the result is the same object."""


class SleepInput(BaseModel):
    """Wait durably for ``seconds``; no process holds the job while it waits."""

    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(gt=0, le=3600, description="How long to wait (0 < seconds <= 3600).")


class PipelineInput(BaseModel):
    """A three-step report: normalise the values, compute statistics, publish.

    Each side-effecting step is a durable ``ctx.run`` step, so a crash resumes
    from the last completed one.
    """

    model_config = ConfigDict(extra="forbid")

    values: list[float] = Field(min_length=1, max_length=100_000)
    scale: float = Field(default=1.0, gt=0, description="Multiplier applied in the normalise step.")
    step_delay_s: float = Field(
        default=0.0, ge=0, le=60, description="Simulated work per step, to make steps observable."
    )


@dataclass(frozen=True)
class JobKind:
    name: str
    function: str
    input_model: type[BaseModel]
    summary: str

    def validate_input(self, raw: Any) -> dict[str, Any]:
        """Return the canonical input (defaults filled) or raise ``ValidationError``."""
        return self.input_model.model_validate(raw).model_dump(mode="json")


KINDS: dict[str, JobKind] = {
    kind.name: kind
    for kind in (
        JobKind("echo", "longhaul.echo", EchoInput, "Returns its input object."),
        JobKind("sleep", "longhaul.sleep", SleepInput, "Durable sleep, then {'slept': seconds}."),
        JobKind("pipeline", "longhaul.pipeline", PipelineInput, "Multi-step durable report."),
    )
}


def fingerprint(kind: str, input: Any, timeout_s: float | None) -> str:
    """A stable digest of what a client asked for, to detect Idempotency-Key reuse."""
    canonical = json.dumps(
        {"kind": kind, "input": input, "timeout_s": timeout_s},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
