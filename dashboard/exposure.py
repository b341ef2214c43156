"""Dashboard layer: where a web process is really reachable, and the access-control mode that follows from it.
Under gunicorn TASKLENS_HOST means nothing (`-b` decides), so the WSGI factory reads the listening sockets the
process holds; anything not provably loopback-only gets access control (docs/architecture.md: safe defaults)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from config import Settings, is_loopback


@dataclass(frozen=True)
class AccessMode:
    """Whether access control is on, and the reason, said in one line at start-up."""

    enabled: bool
    reason: str

    def line(self) -> str:
        if self.enabled:
            return (
                f"Access control is on: {self.reason}. Sign in with a token "
                "(python app.py token create --role admin --name you)."
            )
        return f"Access control is off: {self.reason}."


def listening_addresses(proc_fd: Path = Path("/proc/self/fd")) -> list[str] | None:
    """The addresses of the listening sockets this process holds ("0.0.0.0:8050", "unix:/run/x.sock"), or
    None when they cannot be read (no /proc, or no listening socket yet, as under gunicorn --preload)."""
    try:
        fds = [int(name) for name in os.listdir(proc_fd)]
    except (OSError, ValueError):
        return None
    found: list[str] = []
    for fd in fds:
        try:
            if not os.readlink(proc_fd / str(fd)).startswith("socket:"):
                continue
            sock = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue  # closed meanwhile (the listdir's own fd, a socket another thread just closed)
        with sock:
            try:
                if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
                    continue
                name = sock.getsockname()
            except OSError:
                continue
            if sock.family == socket.AF_UNIX:
                found.append(f"unix:{name if isinstance(name, str) else name.decode(errors='replace')}")
            elif sock.family in (socket.AF_INET, socket.AF_INET6):
                host, port = name[0], name[1]
                found.append(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    return found or None


def _host_of(address: str) -> str:
    if address.startswith("unix:"):
        return ""  # a unix socket is typically fronted by a proxy that anyone may reach: not loopback-only
    return address.rsplit(":", 1)[0]


def decide(settings: Settings, addresses: list[str] | None) -> AccessMode:
    """TASKLENS_AUTH on/off as said; auto: off only when every address is loopback, on when any is not or
    when they are unknown."""
    if settings.auth == "on":
        return AccessMode(True, "TASKLENS_AUTH=on")
    if settings.auth == "off":
        where = ", ".join(addresses) if addresses else "an unknown address"
        reach = (
            "this machine only" if addresses and all(is_loopback(_host_of(a)) for a in addresses) else where
        )
        return AccessMode(False, f"TASKLENS_AUTH=off, and anyone who can reach {reach} may use it")
    if addresses is None:
        return AccessMode(
            True, "the addresses it listens on are unknown, so it may be reachable from elsewhere"
        )
    exposed = [a for a in addresses if not is_loopback(_host_of(a))]
    if exposed:
        return AccessMode(True, f"it listens on {', '.join(exposed)}, reachable from other machines")
    return AccessMode(
        False,
        f"it listens on {', '.join(addresses)}, reachable from this machine only (TASKLENS_AUTH=on asks for "
        "tokens here too)",
    )


def resolve(settings: Settings, addresses: list[str] | None) -> tuple[Settings, AccessMode]:
    """The settings with TASKLENS_AUTH made explicit (on or off) for everything built from them."""
    mode = decide(settings, addresses)
    return settings.with_(auth="on" if mode.enabled else "off"), mode
