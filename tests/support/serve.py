"""A real `ferry serve` in a subprocess on 127.0.0.1, for tests that need the whole
service: restarts, the browser, schemathesis, the hostile user.

What it prints goes to a log file; the admin token it printed at its first start is read
back from there, as an operator would copy it.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import httpx

from ferry.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(
        self,
        settings: Settings,
        port: int | None = None,
        *,
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        port = port or free_port()
        environ = {k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}
        environ.update(
            FERRY_DATA_DIR=str(settings.data_dir),
            FERRY_NPM_REGISTRY=str(settings.npm_registry),
            FERRY_INDEX_URL=str(settings.index_url),
            FERRY_USE_MACHINE_CONFIG="false",
            FERRY_CONCURRENCY="2",
        )
        if settings.sandbox_dir is not None:
            environ["FERRY_SANDBOX_DIR"] = str(settings.sandbox_dir)
        environ.update(env or {})
        self.settings = settings
        self.base = f"http://127.0.0.1:{port}"
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = settings.data_dir.parent / f"ferry-serve-{port}.log"
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ferry.cli.main", "serve", "--port", str(port), *args],
            env=environ,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        for _ in range(300):
            if self.proc.poll() is not None:
                raise AssertionError(f"ferry serve exited {self.proc.returncode}: {self.output}")
            try:
                httpx.get(self.base + "/health", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        else:
            raise AssertionError(f"ferry serve did not start: {self.output}")
        token_file = settings.data_dir / "admin-token"
        self.token = token_file.read_text().strip() if token_file.is_file() else ""
        self.headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self.client = httpx.Client(base_url=self.base, headers=self.headers, timeout=10)

    @property
    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    @property
    def printed_token(self) -> str | None:
        """The admin token as the first start printed it (None on later starts)."""
        match = re.search(r"#token=(ferry_[A-Za-z0-9_-]+)", self.output)
        return match[1] if match else None

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()
