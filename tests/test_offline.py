"""assistant/ with no network: Nothing leaves the machine: no connection but loopback, and the package works with no
network."""

import json
import os
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


# The variables the package sets for itself (settings.offline_environment): removed from the children's
# environment, so that what they show is the package's doing, not the test session's.
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY", "ANONYMIZED_TELEMETRY",
                     "GRADIO_ANALYTICS_ENABLED")
FREIGHT = "How many freight cars did satellite images show at Tumangang station?"
AUDITED_SERVE = """
import json, re, socket, sys, time, urllib.request

outbound, loopback = [], []

def local(host):
    host = host.decode() if isinstance(host, bytes) else str(host)
    return host in ("localhost", "::1", "0.0.0.0", "::", "") or host.startswith(("127.", "::ffff:127."))

def audit(event, args):
    if event in ("socket.connect", "socket.sendto"):
        sock, address = args[0], args[-1]
        if getattr(sock, "family", None) in (socket.AF_INET, socket.AF_INET6):
            (loopback if local(address[0]) else outbound).append([event, str(address[0]), address[1]])
    elif event == "socket.getaddrinfo" and args[0] is not None and not local(args[0]):
        outbound.append([event, str(args[0]), str(args[1])])
    elif event in ("socket.gethostbyname", "socket.gethostbyaddr") and not local(args[0]):
        outbound.append([event, str(args[0])])

sys.addaudithook(audit)

from assistant import Assistant
a = Assistant(store=STORE)
report = a.ingest([CORPUS])
assert report.failed == 0, report.documents
cli = a.ask(FREIGHT).citations[0].quote

from gradio_client import Client
import threading, uvicorn
from assistant.serve.server import create_server
from assistant.serve.service import Service

with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
service = Service(a)  # served as `assistant serve` serves it, in a thread
service.warm()
server = uvicorn.Server(uvicorn.Config(create_server(service), host="127.0.0.1", port=port, log_level="warning"))
threading.Thread(target=server.run, daemon=True).start()
url = f"http://127.0.0.1:{port}/"
for _ in range(100):
    try:
        page = urllib.request.urlopen(url, timeout=30).read().decode()
        break
    except OSError:
        time.sleep(0.2)
docs_page = urllib.request.urlopen(url + "api/docs", timeout=30).read().decode()
for asset in re.findall(r'(?:src|href)="(/api/static/[^"]+)"', docs_page):
    urllib.request.urlopen(f"http://127.0.0.1:{port}{asset}", timeout=30).read()
client = Client(url, verbose=False, analytics_enabled=False)
served = json.loads(client.predict(FREIGHT, api_name="/ask"))["citations"][0]["quote"]
client.close()
request = urllib.request.Request(url + "api/ask", data=json.dumps({"question": FREIGHT}).encode(),
                                 headers={"content-type": "application/json"})
api = json.load(urllib.request.urlopen(request, timeout=60))["citations"][0]["quote"]
server.should_exit = True
print("AUDIT " + json.dumps({"outbound": outbound, "loopback": len(loopback), "page": "Report Assistant" in page,
                             "cli": cli, "served": served, "api": api, "docs": "swagger-ui" in docs_page}))
"""


def _clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if k not in OFFLINE_VARIABLES}


def test_ingest_ask_and_serve_make_no_outbound_connection(tmp_path):
    """The whole corpus ingested, a question asked, the chat served on loopback, its page fetched and its
    API asked through gradio_client: every connect(), sendto() and name lookup recorded by an audit hook,
    in a child process so that the hook stays there."""
    code = f"STORE, CORPUS, FREIGHT = {str(tmp_path / 'store')!r}, {str(CORPUS)!r}, {FREIGHT!r}\n" + AUDITED_SERVE
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600,
                         env=_clean_env())
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(next(line for line in out.stdout.splitlines() if line.startswith("AUDIT "))[6:])
    assert result["outbound"] == []
    assert result["loopback"] > 0  # the hook is live: the page and API requests were seen
    assert result["page"] and "73" in result["cli"] and "73" in result["served"] and "73" in result["api"]
    assert result["docs"]  # the API's page, its scripts and styles served from the package


NETNS_SERVE = """
import fcntl, json, socket, struct, subprocess, sys, time, urllib.request

# A new network namespace has only a loopback interface, and it is down: bring it up (SIOCGIFFLAGS, SIOCSIFFLAGS).
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    flags = struct.unpack("16sH", fcntl.ioctl(s, 0x8913, struct.pack("16sH22x", b"lo", 0))[:18])[1]
    fcntl.ioctl(s, 0x8914, struct.pack("16sH22x", b"lo", flags | 1))
interfaces = [name for _, name in socket.if_nameindex()]
try:
    socket.create_connection(("192.0.2.1", 80), timeout=3).close()  # TEST-NET-1: no route here
    reached = True
except OSError:
    reached = False

subprocess.run([sys.executable, "-m", "assistant", "ingest", CORPUS, "--store", STORE], check=True,
               capture_output=True)
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
log = open(STORE + ".serve.log", "w")
server = subprocess.Popen([sys.executable, "-m", "assistant", "serve", "--store", STORE, "--port", str(port)],
                          stdout=log, stderr=subprocess.STDOUT)
url = f"http://127.0.0.1:{port}/"
deadline = time.time() + 180
while True:
    try:
        page = urllib.request.urlopen(url, timeout=2).read().decode()
        break
    except OSError:
        if server.poll() is not None or time.time() > deadline:
            raise SystemExit("serve did not start: " + open(STORE + ".serve.log").read()[-2000:])
        time.sleep(0.5)
from gradio_client import Client
try:
    data = json.loads(Client(url, verbose=False, analytics_enabled=False).predict(FREIGHT, api_name="/ask"))
finally:
    server.terminate()
    server.wait(timeout=30)
print("NETNS " + json.dumps({"interfaces": interfaces, "reached": reached, "page": "Report Assistant" in page,
                             "quote": data["citations"][0]["quote"], "exit": server.returncode}))
"""


@pytest.mark.skipif(not shutil.which("unshare"), reason="unshare is not available")
def test_serve_works_without_any_network(tmp_path):
    """`assistant ingest` then `assistant serve` asked through its API, in a network namespace whose only
    interface is loopback."""
    for prefix in (["unshare", "-n"], ["unshare", "-rn"]):  # as root; else in a user namespace
        if subprocess.run([*prefix, "true"], capture_output=True).returncode == 0:
            break
    else:
        pytest.skip("cannot create a network namespace here (needs root or user namespaces)")
    code = (f"STORE, CORPUS, FREIGHT = {str(tmp_path / 'store')!r}, {str(CORPUS)!r}, {FREIGHT!r}\n"
            + NETNS_SERVE)
    out = subprocess.run([*prefix, sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         timeout=600, env=_clean_env())
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(next(line for line in out.stdout.splitlines() if line.startswith("NETNS "))[6:])
    assert result["interfaces"] == ["lo"] and not result["reached"]
    assert result["page"] and "73" in result["quote"]
