"""A server process the tests start on 127.0.0.1 (devpi, verdaccio): its log, waiting for it
to answer, and stopping it. What both registry helpers share.

Everything a server prints goes to a log file in its working directory; when it does not
come up, the error carries the end of that log. Waiting is generous (a loaded 2-core
machine can take many seconds to start a Python or Node server) but stops early when the
process has already exited.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import httpx

# Where scripts/install.sh --dev puts the registries (outside the main venv: see there)
REPO = Path(__file__).resolve().parents[2]
INSTALL_HINT = "run scripts/install.sh --dev (it installs the test registries)"

# Variables that would steer the servers' or the clients' own configuration, or send their
# connections to 127.0.0.1 through a proxy
_DROPPED_PREFIXES = ("PIP_", "UV_", "DEVPI_", "VERDACCIO_", "FERRY_", "VIRTUAL_ENV", "PYTHON")
_DROPPED_LOWER = ("npm_config_", "http_proxy", "https_proxy", "all_proxy", "no_proxy")


def clean_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without pip/uv/npm/devpi/verdaccio settings or proxies,
    with ``home`` as HOME (so no user configuration is read or written), plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_DROPPED_PREFIXES) and not k.lower().startswith(_DROPPED_LOWER)
    }
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_CACHE_HOME=str(home / ".cache"),
        # pip reads a machine-wide configuration (/etc/pip.conf, /etc/xdg/pip) with extra
        # find-links and constraints: nothing run for these tests may depend on it
        PIP_CONFIG_FILE=os.devnull,
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    env.update(extra or {})
    return env


class ServerProcess:
    """One server process, its output going to ``log_path``."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        log_path: Path,
    ) -> None:
        self.name = name
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def output(self, limit: int = 6000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-limit:]
        except FileNotFoundError:
            return ""

    def exited(self) -> bool:
        return self.proc.poll() is not None

    def wait_until_answers(
        self, url: str, timeout: float, ok: Callable[[httpx.Response], bool] | None = None
    ) -> None:
        """Until a GET of ``url`` is answered with 200 (or what ``ok`` accepts); raises
        RuntimeError with the server's log when it exits first or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        last: str = "no answer yet"
        with httpx.Client(trust_env=False, timeout=5) as client:
            while True:
                if self.exited():
                    raise RuntimeError(
                        f"{self.name} exited with {self.proc.returncode} before answering "
                        f"{url}; its log ({self.log_path}):\n{self.output()}"
                    )
                try:
                    response = client.get(url)
                    if ok(response) if ok else response.status_code == 200:
                        return
                    last = f"HTTP {response.status_code}: {response.text[:200]}"
                except httpx.HTTPError as exc:
                    last = repr(exc)
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{self.name} did not answer {url} within {timeout:.0f} s ({last}); "
                        f"its log ({self.log_path}):\n{self.output()}"
                    )
                time.sleep(0.1)

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM, then SIGKILL when it has not ended after ``timeout`` seconds."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)


def run_tool(
    argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """A command-line tool run to its end; a failure raises with everything it printed."""
    proc = subprocess.run(
        list(argv),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited with {proc.returncode}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def address_in_use(output: str) -> bool:
    """Whether a server's log says its port was taken (between picking and binding it)."""
    return "Address already in use" in output or "EADDRINUSE" in output
