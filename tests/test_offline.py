"""Nothing leaves the machine: no connection but loopback, and the package works with no network."""

import shutil
import socket
import subprocess
import sys

import pytest

from .conftest import CORPUS, ROOT


def test_ingest_and_ask_make_no_outbound_connection(tmp_path):
    """A fresh Assistant (model load, Chroma, ingest, ask) with every connect() recorded."""
    attempts, seen = [], []

    def audit(event, args):
        if event == "socket.connect":
            address = args[1]
            seen.append(address)
            host = address[0] if isinstance(address, tuple) else str(address)
            if not (isinstance(address, (str, bytes)) or host.startswith("127.") or host in ("::1", "localhost")):
                attempts.append(address)

    sys.addaudithook(audit)  # hooks cannot be removed; it only records
    code = f"""
from assistant import Assistant
a = Assistant(store={str(tmp_path / 'store')!r})
a.ingest([{str(CORPUS / '2023-10-06-tumangang-freight-cars.md')!r}])
print(a.ask("How many freight cars were at Tumangang?").answer)
"""
    before = len(attempts)
    exec(compile(code, "offline-check", "exec"), {})
    assert attempts[before:] == []
    # The hook is live: a loopback connection is seen (and not counted as outbound).
    with socket.create_server(("127.0.0.1", 0)) as server:
        address = server.getsockname()
        socket.create_connection(address).close()
    assert seen[-1] == address and attempts[before:] == []


@pytest.mark.skipif(not shutil.which("unshare"), reason="unshare is not available")
def test_works_without_any_network(tmp_path):
    """The same run in a network namespace with no interface at all."""
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("cannot create a network namespace here (needs root or user namespaces)")
    code = f"""
from assistant import Assistant
a = Assistant(store={str(tmp_path / 'store')!r})
a.ingest([{str(CORPUS / '2023-10-06-tumangang-freight-cars.md')!r}])
print(a.ask("How many freight cars did satellite images show at Tumangang station?").citations[0].quote)
"""
    out = subprocess.run(["unshare", "-n", sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "73" in out.stdout


def test_import_does_no_work():
    code = "import sys, assistant; print(sorted(m for m in ('torch', 'chromadb', 'gradio', 'llama_index') " \
           "if any(k == m or k.startswith(m + '.') for k in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
