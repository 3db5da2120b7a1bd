"""``python -m tests.soak`` (``make soak ARGS="--duration 2h"``): one run, JSON report on stdout.

Exit status: 0 when every job completed and every worker still listens, 1 otherwise,
2 on bad arguments.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from pydantic import ValidationError
from pydantic_settings import CliApp

from services.common.logging import configure_logging
from tests.chaos.support import emit_report
from tests.chaos.targets import TargetUnavailable
from tests.soak.run import run_soak
from tests.soak.settings import SoakSettings


def main(argv: list[str] | None = None) -> int:
    try:
        settings = CliApp.run(SoakSettings, cli_args=sys.argv[1:] if argv is None else argv)
    except ValidationError as exc:
        sys.stderr.write(f"invalid soak settings:\n{exc}\n")
        return 2
    configure_logging("soak", "INFO", "console")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        report = asyncio.run(run_soak(settings))
    except TargetUnavailable as exc:
        sys.stderr.write(f"soak run could not start: {exc}\n")
        return 2
    return emit_report(report, settings.report)


if __name__ == "__main__":
    sys.exit(main())
