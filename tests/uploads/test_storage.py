"""Storage: private random names, durable writes (file and directory fsynced), nothing left on
failure, and a removal that cannot be steered outside the store."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path

import pytest

from formservice.uploads import fsync_dir, inspect_and_normalise, remove_stored, storage

from .corpus import jpeg_bytes, pdf_bytes, png_bytes
from .helpers import accept

# ---------------------------------------------------------------------------------------
# Writing


@pytest.mark.parametrize(
    ("name", "make", "media_type", "suffix"),
    [
        ("scan.pdf", pdf_bytes, "application/pdf", ".pdf"),
        ("photo.jpg", jpeg_bytes, "image/jpeg", ".jpg"),
        ("scan.png", png_bytes, "image/png", ".png"),
    ],
)
def test_stored_file_is_private_random_and_hashed(put, dest, name, make, media_type, suffix):
    """Mode 0600, a random name with no trace of the original, size and SHA-256 of what is stored."""
    stored, data = accept(put, dest, make(), name)
    path = dest / stored.stored_name
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stored.stored_name.endswith(suffix) and name.split(".")[0] not in stored.stored_name
    assert len(stored.stored_name) >= 32
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.size == len(data) == path.stat().st_size
    assert stored.media_type == media_type


def test_two_uploads_of_the_same_file_get_different_names(put, dest):
    """Names are random, never derived from the content or the original name."""
    first = inspect_and_normalise(put(pdf_bytes()), "a.pdf", dest)
    second = inspect_and_normalise(put(pdf_bytes()), "a.pdf", dest)
    assert first.stored_name != second.stored_name
    assert first.sha256 == second.sha256


def test_mode_is_0600_whatever_the_umask(put, dest):
    """A permissive umask does not widen the stored file's mode."""
    old = os.umask(0)
    try:
        stored, _ = accept(put, dest, pdf_bytes(), "a.pdf")
    finally:
        os.umask(old)
    assert stat.S_IMODE((dest / stored.stored_name).stat().st_mode) == 0o600


def test_file_and_directory_are_fsynced_before_returning(put, dest, monkeypatch):
    """The file's data and its directory entry are on disk before a record may point to it."""
    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(storage.os, "fsync", spy)
    accept(put, dest, png_bytes(), "scan.png")
    assert synced == ["file", "dir"]


def test_a_failure_while_storing_leaves_nothing(put, dest, monkeypatch):
    """A disk error at the rename (or anywhere in the write) removes the temporary file."""

    def broken_rename(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage.os, "rename", broken_rename)
    with pytest.raises(OSError):
        inspect_and_normalise(put(pdf_bytes()), "a.pdf", dest)
    assert list(dest.iterdir()) == []


def test_a_failure_after_the_rename_leaves_nothing(put, dest, monkeypatch):
    """If the directory cannot be synced, the renamed file is removed too: no orphan without a record."""

    def broken_dir_sync(path: Path) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(storage, "fsync_dir", broken_dir_sync)
    with pytest.raises(OSError):
        inspect_and_normalise(put(png_bytes()), "a.png", dest)
    assert list(dest.iterdir()) == []


def test_an_adopted_pdf_is_fsynced_with_its_directory(put, dest, monkeypatch):
    """With `move`, the renamed temporary file and its new name are both synced before returning."""
    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    src = put(pdf_bytes())
    monkeypatch.setattr(storage.os, "fsync", spy)
    stored = inspect_and_normalise(src, "a.pdf", dest, move=True)
    assert synced == ["file", "dir"]
    assert not src.exists()
    assert [p.name for p in dest.iterdir()] == [stored.stored_name]


def test_a_failure_after_adopting_leaves_nothing(put, dest, monkeypatch):
    """The adopted file is removed if its directory cannot be synced, as for a written one."""

    def broken_dir_sync(path: Path) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(storage, "fsync_dir", broken_dir_sync)
    with pytest.raises(OSError):
        inspect_and_normalise(put(pdf_bytes()), "a.pdf", dest, move=True)
    assert list(dest.iterdir()) == []


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.mark.parametrize("move", [False, True], ids=["written", "adopted"])
def test_missing_folders_are_created_private_whatever_the_umask(put, tmp_path, umask_022, move):
    """An account's first upload creates its folder (and a missing uploads root) 0700; the
    file is 0600, written or adopted."""
    dest = tmp_path / "uploads" / "acc-1"
    stored = inspect_and_normalise(put(pdf_bytes()), "a.pdf", dest, move=move)
    assert stat.S_IMODE((dest / stored.stored_name).stat().st_mode) == 0o600
    assert stat.S_IMODE(dest.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "uploads").stat().st_mode) == 0o700


def test_an_account_folder_open_to_others_is_closed_at_the_next_upload(put, dest, umask_022):
    """A folder made 0755 (an earlier release's plain mkdir) loses the others' permissions."""
    dest.chmod(0o755)
    accept(put, dest, png_bytes(), "scan.png")
    assert stat.S_IMODE(dest.stat().st_mode) == 0o700


# ---------------------------------------------------------------------------------------
# Removing


