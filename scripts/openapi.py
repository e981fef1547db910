"""Write the service's OpenAPI schema to web/openapi.json, from which the web UI's
TypeScript types are generated (`npm run gen:api`). A test fails when the two differ."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ferry.server.app import create_app
from ferry.settings import load_settings


def schema_text() -> str:
    return json.dumps(create_app(load_settings()).openapi(), indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    target = (
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else Path(__file__).parents[1] / "web" / "openapi.json"
    )
    target.write_text(schema_text())
    print(f"wrote {target}")
