"""Run the machine's npm isolated from its configuration.

Ferry decides the registry, CA and proxy (from the machine's npm configuration, read once
by `sources.py`, and Ferry's settings) and hands them to npm in a config file of its own;
everything else npm would read from ~/.npmrc or the environment is left out, so a
machine setting such as `omit-lockfile-registry-resolved` cannot change what a bundle holds.
Arguments are lists, never a shell string; install scripts never run.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ferry.errors import Hint, ResolverUnavailableError
from ferry.sandbox.runner import Workspace


def find_npm(configured: Path | None = None) -> Path:
    if configured is not None:
        if not configured.is_file():
            raise ResolverUnavailableError(f"npm binary {configured} does not exist")
        return configured
    found = shutil.which("npm")
    if found is None:
        raise ResolverUnavailableError(
            "npm is not installed on this machine",
            hint=Hint("install-npm"),
        )
    return Path(found)


@dataclass(frozen=True)
class NpmRun:
    returncode: int
    stdout: str
    stderr: str
    logs_dir: Path


def clean_environment() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.lower().startswith("npm_config_") and k not in ("NODE_OPTIONS",)
    }


async def run_npm(
    npm: Path, args: list[str], *, ws: Workspace, cwd: Path, userconfig: Path, logs_dir: Path
) -> NpmRun:
    """npm ``args`` in the workspace ``ws`` (on a service task: the sandbox), with only
    Ferry's config file and ``ws``'s npm cache."""
    env = clean_environment()
    global_config = userconfig.with_name("global-npmrc")
    env.update(
        npm_config_userconfig=ws.inside(userconfig),
        # an empty global config: the machine's /usr/etc/npmrc must not leak in either
        npm_config_globalconfig=ws.inside(global_config),
        npm_config_cache=ws.inside(ws.cache("npm")),
        npm_config_logs_dir=ws.inside(logs_dir),
        npm_config_loglevel="silly",  # the debug log records who asked for what
        npm_config_audit="false",
        npm_config_fund="false",
        npm_config_update_notifier="false",
        npm_config_progress="false",
        npm_config_ignore_scripts="true",
        NO_COLOR="1",
    )
    global_config.touch()
    done = await ws.run([str(npm), *args], env=env, cwd=cwd)
    return NpmRun(done.returncode, done.stdout, done.explained(done.stderr), logs_dir)
