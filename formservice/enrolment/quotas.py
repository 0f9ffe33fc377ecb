"""The notice's upload limits (per piece, in number, in total size), checked for a file the
candidate adds, the enrolment's way or, in correction, the review's: one check, each feature's
error and words. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from formservice.enrolment.records import Enrolment, EnrolmentFile
from formservice.notice import Notice


@dataclass(frozen=True)
class FileLimits:
    max_files_per_document: int
    max_files_total: int
    max_total_bytes: int


def limits_of(notice: Notice) -> FileLimits:
    u = notice.uploads
    return FileLimits(u.max_files_per_document, u.max_files_total, u.max_total_mb * 1024 * 1024)


def check_quotas(
    doc: Mapping[str, Any],
    piece_files: int,
    size: int,
    notice: Notice,
    *,
    refuse: Callable[[str], Exception],
    piece_remedy: str,
    total_remedy: str,
) -> None:
    """The notice's upload limits for one more file of ``size`` bytes on a piece that already has
    ``piece_files``: per piece, in number, in total size. ``refuse`` builds the feature's error;
    the remedies say what to do in the words of the page the candidate is on."""
    limits = limits_of(notice)
    files = doc.get("files", [])
    if piece_files >= limits.max_files_per_document:
        raise refuse(
            f"Vous avez déjà déposé {limits.max_files_per_document} fichier(s) pour cette pièce, "
            f"le maximum : {piece_remedy}."
        )
    if len(files) >= limits.max_files_total:
        raise refuse(f"Vous avez atteint le nombre maximal de fichiers ({limits.max_files_total}).")
    if sum(f["size"] for f in files) + size > limits.max_total_bytes:
        raise refuse(
            f"L'ensemble de vos fichiers dépasserait {notice.uploads.max_total_mb} Mo : {total_remedy}."
        )


def with_reserved(doc: Enrolment, document_ids: Iterable[str]) -> Enrolment:
    """A copy of ``doc`` counting one more (empty) file for each of ``document_ids``: uploads in
    flight take their place in the quotas before they are decoded."""
    placeholders = [
        cast(EnrolmentFile, {"id": f"en-cours-{i}", "document_id": d, "size": 0})
        for i, d in enumerate(document_ids)
    ]
    return cast(Enrolment, {**doc, "files": [*doc.get("files", []), *placeholders]})
