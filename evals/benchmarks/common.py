"""What the benchmarks share: the machine they ran on, percentiles, peak memory, recording results."""

from __future__ import annotations

import json
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "cpu")
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    import torch

    return (f"{platform.machine()}, {cpu}, {os.cpu_count()} cores (torch threads {torch.get_num_threads()}), "
            f"{pages / 2**30:.0f} GiB, Python {platform.python_version()}, torch {torch.__version__}, "
            f"load average {os.getloadavg()[0]:.1f} at the start")


def p50(values: list[float]) -> float:
    return statistics.median(values)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def peak_rss_mib() -> float:
    """This process's peak resident memory so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def vm_hwm_mib(pid: int) -> float:
    """Another live process's peak resident memory (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextmanager
def serving(store: str | Path, log: str | Path | None = None, timeout: float = 1800, env: dict | None = None,
            args: tuple[str, ...] = ()) -> Iterator[tuple[str, subprocess.Popen]]:
    """`assistant serve` over `store` on a free loopback port: (its URL, its process; `.pid` is the server's),
    once GET /api/health says ready (model and store loaded, a first question answered); stopped on the way
    out. Its stdout and stderr go to `log` (default: a new temporary file), whose tail is printed if the
    server fails to start, exits early, or the block raises. `env`: variables added to the server's
    environment (ASSISTANT_CATALOG_URL, ...); `args`: more flags."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    own_log = log is None  # a log made here is removed when all went well
    if log is None:
        fd, log = tempfile.mkstemp(prefix="assistant-serve-", suffix=".log")
        os.close(fd)
    log = Path(log)
    with log.open("wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "assistant", "serve", "--store", str(store),
                                   "--port", str(port), *args], stdout=out, stderr=subprocess.STDOUT,
                                  env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(url + "api/health", timeout=5) as response:
                    if json.load(response).get("ready"):
                        break
            except urllib.error.HTTPError as exc:  # 503 while warming up; "error" set when warming failed
                failed = json.loads(exc.read() or b"{}").get("error") if exc.code == 503 else f"HTTP {exc.code}"
                if failed:
                    raise SystemExit(f"assistant serve cannot answer: {failed}\n{log_tail(log)}") from None
            except (OSError, ValueError):
                pass
            if server.poll() is not None:
                raise SystemExit(f"assistant serve exited ({server.returncode}) before it was ready\n"
                                 f"{log_tail(log)}")
            if time.monotonic() > deadline:
                raise SystemExit(f"assistant serve not ready after {timeout:.0f} s\n{log_tail(log)}")
            time.sleep(0.1)
        yield url, server
    except BaseException as exc:
        if not isinstance(exc, SystemExit):
            print(f"(the block failed: {exc!r})\n{log_tail(log)}", file=sys.stderr)
        raise
    else:
        if server.poll() is not None:
            print(f"assistant serve had exited ({server.returncode})\n{log_tail(log)}", file=sys.stderr)
        elif own_log:
            log.unlink(missing_ok=True)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def log_tail(log: Path, lines: int = 40) -> str:
    text = log.read_text(encoding="utf-8", errors="replace").splitlines() if log.exists() else []
    return "\n".join([f"--- last {min(lines, len(text))} lines of {log} ---", *text[-lines:], "---"])


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) a live process has used so far, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU time all processes on the machine have used (all cores: not idle, not waiting on I/O), from
    /proc/stat: beside cpu_seconds(server), what the other processes took."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = fields[:7]
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def record(title: str, lines: list[str]) -> None:
    """Print the block and append it to RESULTS.md under a dated heading."""
    block = [f"## {time.strftime('%Y-%m-%d %H:%M')} {title}", "", f"Machine: {machine()}", "", *lines, ""]
    with RESULTS.open("a", encoding="utf-8") as out:
        out.write("\n" + "\n".join(block))
    print(f"(appended to {RESULTS})")
