"""Print (or --write) the configuration tables of docs/configuration.md, from the settings."""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic_settings import BaseSettings

from services.devserver.settings import DevServerSettings
from services.gateway.settings import GatewaySettings
from services.retention.settings import RetentionCommandSettings
from services.stack.settings import StackSettings
from services.worker.settings import WorkerSettings

SECTIONS: list[tuple[str, type[BaseSettings]]] = [
    ("Gateway (`python -m services.gateway`)", GatewaySettings),
    ("Worker (`python -m services.worker`)", WorkerSettings),
    ("Dev Resonate server (`python -m services.devserver`)", DevServerSettings),
    ("Local stack (`make run`)", StackSettings),
    ("Retention (`python -m services.retention`)", RetentionCommandSettings),
]
BEGIN, END = "<!-- settings-table:begin -->", "<!-- settings-table:end -->"
PAGE = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def env_name(cls: type[BaseSettings], field: str) -> str:
    info = cls.model_fields[field]
    if isinstance(info.validation_alias, str):
        return info.validation_alias
    return (str(cls.model_config.get("env_prefix", "")) + field).upper()


def default_of(cls: type[BaseSettings], field: str) -> str:
    info = cls.model_fields[field]
    if info.is_required():
        return "required"
    if info.default_factory is not None:
        return "generated: hostname + random suffix"
    value = info.default
    if isinstance(value, tuple):
        value = ",".join(map(str, value))
    return "unset" if value is None else f"`{str(value).rstrip('/')}`"


def render() -> str:
    lines = [BEGIN]
    for title, cls in SECTIONS:
        lines += ["", f"**{title}**", "", "| Variable | Default | Meaning |", "|---|---|---|"]
        for field, info in cls.model_fields.items():
            description = (info.description or "").replace("|", "\\|")
            lines.append(f"| `{env_name(cls, field)}` | {default_of(cls, field)} | {description} |")
    lines += ["", END]
    return "\n".join(lines)


def current() -> str:
    text = PAGE.read_text()
    return text[text.index(BEGIN) : text.index(END) + len(END)]


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        text = PAGE.read_text()
        PAGE.write_text(text.replace(current(), render()))
    else:
        sys.stdout.write(render() + "\n")
