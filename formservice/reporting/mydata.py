"""« Mes données »: everything the service holds about one candidate, as a ZIP streamed to them:
``mes-donnees.json`` (the account, each enrolment with its versions, the office's decisions and
correction requests, the address changes, the deposit, the history and the reminders sent) and
their files, one folder per session.

The files are read from the file store (``archive``); one the store does not have is left out.
Left out, and said so in the JSON: the password (only an irreversible hash is kept, which
tells nothing), the office's private notes and its members' identifiers (the office's own work
documents, not the candidate's data).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from formservice.audit import AuditLog
from formservice.clock import Clock, from_iso
from formservice.enrolment.rules import LABELS as FIELD_LABELS
from formservice.enrolment.rules import display_value
from formservice.files import FileStore
from formservice.notice import Notice
from formservice.reporting import archive
from formservice.reporting.columns import piece_text
from formservice.reporting.exports import Export, safe_part
from formservice.reporting.writers import closing
from formservice.review import rules as review_rules
from formservice.review.states import LABELS, state_of
from formservice.store import Store
from formservice.store.records import Account

JSON_NAME = "mes-donnees.json"
LEFT_OUT = (
    "Votre mot de passe n'est pas conservé : seule une empreinte irréversible l'est, qui ne le révèle pas. "
    "Les notes internes du pôle et l'identité des agents ne figurent pas dans cet export."
)


def _history(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    review = review_rules.review_of(doc)
    return [
        {
            "date": e["at"],
            "par": "vous" if e["actor"] == "candidate" else "le pôle",
            "événement": review_rules.HISTORY_LABELS.get(e["action"], e["action"]),
        }
        for e in (review["history"] if review else [])
    ]


def _pieces(doc: Mapping[str, Any], notice: Notice) -> list[dict[str, Any]]:
    return [
        {
            "pièce": p.document.name,
            "décision": piece_text(p),
            "message du pôle": p.comment,
            "date de la décision": p.decision["at"] if p.decision else None,
            "fichiers": [f["display_name"] for f in p.files],
        }
        for p in review_rules.pieces(doc, notice)
    ]


def enrolment_data(doc: Mapping[str, Any], notice: Notice, files: list[dict[str, Any]]) -> dict[str, Any]:
    data = doc.get("data", {})
    review = review_rules.review_of(doc)
    return {
        "session": doc.get("session"),
        "numéro d'inscription": doc["id"],
        "état": LABELS[state_of(doc)],
        "inscription": {
            label: display_value(name, data.get(name), notice) for name, label in FIELD_LABELS.items()
        },
        "créée le": doc.get("created_at"),
        "dernier enregistrement": doc.get("updated_at"),
        "versions": doc.get("history", []),
        "dépôt des pièces": doc.get("receipt"),
        "pièces et décisions": _pieces(doc, notice),
        "demandes de correction": [
            {k: c[k] for k in ("requested_at", "deadline", "pieces", "confirmed_at")}
            for c in (review["corrections"] if review else [])
        ],
        "changements d'adresse signalés": doc.get("address_changes", []),
        "historique du dossier": _history(doc),
        "relances envoyées": doc.get("reminders", {}),
        "fichiers": files,
    }


def account_data(account: Account) -> dict[str, Any]:
    return {
        "adresse électronique": account["email"],
        "état": "activé" if account["status"] == "active" else "en attente d'activation",
        "créé le": account["created_at"],
        "activé le": account["activated_at"],
        "mot de passe modifié le": account["password_changed_at"],
        "relances envoyées": account.get("reminders", {}),
    }


@dataclass(kw_only=True, eq=False)
class MyDataService:
    store: Store
    clock: Clock
    notices: Callable[[], Notice]  # the notice in force
    audit: AuditLog
    files: FileStore

    async def export(self, account: Account, ip: str | None = None) -> Export:
        """The candidate's ZIP, read now, streamed as it is written, its first chunk made before
        the answer starts (a file store that does not answer: FilesUnreachable); audited (no name
        in the log)."""
        notice = self.notices()
        enrolments = sorted(
            await self.store.enrolments.for_account(account["id"]), key=lambda d: d["created_at"]
        )
        items: list[archive.ZipItem] = []
        held = []
        for doc in enrolments:
            ranks: Counter[str] = Counter()
            files = []
            for meta in doc.get("files", []):
                ranks[meta["document_id"]] += 1
                name = (
                    f"fichiers/{safe_part(str(doc.get('session', '')))}/"
                    f"{meta['document_id']}-{ranks[meta['document_id']]}{Path(meta['stored_name']).suffix}"
                )
                files.append({"fichier": name, "nom déposé": meta["display_name"], "sha256": meta["sha256"]})
                when = from_iso(meta["uploaded_at"]).astimezone(notice.tz)
                items.append(archive.ZipItem(name, when, account["id"], meta["stored_name"]))
            held.append(enrolment_data(doc, notice, files))
        body = {"compte": account_data(account), "inscriptions": held, "non inclus": LEFT_OUT}
        self.audit.event("account.data_exported", account_id=account["id"], ip=ip, files=len(items))
        now = self.clock.now().astimezone(notice.tz)
        chunks = archive.guarded(self._zip(body, items, now), "« Mes données »")
        return await Export(f"mes-donnees-{now:%Y%m%d}.zip", "application/zip", chunks).ready()

    async def _zip(
        self, body: dict[str, Any], items: list[archive.ZipItem], now: datetime
    ) -> AsyncIterator[bytes]:
        stream = archive.ZipStream()
        with stream.entry(JSON_NAME, now, deflate=True) as entry:
            entry.write(json.dumps(body, ensure_ascii=False, indent=2).encode("utf-8"))
        async with closing(stream.add_files(self.files, items, lambda item, present: None)) as chunks:
            async for chunk in chunks:  # a file the store does not have: left out
                yield chunk
        yield stream.close()
