"""Browser fixtures: headless Chromium driven by Playwright, and a private JupyterLab server.

- ``page`` is a fresh Chromium tab. Chromium is Debian's (``/usr/bin/chromium``, or ``$CHROMIUM``)
  and Playwright is only the Python driver: ``playwright install`` would download a browser of its
  own, which an offline machine cannot do. Where either is missing the tests skip and say how to
  install it (``.ci/run`` installs Chromium, ``requirements-dev.txt`` Playwright); once the browser
  is there, every failure is a failure.
- ``lab`` starts ``jupyter lab`` on a free loopback port with a random token, in a folder of the
  test's own, with its own settings, workspaces and runtime files, and stops it afterwards (its
  kernels with it). It asks nothing of the outside world: no news, no update check, no extension
  catalogue.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "runs" / "browser"

# Flags for a headless Chromium as root on a closed network: without the background-networking
# ones Chromium keeps trying to reach Google's services and its connections are refused.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_TIMEOUT = 90.0  # seconds until the server answers /api/status


def chromium_path() -> Path:
    """Where the Chromium executable is: ``$CHROMIUM`` if set, else Debian's ``/usr/bin/chromium``."""
    return Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """A headless Chromium for this test module; skipped (with the fix) where it cannot run."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(
            "the Playwright Python package is not installed: `.venv/bin/pip install playwright` "
            "(the driver only; never `playwright install`, it downloads a browser of its own)"
        )
    executable = chromium_path()
    if not executable.is_file():
        pytest.skip(
            f"no Chromium at {executable}: `apt-get install -y --no-install-recommends chromium` "
            "(Debian), or point $CHROMIUM at a Chromium executable"
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh tab (its own cookies and storage) with a laptop-sized window."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def screenshots() -> Path:
    """``runs/browser/``, created: where the browser tests leave their pictures for a person."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@dataclass
class LabServer:
    """A running JupyterLab: its address, token, the folder it serves and its log file."""

    url: str
    token: str
    root_dir: Path
    log: Path

    def notebook_url(self, name: str) -> str:
        """The address that opens ``root_dir/name`` in JupyterLab."""
        return f"{self.url}/lab/tree/{name}?token={self.token}"

    def log_tail(self, lines: int = 40) -> str:
        """The server log's last lines, for failure messages."""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_lab_settings(settings_dir: Path) -> None:
    """User settings for the test's Lab: every cell in the page, and no news or update toasts.

    JupyterLab normally attaches only the cells near the viewport; ``windowingMode: none`` keeps
    all of them in the page so the test can read every prompt and output.
    """
    settings = {
        "notebook-extension/tracker": '{"windowingMode": "none"}',
        "apputils-extension/notification": '{"fetchNews": "false", "checkForUpdates": false}',
    }
    for plugin, text in settings.items():
        path = settings_dir / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def wait_until_serving(process: subprocess.Popen, server: LabServer) -> None:
    """Poll ``/api/status`` until the server answers; fail with its log if it dies or never does."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    request = urllib.request.Request(
        f"{server.url}/api/status", headers={"Authorization": f"token {server.token}"}
    )
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"jupyter lab exited with code {process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(
        f"jupyter lab did not answer within {SERVER_START_TIMEOUT:.0f} s:\n{server.log_tail()}"
    )


def stop(process: subprocess.Popen) -> None:
    """Stop the server the way Ctrl-C-twice would (it shuts its kernels down), then make sure."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
    try:  # anything left in the server's own process group
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=10)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[LabServer]:
    """JupyterLab serving ``tmp_path/notebooks`` with this project's kernel, stopped afterwards.

    Notebooks write their results under ``tmp_path/runs`` (``SPARSITY_OUTPUT_ROOT``), on one torch
    thread and without progress bars, as in the test suite.
    """
    root_dir = tmp_path / "notebooks"
    root_dir.mkdir()
    config = tmp_path / "jupyter"
    write_lab_settings(config / "lab-settings")
    env = {
        **os.environ,
        "SPARSITY_OUTPUT_ROOT": str(tmp_path / "runs"),
        "SPARSITY_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "SPARSITY_PROGRESS": "0",
        # Keep the user's Jupyter configuration, saved layouts and runtime files out of it.
        "JUPYTER_CONFIG_DIR": str(config / "config"),
        "JUPYTER_RUNTIME_DIR": str(config / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(config / "lab-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(config / "workspaces"),
    }
    server = LabServer(
        url=f"http://127.0.0.1:{free_port()}",
        token=secrets.token_hex(16),
        root_dir=root_dir,
        log=tmp_path / "jupyter-lab.log",
    )
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",  # CI runs as root
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={server.url.rsplit(':', 1)[1]}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={server.token}",
        f"--ServerApp.root_dir={root_dir}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]
    with server.log.open("w") as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_until_serving(process, server)
        yield server
    finally:
        stop(process)
