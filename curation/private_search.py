"""The search backend behind a private Unix socket: osmem in a network namespace of its own.

osmem (the in-memory OpenSearch API) has no authentication and listens only on TCP, so on
the shared loopback any local user could search, change or delete review data without
Argilla's key. This process enters a new user + network namespace, whose loopback no
other process can reach, starts osmem there, and relays connections to it from a Unix
socket made with mode 0600: only the owner of the state dir can connect. The Argilla
processes do, through osmem_engine. Run by server.py from <state_dir>/launcher/:

    python private_search.py SOCKET_PATH OSMEM_BINARY

It prints "ready" once the socket relays to a running osmem, and runs until SIGTERM;
osmem dies with it (parent-death signal). Standard library only: it runs in the service venv.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import os
import signal
import socket
import struct
import subprocess
import sys
import time

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
PR_SET_PDEATHSIG = 1
OSMEM_PORT = 9200  # on the namespace's own loopback: nothing else is there to clash with
CHUNK = 1 << 16


def enter_private_network() -> None:
    """unshare(2) into a new user and network namespace and bring its loopback up. The
    user namespace is what lets an unprivileged user own a network namespace; uid and
    gid map to themselves so files keep their owner."""
    uid, gid = os.getuid(), os.getgid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0:
        reason = os.strerror(ctypes.get_errno())
        sys.exit(
            f"private_search: cannot create a private network namespace for the search backend: {reason}.\n"
            "The local Argilla needs unprivileged user namespaces (Linux: sysctl kernel.unprivileged_userns_clone=1; "
            "Ubuntu 24.04: kernel.apparmor_restrict_unprivileged_userns=0; containers: a seccomp profile that allows "
            "unshare), or point curate.api_url at your own Argilla server."
        )
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as handle:
            handle.write(text)
    with socket.socket() as sock:
        request = struct.pack("16sH22x", b"lo", 0)  # struct ifreq: name, then the flags of the union
        flags = struct.unpack("16sH22x", fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP))


def start_osmem(binary: str) -> subprocess.Popen:
    relay_pid = os.getpid()

    def die_with_relay() -> None:  # in the child, before exec: SIGKILL the moment this relay dies
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != relay_pid:  # it died before the watch was armed
            os._exit(1)

    osmem = subprocess.Popen(
        [binary, "--addr", f"127.0.0.1:{OSMEM_PORT}", "--no-stdin-watch", "--no-ja"],
        stdin=subprocess.DEVNULL,
        preexec_fn=die_with_relay,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if osmem.poll() is not None:
            sys.exit(f"private_search: osmem exited while starting (exit {osmem.returncode})")
        try:
            socket.create_connection(("127.0.0.1", OSMEM_PORT), timeout=0.5).close()
            return osmem
        except OSError:
            time.sleep(0.05)
    osmem.kill()
    sys.exit("private_search: osmem did not listen within 30 s")


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


async def relay(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
    try:
        osmem_reader, osmem_writer = await asyncio.open_connection("127.0.0.1", OSMEM_PORT)
    except OSError:
        client_writer.close()
        return
    # Either side ending the connection ends both: HTTP clients never half-close.
    await asyncio.gather(pipe(client_reader, osmem_writer), pipe(osmem_reader, client_writer))


async def serve(socket_path: str, osmem: subprocess.Popen) -> None:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    if os.path.exists(socket_path):
        os.unlink(socket_path)  # left by a killed predecessor
    old_umask = os.umask(0o177)  # the socket is born 0600: no window where others may connect
    try:
        server = await asyncio.start_unix_server(relay, path=socket_path)
    finally:
        os.umask(old_umask)
    print("ready", flush=True)
    async with server:
        while not stopping.is_set() and osmem.poll() is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=1.0)
    if osmem.poll() is not None:
        print(f"private_search: osmem exited (code {osmem.returncode})", flush=True)


def main(argv: list[str]) -> None:
    socket_path, binary = argv
    enter_private_network()
    osmem = start_osmem(binary)
    try:
        asyncio.run(serve(socket_path, osmem))
    finally:
        osmem.terminate()
        try:
            osmem.wait(timeout=5)
        except subprocess.TimeoutExpired:
            osmem.kill()
        if os.path.exists(socket_path):
            os.unlink(socket_path)


if __name__ == "__main__":
    main(sys.argv[1:])
