"""A private Redis Cluster for the tests: three masters and a replica of each, on spare ports,
started once per test session and removed afterwards (processes stopped, directories deleted).

``redis_cluster`` (tests/conftest.py) hands it out; without redis-server or redis-cli the tests
that use it skip, or fail when QULAB_REQUIRE_SERVICES is set (CI).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from tests import services
from tests.waiting import wait_until

MASTERS = 3
NODE_TIMEOUT_MS = 1000  # how long a silent master has before its replica takes over
READY_TIMEOUT = 30.0


class RedisCluster:
    """Six redis-server processes joined by ``redis-cli --cluster create``."""

    def __init__(self) -> None:
        server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
        if server is None or cli is None:
            services.unavailable("redis-server", "redis-server and redis-cli are not installed")
        self.server, self.cli = str(server), str(cli)
        self.root = Path(tempfile.mkdtemp(prefix="qulab-redis-cluster-"))
        self.ports = [services.free_port() for _ in range(2 * MASTERS)]
        # The cluster bus, on ports of its own (port + 10000 may be past 65535).
        self.bus_ports = {port: services.free_port() for port in self.ports}
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        """The ``redis+cluster://`` URL naming every node as a seed."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def start(self) -> None:
        """Start the nodes, join them, wait until the cluster serves every slot (``stop``
        removes whatever was started, also after a failure here)."""
        for port in self.ports:
            self.start_node(port)
        nodes = [f"127.0.0.1:{port}" for port in self.ports]
        created = subprocess.run(
            [self.cli, "--cluster", "create", *nodes, "--cluster-replicas", "1", "--cluster-yes"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if created.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {created.stdout[-2000:]}")
        self.wait_until_ok()

    def start_node(self, port: int) -> None:
        """Start (or start again, with its nodes.conf, so it rejoins) the node on ``port``."""
        workdir = self.root / str(port)
        workdir.mkdir(exist_ok=True)
        self.processes[port] = subprocess.Popen(
            [
                *(self.server, "--port", str(port), "--bind", "127.0.0.1"),
                *("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"),
                *("--cluster-port", str(self.bus_ports[port])),
                *("--cluster-node-timeout", str(NODE_TIMEOUT_MS)),
                *("--save", "", "--appendonly", "no", "--dir", str(workdir)),
                *("--repl-diskless-sync-delay", "0"),  # a replica syncs at once, not after 5 s
                *("--logfile", str(workdir / "redis.log")),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}"
        wait_until(lambda: services.port_open(url, port), f"redis-server on port {port}")

    def kill_node(self, port: int) -> None:
        """Kill the node on ``port`` at once (SIGKILL: no goodbye to the cluster)."""
        process = self.processes.pop(port)
        process.kill()
        process.wait(timeout=10)

    def redis_cli(self, port: int, *command: str) -> str:
        done = subprocess.run(
            [self.cli, "-p", str(port), *command],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return done.stdout.strip()

    def info(self, port: int) -> dict[str, str]:
        """CLUSTER INFO of one node, as a mapping."""
        lines = self.redis_cli(port, "cluster", "info").splitlines()
        return dict(line.strip().split(":", 1) for line in lines if ":" in line)

    def nodes(self, port: int) -> list[dict[str, str]]:
        """CLUSTER NODES as one node sees it: id, port, flags, master id and slots."""
        seen = []
        for line in self.redis_cli(port, "cluster", "nodes").splitlines():
            fields = line.split()
            seen.append(
                {
                    "id": fields[0],
                    "port": fields[1].split("@", 1)[0].rpartition(":")[2],
                    "flags": fields[2],
                    "master": fields[3],
                    "slots": " ".join(f for f in fields[8:] if not f.startswith("[")),
                }
            )
        return seen

    def master_of(self, key: str, *, asking: int | None = None) -> int | None:
        """The port of the master that serves ``key``'s slot now (as the node on ``asking``
        sees it; any running node by default), None while none does (during a failover)."""
        port = asking or next(iter(self.processes))
        slot = int(self.redis_cli(port, "cluster", "keyslot", key))
        for node in self.nodes(port):
            if "master" not in node["flags"] or "fail" in node["flags"]:
                continue
            for part in node["slots"].split():
                start, _, end = part.partition("-")
                if int(start) <= slot <= int(end or start):
                    return int(node["port"])
        return None

    def replica_of(self, master_port: int) -> int:
        """The port of a replica of the master on ``master_port``."""
        nodes = self.nodes(master_port)
        master_id = next(node["id"] for node in nodes if node["port"] == str(master_port))
        return next(
            int(node["port"])
            for node in nodes
            if node["master"] == master_id and "fail" not in node["flags"]
        )

    def replica_has(self, port: int, key: str) -> bool:
        """Whether the replica on ``port`` holds ``key`` (replication is asynchronous)."""
        done = subprocess.run(
            [self.cli, "-p", str(port)],
            input=f"READONLY\nEXISTS {key}\n",  # a replica answers reads only after READONLY
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return done.stdout.split() == ["OK", "1"]

    def restore(self) -> None:
        """Start every node that was killed again (each rejoins, as a replica) and wait until
        the cluster is whole."""
        for port in self.ports:
            if port not in self.processes:
                self.start_node(port)
        self.wait_until_ok()

    def replicating(self, port: int) -> bool:
        """Whether the node on ``port`` is a master, or a replica in sync with its master (a
        replica that has not synced yet could not take over)."""
        lines = self.redis_cli(port, "info", "replication").splitlines()
        info = dict(line.strip().split(":", 1) for line in lines if ":" in line)
        return info.get("role") == "master" or info.get("master_link_status") == "up"

    def wait_until_ok(self) -> None:
        """Until every running node says cluster_state:ok and agrees on the masters, and every
        replica is in sync."""

        def ok() -> bool:
            if not all(self.info(p).get("cluster_state") == "ok" for p in self.processes):
                return False
            if not all(self.replicating(p) for p in self.processes):
                return False
            views = {
                frozenset(n["port"] for n in self.nodes(p) if "master" in n["flags"])
                for p in self.processes
            }
            return len(views) == 1 and len(next(iter(views))) == MASTERS

        wait_until(ok, "the Redis Cluster to report cluster_state:ok", timeout=READY_TIMEOUT)

    def stop(self) -> None:
        """Kill every node (nothing is kept, so there is no shutdown to wait for: a master
        told to stop would wait for its replicas) and delete the directories."""
        for port in list(self.processes):
            self.kill_node(port)
        shutil.rmtree(self.root, ignore_errors=True)


async def delete_cluster_prefix(url: str, prefix: str) -> None:
    """Remove the keys under a test's own prefix from every master, and only those."""
    from qulab.core.redis_cluster import cluster_client

    client = cluster_client(url)
    try:
        await client.initialize()
        for node in client.get_primaries():
            async for key in client.scan_iter(match=f"{prefix}*", target_nodes=node):
                await client.delete(key)
    finally:
        await client.aclose()
