"""The offline guard (tools/offline/sitecustomize.py) refuses the network and logs every attempt."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

GUARD = Path(__file__).resolve().parents[2] / "tools" / "offline"

PROBE = """
import socket, urllib.request
server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen()
socket.create_connection(server.getsockname(), timeout=2).close()  # loopback: allowed
print("loopback ok")
for target in ["http://example.com/", "http://10.1.2.3/"]:
    try:
        urllib.request.urlopen(target, timeout=2)
        print("REACHED", target)
    except OSError as err:
        print("refused", target, "offline" in str(err))
try:
    socket.socket().connect(("10.1.2.3", 80))
except ConnectionRefusedError as err:
    print("refused raw connect", type(err).__name__)
"""


def guarded_env(log: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(GUARD), "SPARSITY_NETWORK_LOG": str(log)}


def test_guard_refuses_outside_connections_and_allows_loopback(tmp_path: Path) -> None:
    log = tmp_path / "network.log"
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=guarded_env(log),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "loopback ok" in out
    assert "REACHED" not in out
    assert out.count("refused http") == 2 and "True" in out and "False" not in out
    assert "refused raw connect NetworkBlocked" in out
    lines = log.read_text().splitlines()
    assert any("guard installed" in line for line in lines)
    blocked = [line for line in lines if "BLOCKED" in line]
    assert len(blocked) == 3 and "example.com" in blocked[0] and "10.1.2.3" in blocked[2]


def test_guard_is_active_inside_a_jupyter_kernel(tmp_path: Path, monkeypatch) -> None:
    log = tmp_path / "network.log"
    for key, value in guarded_env(log).items():
        monkeypatch.setenv(key, value)
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "import urllib.request\nurllib.request.urlopen('http://example.com/')"
            )
        ]
    )
    client = NotebookClient(nb, kernel_name="python3", timeout=120, allow_errors=True)
    client.execute()
    error = next(o for o in nb.cells[0].outputs if o.output_type == "error")
    assert error.ename == "URLError" and "offline" in error.evalue
    assert "ipykernel_launcher" in log.read_text()
    assert "BLOCKED name lookup 'example.com'" in log.read_text()