def test_remove_stored_only_accepts_stored_names(dest):
    """Removal cannot be steered outside the store by a crafted name."""
    (dest / "abc_DEF-123.pdf").write_bytes(b"x")
    remove_stored(dest, "abc_DEF-123.pdf")
    assert list(dest.iterdir()) == []
    with pytest.raises(ValueError):
        remove_stored(dest, "../secret.pdf")


@pytest.mark.parametrize(
    "name",
    [
        "../secret.pdf",
        "..",
        ".",
        "",
        "sub/abc.pdf",
        "/etc/abc.pdf",
        "abc.pdf/",
        "C:\\abc.pdf",
        "..\\abc.pdf",
        ".abc.pdf",  # hidden
        ".abc.part",  # a temporary file of `store`
        "abc.part",
        "abc.pdf.png",
        "abc..pdf",
        "abc.PDF",  # the store writes canonical, lower-case extensions only
        "abc.jpeg",
        "abc.exe",
        "abc",
        ".pdf",
        "abc.pdf\n",
        "abc\x00.pdf",
        "abc def.pdf",
        "abc\u0661.pdf",  # a non-ASCII digit
    ],
)
def test_remove_stored_refuses_what_the_store_never_generates(tmp_path, dest, name):
    """A slash, '..', a hidden or temporary name, another extension: ValueError, nothing touched."""
    (tmp_path / "secret.pdf").write_bytes(b"outside")
    (dest / "abc.pdf").write_bytes(b"inside")
    with pytest.raises(ValueError, match="not a stored name"):
        remove_stored(dest, name)
    assert (tmp_path / "secret.pdf").read_bytes() == b"outside"
    assert [p.name for p in dest.iterdir()] == ["abc.pdf"]


@pytest.mark.parametrize(
    ("name", "make"), [("scan.pdf", pdf_bytes), ("photo.jpg", jpeg_bytes), ("scan.png", png_bytes)]
)
def test_remove_stored_accepts_every_name_the_store_gives(put, dest, name, make):
    """Whatever the kind, a name `inspect_and_normalise` returned can be removed with it."""
    stored = inspect_and_normalise(put(make()), name, dest)
    assert storage.is_stored_name(stored.stored_name)
    remove_stored(dest, stored.stored_name)
    assert list(dest.iterdir()) == []


def test_remove_stored_is_idempotent(dest):
    """Removing a file already gone is not an error, so that a removal can be retried."""
    (dest / "abc.png").write_bytes(b"x")
    remove_stored(dest, "abc.png")
    remove_stored(dest, "abc.png")
    remove_stored(dest, "never-there.jpg")
    assert list(dest.iterdir()) == []


@pytest.mark.parametrize("exists", [True, False], ids=["present", "already-gone"])
def test_remove_stored_fsyncs_the_directory_after_the_unlink(dest, monkeypatch, exists):
    """The removal is durable when it returns: the directory is synced once the name is gone,
    also when it was already gone (an earlier removal may have stopped before its fsync)."""
    path = dest / "abc.jpg"
    if exists:
        path.write_bytes(b"x")
    synced: list[tuple[str, bool]] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file", path.exists()))
        real_fsync(fd)

    monkeypatch.setattr(storage.os, "fsync", spy)
    remove_stored(dest, "abc.jpg")
    assert synced == [("dir", False)]


def test_remove_stored_uses_the_shared_directory_fsync(dest, monkeypatch):
    """The directory synced is the store's own, through `storage.fsync_dir`."""
    synced: list[Path] = []
    monkeypatch.setattr(storage, "fsync_dir", synced.append)
    remove_stored(dest, "abc.pdf")
    assert synced == [dest]


# ---------------------------------------------------------------------------------------
# fsync_dir


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
def test_fsync_dir_syncs_the_directory_itself_and_closes_it(dest, monkeypatch):
    """One fsync, on a descriptor of that very directory, which is closed afterwards."""
    synced: list[tuple[int, int]] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        info = os.fstat(fd)
        synced.append((info.st_dev, info.st_ino))
        real_fsync(fd)

    before = _open_fds()
    monkeypatch.setattr(storage.os, "fsync", spy)
    fsync_dir(dest)
    info = dest.stat()
    assert synced == [(info.st_dev, info.st_ino)]
    assert _open_fds() == before


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
def test_fsync_dir_closes_the_directory_when_the_sync_fails(dest, monkeypatch):
    """An EIO from fsync reaches the caller (it must not record the file), and no descriptor leaks."""

    def broken(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    before = _open_fds()
    monkeypatch.setattr(storage.os, "fsync", broken)
    with pytest.raises(OSError) as caught:
        fsync_dir(dest)
    assert caught.value.errno == errno.EIO
    assert _open_fds() == before


def test_fsync_dir_refuses_what_is_not_a_directory(tmp_path):
    """Given a file by mistake, it fails rather than syncing the file and calling it the directory."""
    (tmp_path / "a.pdf").write_bytes(b"x")
    with pytest.raises(NotADirectoryError):
        fsync_dir(tmp_path / "a.pdf")
    with pytest.raises(FileNotFoundError):
        fsync_dir(tmp_path / "missing")
