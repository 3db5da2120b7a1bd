"""The one contract the gateway and the worker share: group, kinds, input models.

The gateway dispatches by the names defined here and never imports worker code;
the worker registers an implementation for every kind listed here (a test
checks both directions).
"""

from services.contract.jobs import (
    GROUP,
    KINDS,
    EchoInput,
    JobKind,
    PipelineInput,
    SleepInput,
    fingerprint,
)

__all__ = [
    "GROUP",
    "KINDS",
    "EchoInput",
    "JobKind",
    "PipelineInput",
    "SleepInput",
    "fingerprint",
]
