"""Hosts of their own on this machine, for the tests of workers on other hosts: network namespaces
joined to the root namespace by a bridge, and a TCP forwarder that lets them reach services which
listen on the loopback only.

`hosts(names)` makes one bridge in the root namespace (address 10.231.N.1/24, N free) and, per
name, a namespace with a veth pair on that bridge (10.231.N.2, .3, ...) and its own loopback; no
route leads anywhere else, so a namespace reaches only the bridge's address and the other
namespaces. Everything is removed afterwards, the processes left in the namespaces killed first.
`forwarded(address, ports)` serves, on `address` in this process, each loopback port on a port of
its own: bounded (connections at once, connect timeout), stopped when the block ends.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import os
import random
import signal
import subprocess
import threading
import time

SUBNETS = ipaddress.ip_network("10.231.0.0/16")
MAX_CONNECTIONS = 512
CONNECT_TIMEOUT = 10.0


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True, timeout=30)


@dataclasses.dataclass(frozen=True)
class Host:
    name: str
    namespace: str
    address: str

    def command(self, argv: list[str]) -> list[str]:
        """`argv` run inside this host's namespace."""
        return ["ip", "netns", "exec", self.namespace, *argv]

    def pids(self) -> list[int]:
        found = _ip("netns", "pids", self.namespace, check=False).stdout.split()
        return [int(pid) for pid in found]

    def kill_all(self) -> list[int]:
        """SIGKILL every process in this host's namespace; their pids."""
        pids = self.pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.2)
        return pids


@dataclasses.dataclass(frozen=True)
class Hosts:
    bridge: str
    address: str  # the root namespace's address on the bridge: the "scheduler host"
    hosts: dict[str, Host]

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]


def _free_subnet() -> ipaddress.IPv4Network:
    used = _ip("-4", "-o", "addr").stdout
    candidates = list(SUBNETS.subnets(new_prefix=24))
    random.shuffle(candidates)
    for subnet in candidates:
        prefix = str(subnet.network_address).rsplit(".", 1)[0] + "."
        if prefix not in used:
            return subnet
    raise RuntimeError(f"no free /24 in {SUBNETS}")


def namespaces_of_this_test(tag: str) -> list[str]:
    return [line.split()[0] for line in _ip("netns", "list").stdout.splitlines() if line.startswith(tag)]


@contextlib.contextmanager
def hosts(names: list[str]):
    """A bridge and one network namespace per name (see the module); yields `Hosts`."""
    tag = f"mnist-{os.getpid()}-"
    bridge = f"mnbr{os.getpid()}"[:15]
    subnet = _free_subnet()
    addresses = [str(a) for a in list(subnet.hosts())[:len(names) + 1]]
    made: dict[str, Host] = {}
    try:
        _ip("link", "add", bridge, "type", "bridge")
        _ip("addr", "add", f"{addresses[0]}/24", "dev", bridge)
        _ip("link", "set", bridge, "up")
        for index, name in enumerate(names, start=1):
            namespace, outside, inside = f"{tag}{name}", f"mnv{os.getpid()}{index}"[:15], f"eth{index}"
            _ip("netns", "add", namespace)
            made[name] = Host(name, namespace, addresses[index])
            _ip("link", "add", outside, "type", "veth", "peer", "name", inside, "netns", namespace)
            _ip("link", "set", outside, "master", bridge)
            _ip("link", "set", outside, "up")
            _ip("-n", namespace, "addr", "add", f"{addresses[index]}/24", "dev", inside)
            _ip("-n", namespace, "link", "set", inside, "up")
            _ip("-n", namespace, "link", "set", "lo", "up")
        yield Hosts(bridge, addresses[0], made)
    finally:
        for host in made.values():
            host.kill_all()
            _ip("netns", "del", host.namespace, check=False)  # its veth end goes with it, and the peer
        _ip("link", "del", bridge, check=False)


# --- The forwarder ----------------------------------------------------------------------------

async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


@contextlib.contextmanager
def forwarded(address: str, ports: list[int]):
    """For each port P that listens on 127.0.0.1, a port on `address` (in this process, the root
    namespace) whose connections go to 127.0.0.1:P; yields {P: its port on `address`}."""
    loop = asyncio.new_event_loop()
    slots = asyncio.Semaphore(MAX_CONNECTIONS)
    servers: list[asyncio.AbstractServer] = []
    mapped: dict[int, int] = {}

    def handler(target: int):
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            async with slots:
                try:
                    upstream_reader, upstream_writer = await asyncio.wait_for(
                        asyncio.open_connection("127.0.0.1", target), CONNECT_TIMEOUT)
                except (TimeoutError, OSError):
                    writer.close()
                    return
                await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        return handle

    async def start() -> None:
        for port in ports:
            server = await asyncio.start_server(handler(port), address, 0)
            servers.append(server)
            mapped[port] = server.sockets[0].getsockname()[1]

    loop.run_until_complete(start())
    thread = threading.Thread(target=loop.run_forever, name="forwarder", daemon=True)
    thread.start()
    try:
        yield mapped
    finally:
        async def stop() -> None:
            for server in servers:
                server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()
