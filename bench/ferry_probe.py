#!/usr/bin/env python3
"""Run `ferry` with timers around the steps of its npm path; Ferry's source is untouched.

    .venv/bin/python bench/ferry_probe.py OUT.json bundle package.json package-lock.json ...

Everything after OUT.json goes to Ferry's CLI as is. The timers wrap module attributes
(functions Ferry looks up at call time), so the run is the same code path as `ferry`
with a few `perf_counter` calls added. OUT.json gets, per wrapped step: calls, the sum of
the call durations (CPU plus waiting), and the span from the first call's start to the
last call's end (what the step costs in wall clock when its calls overlap), plus the
process's import time and the HTTP requests by kind. Used by bench/run_npm.py for one
extra cold run; see bench/README.md.
"""

from __future__ import annotations

import atexit
import functools
import inspect
import json
import sys
import time
from pathlib import Path
from typing import Any

STARTED = time.perf_counter()

# module, attribute, label: what each step is is in bench/README.md
STEPS = [
    ("ferry.cli.main", "host_node_target", "host node target (node -p)"),
    ("ferry.services.npm_bundle", "find_npm", "find npm"),
    ("ferry.services.npm_bundle", "discover_npm_sources", "npm sources (2x npm config ls)"),
    ("ferry.services.npm_bundle", "parse_npm_manifests", "parse manifests"),
    ("ferry.ecosystems.npm.resolver", "generate_lock", "npm install --package-lock-only"),
    ("ferry.ecosystems.npm.resolver", "lock_packages", "lock -> packages"),
    ("ferry.ecosystems.npm.resolver", "select", "select for target"),
    ("ferry.ecosystems.npm.resolver", "_enrich", "_enrich: registry documents, sizes"),
    ("ferry.ecosystems.npm.resolver", "_version_document", "one version document GET"),
    ("ferry.ecosystems.npm.resolver", "_engine_problems", "engines check (node semver)"),
    ("ferry.ecosystems.npm.resolver", "build_tree", "build tree"),
    ("ferry.ecosystems.npm.resolver", "filled_lock", "filled lock"),
    ("ferry.services.npm_bundle", "fetch_tarballs", "fetch tarballs"),
    ("ferry.services.bundle", "write_archive", "write archive"),
]

stats: dict[str, dict[str, Any]] = {}
requests: list[dict[str, Any]] = []


def _record(label: str, start: float, end: float, cpu_start: float) -> None:
    cpu_end = time.process_time()
    s = stats.setdefault(
        label,
        {"calls": 0, "sum_s": 0.0, "first": start, "last": end, "cpu0": cpu_start, "cpu1": 0.0},
    )
    s["calls"] += 1
    s["sum_s"] += end - start
    if start < s["first"]:
        s["first"], s["cpu0"] = start, cpu_start
    if end >= s["last"]:
        s["last"], s["cpu1"] = end, cpu_end


def _wrap(fn: Any, label: str) -> Any:
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def awrapper(*args: Any, **kwargs: Any) -> Any:
            t, c = time.perf_counter(), time.process_time()
            try:
                return await fn(*args, **kwargs)
            finally:
                _record(label, t, time.perf_counter(), c)

        return awrapper

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t, c = time.perf_counter(), time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            _record(label, t, time.perf_counter(), c)

    return wrapper


def _instrument_http() -> None:
    import httpx

    send = httpx.AsyncClient.send

    async def timed_send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        response = await send(self, request, *args, **kwargs)
        path = request.url.path
        kind = "tarball" if path.endswith(".tgz") else "document"
        requests.append(
            {
                "kind": kind,
                "start": t - STARTED,
                # headers received; a streamed body (tarballs) is read after this
                "headers_s": time.perf_counter() - t,
                "status": response.status_code,
                "http": response.http_version,
                "length": int(response.headers.get("content-length") or 0),
            }
        )
        return response

    httpx.AsyncClient.send = timed_send  # type: ignore[method-assign]


def _dump(out: Path, imported: float, missing: list[str]) -> None:
    ended = time.perf_counter()
    steps = {
        label: {
            "calls": s["calls"],
            "sum_s": round(s["sum_s"], 3),
            "span_s": round(s["last"] - s["first"], 3),
            # this process's CPU time (every thread) during the span: near span_s means
            # the step is CPU-bound, whatever it waits on
            "cpu_s": round(max(s["cpu1"] - s["cpu0"], 0.0), 3),
            "start_s": round(s["first"] - STARTED, 3),
        }
        for label, s in stats.items()
    }
    by_kind: dict[str, dict[str, Any]] = {}
    for r in requests:
        k = by_kind.setdefault(r["kind"], {"count": 0, "bytes": 0, "headers_s": []})
        k["count"] += 1
        k["bytes"] += r["length"]
        k["headers_s"].append(r["headers_s"])
    for k in by_kind.values():
        waits = sorted(k.pop("headers_s"))
        k["headers_s_median"] = round(waits[len(waits) // 2], 3)
        k["headers_s_max"] = round(waits[-1], 3)
        k["headers_s_sum"] = round(sum(waits), 3)
    doc = {
        "wall_s": round(ended - STARTED, 3),
        "imports_s": round(imported - STARTED, 3),
        "steps": steps,
        "http": by_kind,
        "http_versions": sorted({r["http"] for r in requests}),
        "not_found": missing,
        "cpu_total_s": round(time.process_time(), 3),
    }
    out.write_text(json.dumps(doc, indent=2) + "\n")


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(sys.argv[1])
    import importlib

    from ferry.cli import main as cli

    missing = []
    for module, attr, label in STEPS:
        mod = importlib.import_module(module)
        if hasattr(mod, attr):
            setattr(mod, attr, _wrap(getattr(mod, attr), label))
        else:  # Ferry moved on; time what is still there
            missing.append(f"{module}.{attr}")
    _instrument_http()
    imported = time.perf_counter()
    atexit.register(_dump, out, imported, missing)
    return cli.main(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
