"""Everything the service keeps is private: every directory it creates 0700, every file 0600,
whatever the umask (here the usual 022, which would leave them readable by every local user)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from formservice.audit import AuditLog
from formservice.clock import FrozenClock
from formservice.durable import open_private, private_dir, restrict
from formservice.settings import development_secret
from formservice.store.tinydb.engine import TinyDBEngine
from formservice.store.tinydb.journal import journal_generations, journal_path
from formservice.store.tinydb.lockfile import LOCK_NAME
from formservice.store.tinydb.snapshot import SNAPSHOT_NAME, write_snapshot
from formservice.uploads.names import KINDS
from formservice.uploads.storage import store

from .helpers import account

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def modes_under(root: Path) -> dict[str, int]:
    """Every directory and file under ``root`` (itself included), relative name -> mode."""
    found = {".": mode(root)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = mode(path)
    return found


async def test_a_signup_like_write_leaves_only_private_files(tmp_path: Path) -> None:
    """From nothing: the development key, the store (lock, journal, snapshot, manifest), an audit
    event and an uploaded file; every folder on the way 0700, every file 0600."""
    data_dir = tmp_path / "var"
    key = development_secret(data_dir)
    engine = TinyDBEngine(data_dir / "store")
    await engine.insert("accounts", account(1))
    await engine.compact()  # a snapshot, and a second journal generation
    await engine.insert("accounts", account(2))
    audit = AuditLog(data_dir / "audit.log", key, FrozenClock(datetime(2025, 10, 22, tzinfo=UTC)))
    audit.event("account.created", account_id="acc-2")
    audit.close()
    pdf = next(kind for kind in KINDS if kind.extension == ".pdf")
    stored = store(data_dir / "uploads" / "acc-2", pdf, "attestation.pdf", lambda f: f.write(b"%PDF-1.4\n"))
    found = modes_under(data_dir)
    await engine.close()
    found |= modes_under(data_dir)  # and the manifest written at close
    gen = journal_generations(data_dir / "store")[-1]
    expected_files = {
        "secret_key",
        "audit.log",
        f"store/{LOCK_NAME}",
        f"store/{journal_path(data_dir / 'store', gen).name}",
        f"store/{SNAPSHOT_NAME}",
        "store/manifest.json",
        f"uploads/acc-2/{stored.stored_name}",
    }
    assert expected_files <= set(found)
    assert {
        name: m for name, m in found.items() if m != (0o700 if (data_dir / name).is_dir() else 0o600)
    } == {}
    assert found["."] == found["store"] == found["uploads"] == found["uploads/acc-2"] == 0o700


def test_the_snapshot_is_private_while_it_is_written(tmp_path: Path) -> None:
    """The temporary snapshot is 0600 from its creation, before it is renamed into place."""
    seen: list[int] = []
    write_snapshot(
        tmp_path,
        {"accounts": {"a": '{"id":"a"}'}},
        {"journal": 1},
        ready=lambda: seen.append(mode(tmp_path / "snapshot.json.tmp")),
    )
    assert seen == [0o600]
    assert mode(tmp_path / SNAPSHOT_NAME) == 0o600


async def test_a_store_of_an_earlier_release_is_tightened_at_open(store_dir: Path) -> None:
    """Folder 0755 and files 0644 (written before this release): made private at the next open."""
    engine = TinyDBEngine(store_dir)
    await engine.insert("accounts", account(1))
    await engine.compact()
    await engine.close()
    store_dir.chmod(0o755)
    for path in store_dir.iterdir():
        path.chmod(0o644)
    engine = TinyDBEngine(store_dir)
    assert await engine.count("accounts") == 1
    await engine.close()
    assert mode(store_dir) == 0o700
    assert {path.name: mode(path) for path in store_dir.iterdir()} == {
        path.name: 0o600 for path in store_dir.iterdir()
    }


async def test_an_existing_data_directory_keeps_its_mode(tmp_path: Path) -> None:
    """The administrator's data directory is theirs: only what the service creates is 0700."""
    data_dir = tmp_path / "var"
    data_dir.mkdir(mode=0o750)
    data_dir.chmod(0o750)
    await TinyDBEngine(data_dir / "store").close()
    assert mode(data_dir) == 0o750
    assert mode(data_dir / "store") == 0o700


# -- the helpers ----------------------------------------------------------------------------------


def test_private_dir_creates_every_missing_level_0700(tmp_path: Path) -> None:
    """Path.mkdir(parents=True) would give the parents 0755 under this umask."""
    assert private_dir(tmp_path / "a" / "b" / "c") == tmp_path / "a" / "b" / "c"
    assert [mode(tmp_path / p) for p in ("a", "a/b", "a/b/c")] == [0o700] * 3
    private_dir(tmp_path / "a" / "b" / "c")  # already there: fine
    (tmp_path / "f").write_text("x")
    with pytest.raises(FileExistsError):
        private_dir(tmp_path / "f")


def test_open_private_makes_a_regular_file_0600_and_leaves_devices_alone(tmp_path: Path) -> None:
    """A new file and an existing 0644 one end 0600; /dev/null keeps its own mode."""
    old = tmp_path / "old"
    old.write_text("x")
    old.chmod(0o644)
    for path in (tmp_path / "new", old):
        os.close(open_private(path, os.O_WRONLY | os.O_CREAT))
        assert mode(path) == 0o600
    before = mode(Path("/dev/null"))
    os.close(open_private(Path("/dev/null"), os.O_WRONLY))
    assert mode(Path("/dev/null")) == before


def test_restrict_only_takes_permissions_away(tmp_path: Path) -> None:
    """Group and others lose theirs; the owner's are kept as they were; links are not followed."""
    f = tmp_path / "f"
    f.write_text("x")
    f.chmod(0o444)
    restrict(f)
    assert mode(f) == 0o400
    target = tmp_path / "target"
    target.write_text("x")
    target.chmod(0o644)
    (tmp_path / "link").symlink_to(target)
    restrict(tmp_path / "link")
    assert mode(target) == 0o644
