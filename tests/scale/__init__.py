"""A Ferry service scaled out on this machine, for the tests here: `ferry serve` replicas
and `ferry worker`s as real processes, each with a data directory of its own, sharing a
fresh PostgreSQL schema, a Redis prefix of their own and a SeaweedFS bucket prefix."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ferry.settings import Settings
from support.serve import Server, free_port


def wait_for(
    read: Callable[[], dict[str, Any]], *statuses: str, seconds: float = 90
) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    doc = read()
    while doc["status"] not in statuses:
        if time.monotonic() > deadline:
            raise AssertionError(f"still {doc['status']} after {seconds} s: {doc}")
        time.sleep(0.1)
        doc = read()
    return doc


class Worker:
    """`ferry worker` in a subprocess; its log in ``output``."""

    def __init__(self, settings: Settings, env: dict[str, str], threads: int = 2) -> None:
        self.data_dir = settings.data_dir
        self.log_path = settings.data_dir.parent / f"{settings.data_dir.name}.log"
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ferry.cli.main", "worker", "--threads", str(threads)],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while "threads on" not in self.output:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"ferry worker did not start: {self.output}")
            time.sleep(0.05)

    @property
    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


class Cluster:
    def __init__(self, base: Settings, root: Path, env: dict[str, str]) -> None:
        self.base = base
        self.root = root
        self.env = env
        self.apis: list[Server] = []
        self.workers: list[Worker] = []
        self._boxes: list[Path] = []

    def _settings(self, name: str) -> Settings:
        # the resolver box's directory must be outside pytest's tree (see conftest)
        box = Path(tempfile.mkdtemp(prefix="ferry-test-box-"))
        self._boxes.append(box)
        return self.base.model_copy(update={"data_dir": self.root / name, "sandbox_dir": box})

    def api(self) -> Server:
        server = Server(self._settings(f"api{len(self.apis)}"), free_port(), env=self.env)
        if not server.token:  # the first replica made the admin token; the others share it
            server.token = self.apis[0].token
            server.headers = {"Authorization": f"Bearer {server.token}"}
            server.client.headers.update(server.headers)
        server.ws = server.base.replace("http://", "ws://")  # type: ignore[attr-defined]
        self.apis.append(server)
        return server

    def worker(self, threads: int = 2) -> Worker:
        settings = self._settings(f"worker{len(self.workers)}")
        env = {k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}
        env.update(self.env)
        env.update(
            FERRY_DATA_DIR=str(settings.data_dir),
            FERRY_NPM_REGISTRY=str(settings.npm_registry),
            FERRY_INDEX_URL=str(settings.index_url),
            FERRY_USE_MACHINE_CONFIG="false",
            FERRY_CONCURRENCY="2",
            FERRY_SANDBOX_DIR=str(settings.sandbox_dir),
        )
        worker = Worker(settings, env, threads)
        self.workers.append(worker)
        return worker

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        for server in self.apis:
            server.stop()
        for box in self._boxes:
            shutil.rmtree(box, ignore_errors=True)
