#!/usr/bin/env python3
"""A PEP 503/691 index of a directory of wheels on 127.0.0.1, for bench/run_fetch.py.

The tests' own index (tests/support/pyindex.py), in a process of its own. Writes the
artifacts (filename, project, version, url, sha256, size) as JSON to MANIFEST, then prints
the index URL and serves until terminated.

    python bench/index_server.py WHEEL_DIR MANIFEST
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from support.pyindex import LocalIndex  # noqa: E402


def main() -> int:
    wheels, manifest = Path(sys.argv[1]), Path(sys.argv[2])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with LocalIndex() as index:
        artifacts = index.add_all(wheels)
        manifest.write_text(json.dumps([asdict(a) for a in artifacts]))
        print(index.url, flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
