"""``python -m tests.chaos`` (``make chaos ARGS=...``): one run, its JSON report on stdout.

Exit status: 0 when every invariant held, 1 when one was violated, 2 on bad arguments.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_settings import CliApp

from services.common.logging import configure_logging
from tests.chaos.runner import run_chaos
from tests.chaos.settings import ChaosSettings
from tests.chaos.support import emit_report
from tests.chaos.targets import TargetUnavailable, k8s_target, local_target


async def _run(settings: ChaosSettings) -> dict[str, Any]:
    # Faults draw from their own generator: the workload of a seed stays the same.
    fault_rng = random.Random(None if settings.seed is None else settings.seed + 1)
    if settings.target == "k8s":
        report, _ = await run_chaos(settings, k8s_target(settings, fault_rng))
        return report
    log_dir = settings.log_dir or Path(tempfile.mkdtemp(prefix="longhaul-chaos-"))
    with local_target(settings, log_dir, fault_rng) as target:
        report, _ = await run_chaos(settings, target)
    return report


def main(argv: list[str] | None = None) -> int:
    try:
        settings = CliApp.run(ChaosSettings, cli_args=sys.argv[1:] if argv is None else argv)
    except ValidationError as exc:
        sys.stderr.write(f"invalid chaos settings:\n{exc}\n")
        return 2
    configure_logging("chaos", "INFO", "console")
    # One line per request drowns the faults; errors are counted in the report.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        report = asyncio.run(_run(settings))
    except TargetUnavailable as exc:
        sys.stderr.write(f"chaos run could not start: {exc}\n")
        return 2
    return emit_report(report, settings.report)


if __name__ == "__main__":
    sys.exit(main())
