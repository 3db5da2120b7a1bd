"""The fenced code blocks of the README and docs/, and what each says about being run.

A block runs unless the line before it says otherwise:

- ``<!-- example: skip (why) -->``: not run (a cluster, minutes of load...); the
  reason is required.
- ``<!-- example: file=PATH -->`` before a ``python`` block: the block is written
  to PATH (``~`` is the session's home) for the commands after it.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Blocks in these languages are executed; every other language is prose.
RUNNABLE = {"console", "sh", "bash", "shell", "python"}
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")
DIRECTIVE = re.compile(r"^\s*<!--\s*example:\s*(?P<body>.*?)\s*-->\s*$")
SKIP = re.compile(r"^skip \((?P<reason>[^)]+.*)\)$")
FILE = re.compile(r"^file=(?P<path>\S+)$")


@dataclass
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    body: str
    directive: str | None = None
    skip_reason: str | None = None
    write_to: str | None = None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def runs(self) -> bool:
        return self.lang in RUNNABLE and self.skip_reason is None


def read_blocks(path: Path) -> list[Block]:
    lines = path.read_text().splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, fence = match["indent"], match["fence"]
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i].removeprefix(indent))
            i += 1
        i += 1
        before = next((line for line in reversed(lines[:start]) if line.strip()), "")
        directive = DIRECTIVE.match(before)
        block = Block(path, start + 1, match["lang"], "\n".join(body) + "\n")
        if directive:
            block.directive = directive["body"]
            if skip := SKIP.match(block.directive):
                block.skip_reason = skip["reason"]
            elif target := FILE.match(block.directive):
                block.write_to = target["path"]
            else:
                raise ValueError(f"{block.where}: unknown example directive {block.directive!r}")
        blocks.append(block)
    return blocks


@dataclass
class Command:
    text: str  # with continuation lines, as bash reads it
    expected: list[str] = field(default_factory=list)  # the answer shown, comments removed


#: An explanatory comment after an answer, two spaces or more from it.
_ANSWER_COMMENT = re.compile(r"\s{2,}#\s.*$")


def _open_quote(text: str) -> bool:
    try:
        shlex.split(text, comments=True)
    except ValueError:
        return True
    return False


def console_commands(block: Block) -> list[Command]:
    """``$ `` lines (with their ``\\`` continuations) and the answer shown under each."""
    commands: list[Command] = []
    lines = block.body.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("$ "):
            text = [line[2:]]
            while (text[-1].endswith("\\") or _open_quote("\n".join(text))) and i + 1 < len(lines):
                i += 1
                text.append(lines[i])
            commands.append(Command("\n".join(text)))
        elif line.strip():
            if not commands:
                raise ValueError(f"{block.where}: output before the first $ command: {line!r}")
            commands[-1].expected.append(_ANSWER_COMMENT.sub("", line))
        i += 1
    return commands


def documentation_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
