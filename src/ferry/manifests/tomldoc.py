"""A parsed TOML manifest that still knows its text, so every error names the file, the
key path and the line (pyproject.toml, Poetry's tables, Pipfile)."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ferry.errors import Hint, ManifestError
from ferry.manifests.requirements_txt import decode_text, read_bytes

Key = str | int
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_STRINGS = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'[^']*'")
_KINDS = {str: "string", bool: "boolean", int: "integer", float: "float"}
_KINDS.update({list: "array", dict: "table"})


def keypath(keys: Sequence[Key]) -> str:
    out = ""
    for key in keys:
        if isinstance(key, int):
            out += f"[{key}]"
        else:
            part = key if _BARE_KEY.match(key) else f'"{key}"'
            out += f".{part}" if out else part
    return out


def kind(value: object) -> str:
    return _KINDS.get(type(value), "date/time")


@dataclass(frozen=True)
class TomlDoc:
    """A parsed TOML file that still knows its text, so errors can point at a line."""

    path: Path
    text: str
    data: dict[str, Any]
    lines: list[str] = field(default_factory=list)
    # False for a stranger's file: a local path in it is refused, never looked at
    local_paths: bool = True

    @classmethod
    def load(cls, path: Path, what: str, *, local_paths: bool = True) -> TomlDoc:
        text = decode_text(read_bytes(path), path, what)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            message = str(exc)
            at = _TOML_POSITION.search(message)
            if at:
                line, column = int(at.group(1)), int(at.group(2))
                message = message[: at.start()]
            else:
                line, column = text.count("\n") + 1, None
                message = message.replace("(at end of document)", "at end of document").strip()
            raise ManifestError(
                path, f"invalid TOML: {message}", line=line, column=column
            ) from None
        return cls(path, text, data, text.splitlines(), local_paths)

    def line_of(self, keys: Sequence[Key], value: object = None, nth: int = 0) -> int | None:
        """Best effort: the line of the key path, or of ``value`` inside it."""
        found: int | None = None
        start = 0
        for key in keys:
            if isinstance(key, int):
                continue
            name = re.escape(key)
            pattern = re.compile(rf"(?:^|[\s\[.{{,])(?:\"{name}\"|'{name}'|{name})\s*[=.\]]")
            hit = next(
                (i for i in range(start, len(self.lines)) if pattern.search(self.lines[i])), None
            )
            if hit is None:
                break
            found = start = hit
        if found is None or value is None:
            return None if found is None else found + 1
        return self._value_line(found, value, nth)

    def _value_line(self, found: int, value: object, nth: int) -> int:
        if isinstance(value, str):
            needle = re.compile(rf"([\"']){re.escape(value)}\1")
        elif isinstance(value, bool):
            needle = re.compile(rf"\b{str(value).lower()}\b")
        elif isinstance(value, dict):
            needle = re.compile(r"\{")
        elif isinstance(value, int | float):
            needle = re.compile(rf"(?<![\w.]){re.escape(repr(value))}(?![\w.])")
        else:
            return found + 1
        end = next(
            (j for j in range(found + 1, len(self.lines)) if self.lines[j].startswith("[")),
            len(self.lines),
        )
        seen = 0
        for j in range(found, end):
            hay = self.lines[j] if isinstance(value, str) else _STRINGS.sub('""', self.lines[j])
            for _ in needle.finditer(hay):
                if seen == nth:
                    return j + 1
                seen += 1
        return found + 1

    def item_line(self, keys: Sequence[Key], items: list[Any], index: int) -> int | None:
        value = items[index]
        if isinstance(value, str):
            return self.line_of(keys, value)
        nth = sum(1 for v in items[:index] if type(v) is type(value))
        return self.line_of(keys, value, nth)

    def error(
        self,
        keys: Sequence[Key],
        reason: str,
        *,
        line: int | None = None,
        value: object = None,
        hint: Hint | None = None,
        cls: type[ManifestError] = ManifestError,
    ) -> ManifestError:
        if line is None:
            line = self.line_of(keys, value)
        return cls(self.path, reason, line=line, hint=hint)

    def where(self, keys: Sequence[Key]) -> str:
        return keypath(keys)

    def kind(self, value: object) -> str:
        return kind(value)

    def get(self, keys: Sequence[str]) -> Any:
        node: Any = self.data
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        return node

    def table(self, keys: Sequence[Key], value: Any) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(
                keys, f"{keypath(keys)} must be a table, got {kind(value)}", value=value
            )
        return value

    def array(self, keys: Sequence[Key], value: Any) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(
                keys, f"{keypath(keys)} must be an array, got {kind(value)}", value=value
            )
        return value

    def string(self, keys: Sequence[Key], value: Any, *, line: int | None = None) -> str:
        if not isinstance(value, str):
            got = "nothing" if value is None else f"{kind(value)} {value!r}"
            raise self.error(
                keys,
                f"{keypath(keys)} must be a string, got {got}",
                line=line,
                value=value,
            )
        return value

    def strings(self, keys: Sequence[Key], value: Any) -> list[str]:
        items = self.array(keys, value)
        return [
            self.string([*keys, i], v, line=self.item_line(keys, items, i))
            for i, v in enumerate(items)
        ]
