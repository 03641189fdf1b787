"""Real backends for the scale-out tests and benchmark: Debian's PostgreSQL in a data folder of its own (on a
free loopback port, as a non-root user) and a `chroma run` server. Nothing is mocked; a backend that cannot
start fails the run with a message naming it (issue 26 asks for failures, not skips)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql")  # Debian's postgresql package: /usr/lib/postgresql/<version>/bin
CHROMA = Path(sys.executable).parent / "chroma"


class BackendError(RuntimeError):
    """A backend (PostgreSQL, the Chroma server) could not start or stop."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin(name: str) -> str:
    found = sorted(PG_BIN.glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    if found:
        return str(found[-1])
    if path := shutil.which(name):
        return path
    raise BackendError(f"PostgreSQL: {name} not found (install Debian's postgresql package: apt-get install "
                       "postgresql; .ci/run does)")


@dataclass
class Postgres:
    """A PostgreSQL server of our own: `url` to connect; restart() and stop() as a test needs."""

    folder: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://assistant@127.0.0.1:{self.port}/assistant"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        # PostgreSQL refuses to run as root: as root, run it as the `postgres` user the Debian package creates.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        result = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120)
        if check and result.returncode:
            raise BackendError(f"PostgreSQL: {' '.join(args[:2])} failed: {(result.stderr or result.stdout)[-1500:]}")
        return result

    def start(self) -> None:
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories='' "
                   "-c fsync=off -c max_connections=200")
        self._run(_pg_bin("pg_ctl"), "-D", str(self.folder / "data"), "-l", str(self.folder / "server.log"),
                  "-o", options, "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(_pg_bin("pg_ctl"), "-D", str(self.folder / "data"), "-m", mode, "-w", "stop", check=False)

    def restart(self) -> None:
        self.stop()
        self.start()


def start_postgres() -> Postgres:
    """initdb in a new temporary folder, start the server, create the `assistant` database."""
    folder = Path(tempfile.mkdtemp(prefix="assistant-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    pg = Postgres(folder, free_port())
    pg._run(_pg_bin("initdb"), "-D", str(folder / "data"), "-U", "assistant", "--auth=trust", "-E", "UTF8",
            "--locale=C.UTF-8")
    pg.start()
    pg._run(_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(pg.port), "-U", "assistant", "assistant")
    return pg


def stop_postgres(pg: Postgres) -> None:
    pg.stop("immediate")
    shutil.rmtree(pg.folder, ignore_errors=True)


@dataclass
class ChromaServer:
    process: subprocess.Popen
    folder: Path
    url: str


def start_chroma() -> ChromaServer:
    """A `chroma run` on a free loopback port, its database in a new temporary folder."""
    if not CHROMA.exists():
        raise BackendError(f"Chroma server: {CHROMA} is absent (the chromadb package installs it)")
    folder = Path(tempfile.mkdtemp(prefix="assistant-chroma-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (folder / "server.log").open("wb")
    proc = subprocess.Popen([str(CHROMA), "run", "--path", str(folder / "db"), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2) as r:
                if r.status == 200:
                    return ChromaServer(proc, folder, url)
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise BackendError(f"Chroma server did not start: {(folder / 'server.log').read_text()[-2000:]}")
        time.sleep(0.2)


def stop_process(process: subprocess.Popen, seconds: float = 10) -> None:
    """SIGTERM, then SIGKILL if it has not ended within `seconds`."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def stop_chroma(server: ChromaServer) -> None:
    stop_process(server.process)
    shutil.rmtree(server.folder, ignore_errors=True)
