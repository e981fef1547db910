"""Write web/src/serverCodes.json: every problem kind, error code, task event code and hint
code the server can send, with each of its English templates and the parameters it takes
(``ferry.texts``). The web UI's catalog (web/src/serverText.ts) must have an English and
a Chinese template for each, taking the same parameters: a Vitest test checks that, and a
pytest fails when this file is not in step with the server."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ferry.texts import ERRORS, EVENTS, HINTS, PROBLEMS, names


def _listing(texts: dict[str, tuple[str, ...]]) -> str:
    # one template a line: a changed text is a one-line diff
    def one(template: str) -> str:
        entry = {"en": template, "params": sorted(names(template))}
        return json.dumps(entry, ensure_ascii=False)

    codes = [
        f"  {json.dumps(code)}: [\n" + ",\n".join(f"   {one(t)}" for t in templates) + "\n  ]"
        for code, templates in sorted(texts.items())
    ]
    return "{\n" + ",\n".join(codes) + "\n }"


def codes_text() -> str:
    parts = {"problem": PROBLEMS, "error": ERRORS, "event": EVENTS, "hint": HINTS}
    body = ",\n".join(f" {json.dumps(kind)}: {_listing(texts)}" for kind, texts in parts.items())
    return "{\n" + body + "\n}\n"


if __name__ == "__main__":
    target = (
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else Path(__file__).parents[1] / "web" / "src" / "serverCodes.json"
    )
    target.write_text(codes_text())
    print(f"wrote {target}")
