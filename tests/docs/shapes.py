"""Compare an answer with the one a document shows, by shape.

The documents shorten what varies: ``default.job-bdf61330…`` is some job id,
``…`` alone is whatever was left out (``,…}``: more fields; ``"iat": …``: any
value), ISO timestamps are some time. Everything else must be equal. A
shortened value or an id-like word (letters and digits, six or more) seen for
the first time is bound to what the answer had there; afterwards it stands for
that value, in later answers (a replay must answer the same id) and, through
``Bindings.substitute``, in later commands.
"""

from __future__ import annotations

import json
import re
from typing import Any

ELLIPSIS = "…"
_OPEN = "\u2026open"  # an object key / list item: more fields or items may follow
_ANY = "\u2026any"  # a value: anything

_TIMESTAMP = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?"
_TOKEN = re.compile(
    rf"(?P<ts>{_TIMESTAMP})|(?P<short>[A-Za-z0-9]+{ELLIPSIS})|(?P<ell>{ELLIPSIS})|(?P<word>[A-Za-z0-9]+)"
)


class Mismatch(AssertionError):
    pass


def _id_like(word: str) -> bool:
    return len(word) >= 6 and any(c.isdigit() for c in word) and any(c.isalpha() for c in word)


class Bindings(dict[str, str]):
    """Shown value (``bdf61330…``, ``k3f9a1c2d4e5``) -> the real one."""

    def substitute(self, text: str) -> str:
        for shown in sorted(self, key=len, reverse=True):
            text = text.replace(shown, self[shown])
        return text

    def match_text(self, expected: str, actual: str, where: str) -> None:
        pattern: list[str] = []
        groups: dict[str, str] = {}  # shown -> group name, for this match
        pos = 0
        for token in _TOKEN.finditer(expected):
            pattern.append(re.escape(expected[pos : token.start()]))
            pos = token.end()
            text = token.group(0)
            if token["ts"]:
                pattern.append(_TIMESTAMP)
            elif token["ell"]:
                pattern.append(".*")
            elif (token["short"] or _id_like(text)) and text not in self:
                if text in groups:
                    pattern.append(f"(?P={groups[text]})")
                else:
                    groups[text] = f"g{len(groups)}"
                    chars = "[A-Za-z0-9_~-]+" if token["short"] else "[A-Za-z0-9]+"
                    pattern.append(f"(?P<{groups[text]}>{chars})")
            elif text in self:
                pattern.append(re.escape(self[text]))
            else:
                pattern.append(re.escape(text))
        pattern.append(re.escape(expected[pos:]))
        found = re.fullmatch("".join(pattern), actual, flags=re.S)
        if not found:
            raise Mismatch(f"{where}: expected {expected!r}, got {actual!r}")
        for shown, name in groups.items():
            self[shown] = found[name]

    def match_json(self, expected: Any, actual: Any, where: str) -> None:
        if expected == _ANY:
            return
        if isinstance(expected, dict):
            if not isinstance(actual, dict):
                raise Mismatch(f"{where}: expected an object, got {actual!r}")
            keys = set(expected) - {_OPEN}
            if missing := keys - set(actual):
                raise Mismatch(f"{where}: fields {sorted(missing)} missing from {actual!r}")
            if _OPEN not in expected and (extra := set(actual) - keys):
                raise Mismatch(f"{where}: fields {sorted(extra)} not shown (add ,… to allow)")
            for key in expected:
                if key != _OPEN:
                    self.match_json(expected[key], actual[key], f"{where}.{key}")
        elif isinstance(expected, list):
            if not isinstance(actual, list):
                raise Mismatch(f"{where}: expected a list, got {actual!r}")
            shown = expected[:-1] if expected and expected[-1] == _OPEN else expected
            if len(actual) < len(shown) or (shown is expected and len(actual) != len(shown)):
                raise Mismatch(f"{where}: expected {len(shown)} items, got {actual!r}")
            for i, item in enumerate(shown):
                self.match_json(item, actual[i], f"{where}[{i}]")
        elif isinstance(expected, str):
            if not isinstance(actual, str):
                raise Mismatch(f"{where}: expected a string, got {actual!r}")
            self.match_text(expected, actual, where)
        elif type(expected) is not type(actual) or expected != actual:
            raise Mismatch(f"{where}: expected {expected!r}, got {actual!r}")


def parse_shown_json(text: str) -> Any:
    """JSON as documents show it: ``…`` outside strings marks what was left out."""
    out: list[str] = []
    stack: list[str] = []
    in_string = escaped = False
    last = ""  # the last significant character outside strings
    for char in text:
        if in_string:
            out.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
                last = '"'
            continue
        if char == ELLIPSIS:
            if last == ":":
                out.append(json.dumps(_ANY))
            elif stack and stack[-1] == "{":
                out.append(f"{json.dumps(_OPEN)}:true")
            else:
                out.append(json.dumps(_OPEN))
            last = '"'
            continue
        if char == '"':
            in_string = True
        elif char in "{[":
            stack.append(char)
        elif char in "}]":
            stack.pop()
        out.append(char)
        if not char.isspace():
            last = char
    return json.loads("".join(out))


def _is_json(text: str) -> bool:
    return text.lstrip()[:1] in ("{", "[")


def match_answer(bindings: Bindings, expected: list[str], actual: str, where: str) -> None:
    """One command's answer: a ``curl -i`` response, a JSON document or lines of text."""
    actual = actual.replace("\r\n", "\n").strip("\n")
    if not expected:
        return
    if expected[0].startswith("HTTP/"):
        head, _, body = actual.partition("\n\n")
        status, *header_lines = head.split("\n")
        bindings.match_text(expected[0], status.strip(), f"{where} status line")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        rest = expected[1:]
        while rest and not _is_json(rest[0]):
            name, _, value = rest.pop(0).partition(":")
            if name.strip().lower() not in headers:
                raise Mismatch(f"{where}: header {name!r} missing from {sorted(headers)}")
            bindings.match_text(value.strip(), headers[name.strip().lower()], f"{where} {name}")
        expected, actual = rest, body
        if not expected:
            return
    if _is_json(expected[0]):
        try:
            document = json.loads(actual)
        except ValueError as exc:
            raise Mismatch(f"{where}: expected JSON, got {actual!r}") from exc
        bindings.match_json(parse_shown_json("\n".join(expected)), document, where)
        return
    lines = actual.split("\n")
    if len(lines) != len(expected):
        raise Mismatch(f"{where}: expected {len(expected)} lines, got {actual!r}")
    for i, (shown, got) in enumerate(zip(expected, lines, strict=True)):
        bindings.match_text(shown, got, f"{where} line {i + 1}")
