"""The network guard: every Python process started with this folder on PYTHONPATH is offline.

``make test`` puts ``tools/offline`` on ``PYTHONPATH``, so Python imports this file at start-up in the
test processes *and* in every Jupyter kernel that nbval, papermill or the student tests start. It
refuses any connection or name lookup that would leave the machine (loopback and Unix sockets, which
Jupyter itself uses, stay allowed), raises ``NetworkBlocked`` (an ``OSError``, as a real offline
machine would give), and appends one line per attempt to ``$SPARSITY_NETWORK_LOG``. A notebook that
swallowed the error still shows up there: ``tests/offline`` fails on any ``BLOCKED`` line.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
import time

LOG = os.environ.get("SPARSITY_NETWORK_LOG")
LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}


class NetworkBlocked(ConnectionRefusedError):
    """A connection or lookup beyond this machine, refused by the offline guard."""


def _log(line: str) -> None:
    if LOG:
        with open(LOG, "a", encoding="utf-8") as f:  # one short append per line: no torn lines
            f.write(f"{time.strftime('%H:%M:%S')} pid {os.getpid()} {line}\n")


def _is_local_host(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    if not isinstance(host, str) or host.lower() in LOCAL_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False  # a name that is not localhost: resolving it is a network access
    return address.is_loopback or address.is_unspecified


def _program() -> str:
    """The command line of this process, shortened (``python -m ipykernel_launcher`` for a kernel)."""
    argv = getattr(sys, "orig_argv", sys.argv)
    return " ".join(os.path.basename(a) for a in argv[:3]) or "python"


def _refuse(what: str, target: object) -> None:
    program = _program()
    _log(f"BLOCKED {what} {target!r} from {program}")
    raise NetworkBlocked(
        f"offline: {what} {target!r} was blocked. This project runs without network access; "
        "data must come from generators, installed packages or files already in data/."
    )


def _guard(method_name: str):
    real = getattr(socket.socket, method_name)

    def guarded(self: socket.socket, address: object, *args: object):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0] if isinstance(address, tuple) else address
            if not _is_local_host(host):
                _refuse(method_name, address)
        return real(self, address, *args)

    guarded.__name__ = method_name
    return guarded


def _guarded_getaddrinfo(host: object, *args: object, **kwargs: object):
    if not _is_local_host(host):
        _refuse("name lookup", host)
    return _real_getaddrinfo(host, *args, **kwargs)


def install() -> None:
    """Patch the socket module (idempotent) and note the process in the log."""
    global _real_getaddrinfo
    if getattr(socket, "_sparsity_offline", False):
        return
    for name in ("connect", "connect_ex"):
        setattr(socket.socket, name, _guard(name))
    _real_getaddrinfo = socket.getaddrinfo
    socket.getaddrinfo = _guarded_getaddrinfo
    socket._sparsity_offline = True
    _log(f"guard installed in {_program()}")


install()
