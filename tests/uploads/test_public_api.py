"""What other code imports from formservice.uploads, and the older paths that still work."""

from __future__ import annotations

import formservice.uploads as uploads
from formservice.uploads import antivirus, inspect, names, storage, types


def test_the_package_exports_its_public_api():
    """Every name of `__all__` is importable from the package and is the one of its module."""
    assert sorted(uploads.__all__) == sorted(
        [
            "AntivirusUnavailable",
            "Clamd",
            "MAX_NAME_CHARS",
            "MIB",
            "StoredFile",
            "UploadLimits",
            "UploadRejected",
            "VirusFound",
            "fsync_dir",
            "inspect_and_normalise",
            "remove_stored",
            "safe_display_name",
            "size_fr",
        ]
    )
    assert uploads.inspect_and_normalise is inspect.inspect_and_normalise
    assert uploads.remove_stored is storage.remove_stored
    assert uploads.fsync_dir is storage.fsync_dir
    assert uploads.safe_display_name is names.safe_display_name
    assert uploads.MAX_NAME_CHARS is names.MAX_NAME_CHARS
    for name in ("AntivirusUnavailable", "Clamd", "VirusFound"):
        assert getattr(uploads, name) is getattr(antivirus, name)
    for name in ("MIB", "StoredFile", "UploadLimits", "UploadRejected", "size_fr"):
        assert getattr(uploads, name) is getattr(types, name)


def test_the_old_import_paths_still_work():
    """`formservice.uploads.inspect` keeps exporting what other modules import from it."""
    for name in inspect.__all__:
        assert getattr(inspect, name) is getattr(uploads, name)
    assert types.size_fr is uploads.size_fr
