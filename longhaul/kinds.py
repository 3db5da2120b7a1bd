"""``JobKind`` and ``Retry``: one definition per job kind, read by gateway and worker."""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from resonate.context import Context

from longhaul._runtime import CURRENT_ATTEMPT
from longhaul.errors import PermanentError

__all__ = ["Context", "DurableFunction", "JobKind", "Retry", "attempt"]

#: ``async def fn(ctx: Context, params: YourInput) -> result``.
DurableFunction = Callable[..., Awaitable[Any]]

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
MAX_TIMEOUT_S = 30 * 24 * 3600.0


def attempt(ctx: Context) -> int:
    """The attempt this execution belongs to: 1, then 2 after the first retry, ...

    An attempt ends when the job's code raises (or its worker dies); resuming
    after a durable sleep is the same attempt. Outside a job it is 1.
    """
    return CURRENT_ATTEMPT.get(1)


@dataclass(frozen=True, kw_only=True)
class Retry:
    """How often a failing job runs again, and how long it waits in between.

    ``max_attempts`` counts every execution, the first one included (1 means
    never retried). Before retry ``n`` (1-based) the job waits
    ``min(initial_s * factor ** (n - 1), max_s)`` seconds. Completed
    ``ctx.run`` steps are never run again: a retry replays their stored
    results and runs the failed step and what follows.

    It is also a retry policy of the Resonate SDK (``next(attempt)``), so
    ``ctx.options(retry_policy=Retry(...)).run(step)`` retries one step in
    place instead.
    """

    max_attempts: int = 3
    initial_s: float = 1.0
    factor: float = 2.0
    max_s: float = 60.0

    def __post_init__(self) -> None:
        if not 1 <= self.max_attempts <= 100:
            raise ValueError(f"max_attempts must be 1..100, not {self.max_attempts}")
        if not 0 <= self.initial_s <= 3600 or not 0 <= self.max_s <= 3600:
            raise ValueError("initial_s and max_s must be 0..3600 seconds")
        if self.factor < 1:
            raise ValueError(f"factor must be >= 1, not {self.factor}")

    def delay_s(self, retry: int) -> float:
        """Seconds to wait before retry ``retry`` (1 is the first retry)."""
        return min(self.initial_s * self.factor ** max(retry - 1, 0), self.max_s)

    def next(self, attempt: int) -> float | None:
        """The SDK's RetryPolicy protocol: delay before ``attempt``, None to stop."""
        return self.delay_s(attempt) if attempt < self.max_attempts else None

    def describe(self) -> dict[str, float | int]:
        return {
            "max_attempts": self.max_attempts,
            "initial_s": self.initial_s,
            "factor": self.factor,
            "max_s": self.max_s,
        }


@dataclass(frozen=True, kw_only=True)
class JobKind:
    """One job kind: its name, input, code and execution policy.

    - ``name``: what clients put in ``{"kind": ...}`` (``[a-z][a-z0-9_-]*``).
    - ``summary``: one line, shown in ``GET /v1/kinds``.
    - ``input_model``: a strict pydantic model; the gateway answers 422 for
      input it rejects, and the function receives the validated instance.
    - ``function``: ``async def fn(ctx, params)``, or ``"package.module:fn"``
      so that the gateway never imports the function's module at all.
    - ``output_model``: optional; the result is validated and documented with it.
    - ``timeout_s``: the job's deadline when the client gives no ``timeout_s``.
    - ``retry``: the :class:`Retry` policy.
    - ``permanent``: exception types that fail the job at once (never retried),
      in addition to :class:`~longhaul.PermanentError`.
    - ``version`` and ``previous_versions``: bump ``version`` when a change
      would not replay jobs already in flight (steps added, removed, reordered
      or renamed); keep the old function under its old number in
      ``previous_versions`` until those jobs are done. New jobs run
      ``version``; a job keeps the version it was created with.
    """

    name: str
    summary: str
    input_model: type[BaseModel]
    function: DurableFunction | str
    output_model: type[BaseModel] | None = None
    timeout_s: float = 24 * 3600.0
    retry: Retry = field(default_factory=Retry)
    permanent: tuple[type[BaseException], ...] = ()
    version: int = 1
    previous_versions: Mapping[int, DurableFunction | str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"job kind {self.name!r}"
        if not isinstance(self.name, str) or not NAME_PATTERN.match(self.name):
            raise ValueError(f"{where}: name must match {NAME_PATTERN.pattern}")
        if not self.summary.strip() or "\n" in self.summary.strip() or len(self.summary) > 200:
            raise ValueError(f"{where}: summary must be one non-empty line (<= 200 characters)")
        if not (isinstance(self.input_model, type) and issubclass(self.input_model, BaseModel)):
            raise TypeError(f"{where}: input_model must be a pydantic model class")
        if self.output_model is not None and not (
            isinstance(self.output_model, type) and issubclass(self.output_model, BaseModel)
        ):
            raise TypeError(f"{where}: output_model must be a pydantic model class or None")
        if not 0 < self.timeout_s <= MAX_TIMEOUT_S:
            raise ValueError(f"{where}: timeout_s must be in (0, {MAX_TIMEOUT_S:g}]")
        if not isinstance(self.retry, Retry):
            raise TypeError(f"{where}: retry must be a longhaul.Retry")
        for exc_type in self.permanent:
            if not (isinstance(exc_type, type) and issubclass(exc_type, BaseException)):
                raise TypeError(f"{where}: permanent must hold exception classes")
        if self.version < 1 or any(v < 1 or v >= self.version for v in self.previous_versions):
            raise ValueError(f"{where}: versions are >= 1 and previous ones below `version`")
        for fn in (self.function, *self.previous_versions.values()):
            _check_function(where, fn)

    @property
    def function_name(self) -> str:
        """The durable function's registered name (the wire carries it, not the code)."""
        return f"longhaul.{self.name}"

    def versions(self) -> dict[int, DurableFunction | str]:
        """Every version a worker registers: the current one and those still in flight."""
        return {**self.previous_versions, self.version: self.function}

    def is_permanent(self, error: BaseException) -> bool:
        return isinstance(error, (PermanentError, *self.permanent))

    def validate_input(self, raw: Any) -> dict[str, Any]:
        """The canonical input (defaults filled) or ``pydantic.ValidationError``."""
        return self.input_model.model_validate(raw).model_dump(mode="json")


def _check_function(where: str, fn: object) -> None:
    if isinstance(fn, str):
        if not re.match(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", fn):
            raise ValueError(f"{where}: function {fn!r} must look like 'package.module:name'")
        return
    if not inspect.iscoroutinefunction(fn):
        raise TypeError(f"{where}: function must be an `async def fn(ctx, params)`")
