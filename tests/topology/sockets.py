"""Listening TCP sockets from /proc (no `ss` needed): which address each one binds, and which
process owns it."""

from __future__ import annotations

import os
import socket


def _hex_address(addr: str) -> str:
    raw = bytes.fromhex(addr)
    if len(raw) == 4:
        return socket.inet_ntoa(raw[::-1])
    # IPv6: four little-endian 32-bit words
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words)


def listening() -> list[tuple[str, int, int]]:
    """(address, port, inode) of every socket in LISTEN state."""
    out = []
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(name).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] != "0A":  # 0A: LISTEN
                continue
            addr, port = f[1].split(":")
            out.append((_hex_address(addr), int(port, 16), int(f[9])))
    return out


def addresses_on_port(port: int) -> set[str]:
    """Local addresses something listens on at ``port``."""
    return {a for a, p, _ in listening() if p == port}


def sockets_of(pids: set[int]) -> list[tuple[int, str, int]]:
    """(pid, address, port) of every listening socket the given processes hold."""
    by_inode = {inode: (a, p) for a, p, inode in listening()}
    found = []
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inode = int(target[8:-1])
                if inode in by_inode:
                    found.append((pid, *by_inode[inode]))
    return found
