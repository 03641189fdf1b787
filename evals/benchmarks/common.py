"""What the benchmarks share: the machine they ran on, percentiles, peak memory, recording results."""

from __future__ import annotations

import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import time
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
def serving(store: str | Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """`assistant serve` over `store` on a free loopback port: (its URL, its process), once its first page
    answers; stopped on the way out."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "assistant", "serve", "--store", str(store), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if server.poll() is not None:
                    raise SystemExit("assistant serve exited") from None
                time.sleep(0.5)
        yield url, server
    finally:
        server.terminate()
        server.wait(timeout=30)


def record(title: str, lines: list[str]) -> None:
    """Print the block and append it to RESULTS.md under a dated heading."""
    block = [f"## {time.strftime('%Y-%m-%d %H:%M')} {title}", "", f"Machine: {machine()}", "", *lines, ""]
    with RESULTS.open("a", encoding="utf-8") as out:
        out.write("\n" + "\n".join(block))
    print(f"(appended to {RESULTS})")
