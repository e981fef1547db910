"""Evaluate `engines.node` ranges with npm's own semver, run by the machine's node.

node-semver's range grammar (`||`, hyphen ranges, `x` wildcards, loose parsing of old
packages) is what npm applies on the target; reimplementing it in Python would drift.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

_SCRIPT = r"""
const semver = require(process.argv[1]);
let input = "";
process.stdin.on("data", (c) => (input += c));
process.stdin.on("end", () => {
  const { target, ranges, pairs } = JSON.parse(input);
  const valid = (r) => semver.validRange(r, { loose: true }) !== null;
  const out = pairs
    ? pairs.map(([v, r]) => (valid(r) ? semver.satisfies(v, r, { loose: true }) : null))
    : ranges.map((r) => (valid(r) ? semver.intersects(r, target, { loose: true }) : null));
  process.stdout.write(JSON.stringify(out));
});
"""


def npm_semver_module(npm: Path) -> Path:
    """node_modules/semver inside npm's own installation."""
    for parent in npm.resolve().parents:
        candidate = parent / "node_modules" / "semver"
        if (parent / "package.json").is_file() and candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"npm's semver module not found beside {npm}")


async def ranges_fit(npm: Path, node_major: str, ranges: list[str]) -> list[bool | None]:
    """For each range: can some Node ``node_major``.x satisfy it? None: not a valid range."""
    if not ranges:
        return []
    return await _run(npm, {"target": f"{node_major}.x", "ranges": ranges})


async def versions_satisfy(npm: Path, pairs: list[tuple[str, str]]) -> list[bool | None]:
    """For each (version, range): does the version satisfy it (npm's loose rules)?
    None: not a valid range (a URL, a tag, ``*`` of a git dependency, …)."""
    if not pairs:
        return []
    return await _run(npm, {"pairs": [list(p) for p in pairs]})


async def _run(npm: Path, question: dict[str, object]) -> list[bool | None]:
    module = await asyncio.to_thread(npm_semver_module, npm)
    # the node beside npm (a Node install ships both), else the one on PATH
    beside = npm.parent / "node"
    node_bin = str(beside) if beside.is_file() else (shutil.which("node") or "node")
    proc = await asyncio.create_subprocess_exec(
        node_bin,
        "-e",
        _SCRIPT,
        str(module),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    payload = json.dumps(question).encode()
    out, err = await proc.communicate(payload)
    if proc.returncode != 0:
        raise RuntimeError(f"node semver check failed: {err.decode(errors='replace')[:500]}")
    result = json.loads(out)
    return [None if r is None else bool(r) for r in result]
