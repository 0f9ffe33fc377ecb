"""The mixed load of the kill -9 campaign: candidates who sign up, activate through the mailed
link, log in, « Enregistrer », add and remove PDFs and report address changes, each through the
real pages, several at once, and who carry on across restarts.

Each candidate is one user: its requests follow each other, so what the store must hold is known
from what the service acknowledged. An acknowledgement is the success answer received in full
(200 with the success page, or the 303 to ``?info=…``); a request cut by a kill is only an
attempt, which the store may or may not show. The ledger keeps both, and every answer that is
neither a success nor an expected refusal.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from account_helpers import PASSWORD, Client, Mailbox
from enrolment_forms import valid_enrolment_form

from formservice.notice import Notice

from .service import (
    activated,
    activation_path,
    client_for,
    files_on,
    redirected_to,
    signed_up,
    signup_form,
    small_pdf,
    version_on,
)

ADDRESS_CHANGES = 3  # the service allows 3 a day: a candidate stops asking after that


@dataclass
class Attempt:
    value: str
    acked: bool = False


@dataclass
class FileAttempt:
    display: str
    acked: bool = False  # the upload was acknowledged
    removal: Attempt | None = None  # a removal was tried (acked or not)


class Unexpected(Exception):
    """An answer that is neither the success nor a refusal the load expects."""


@dataclass
class Ledger:
    answers: Counter[str] = field(default_factory=Counter)  # "action status" -> count
    unexpected: list[str] = field(default_factory=list)
    cut: int = 0  # requests cut short by a kill (transport errors)

    def acks(self, action: str) -> int:
        return sum(n for key, n in self.answers.items() if key.startswith(f"{action} ack"))


class LoadCandidate:
    def __init__(self, n: int, base_url: str, notice: Notice, mailbox: Mailbox, ledger: Ledger, seed: float):
        self.n = n
        self.email = f"charge{n}@exemple.fr"
        self.notice = notice
        self.mailbox = mailbox
        self.ledger = ledger
        self.rnd = random.Random(seed)
        self.client: Client = client_for(base_url, timeout=20.0)
        self.signup: Attempt | None = None  # acked once any signup of this address was
        self.activation_acked = False
        self.logged_in = False
        self.saves: list[Attempt] = []  # cities, in order
        self.files: list[FileAttempt] = []
        self.addresses: list[Attempt] = []  # cities of the address changes
        self.address_refused = False
        self.counter = 0

    # -- bookkeeping ------------------------------------------------------------------------
    def _unique(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.n}x{self.counter}"

    def _answer(self, action: str, response: httpx.Response, ok: bool, allowed: tuple[int, ...] = ()) -> bool:
        if ok:
            self.ledger.answers[f"{action} ack"] += 1
            return True
        self.ledger.answers[f"{action} {response.status_code}"] += 1
        if response.status_code in (302, 303) and "/compte/connexion" in response.headers.get("location", ""):
            self.logged_in = False  # the session is gone (never the case here: reported below)
        if response.status_code not in allowed:
            self.ledger.unexpected.append(
                f"{self.email} {action}: {response.status_code} {response.headers.get('location', '')} "
                f"{response.text[:300]!r}"
            )
        return False

    async def _page(self, path: str) -> str | None:
        response = await self.client.page(path)
        if response.status_code != 200:
            self._answer(f"GET {path}", response, False)
            return None
        return response.text

    # -- the journey --------------------------------------------------------------------------
    async def step(self) -> None:
        if self.signup is None or not self.signup.acked:
            await self.do_signup()
        elif not self.activation_acked:
            await self.do_activate()
        elif not self.logged_in:
            await self.do_login()
        elif not any(s.acked for s in self.saves):
            await self.do_save()
        else:
            live = [f for f in self.files if f.acked and f.removal is None]
            choices = ["save", "upload", "upload", "remove" if live else "upload"]
            if len(self.addresses) < ADDRESS_CHANGES and not self.address_refused:
                choices.append("address")
            await getattr(self, f"do_{self.rnd.choice(choices)}")()

    async def do_signup(self) -> None:
        self.signup = self.signup or Attempt(self.email)
        response = await self.client.submit("/compte/creer", signup_form(self.email))
        self.signup.acked = self._answer("signup", response, signed_up(response))

    async def do_activate(self) -> None:
        path = activation_path(self.mailbox, self.email)
        if path is None:  # not delivered yet (or lost: the final check says so)
            await asyncio.sleep(0.1)
            return
        if await self._page(path) is None:
            return
        response = await self.client.post(path, data={"csrf_token": self.client.csrf()})
        self.activation_acked = self._answer("activate", response, activated(response))

    async def do_login(self) -> None:
        response = await self.client.submit("/compte/connexion", {"email": self.email, "password": PASSWORD})
        self.logged_in = self._answer("login", response, response.status_code == 303)

    async def do_save(self) -> None:
        page = await self._page("/espace/inscription")
        if page is None:
            return
        city = self._unique("Ville")
        attempt = Attempt(city)
        self.saves.append(attempt)
        form = valid_enrolment_form(self.notice, city=city) | {
            "version": str(version_on(page)),
            "csrf_token": self.client.csrf(page),
        }
        response = await self.client.post("/espace/inscription", data=form)
        ok = redirected_to(response, "enregistree") or redirected_to(response, "modifiee")
        attempt.acked = self._answer("save", response, ok)

    async def do_upload(self) -> None:
        page = await self._page("/espace/justificatifs")
        if page is None:
            return
        room = [
            doc
            for doc, files in files_on(page).items()
            if len(files) < self.notice.uploads.max_files_per_document
        ]
        if not room:
            await self.do_remove(page)
            return
        display = f"{self._unique('piece')}.pdf"
        attempt = FileAttempt(display)
        self.files.append(attempt)
        response = await self.client.post(
            f"/espace/justificatifs/{self.rnd.choice(room)}/ajouter",
            data={"csrf_token": self.client.csrf(page)},
            files={"file": (display, small_pdf(display), "application/pdf")},
        )
        attempt.acked = self._answer("upload", response, redirected_to(response, "ajoute"))

    async def do_remove(self, page: str | None = None) -> None:
        page = page or await self._page("/espace/justificatifs")
        if page is None:
            return
        listed = [f for files in files_on(page).values() for f in files]
        if not listed:
            return
        file_id, display = self.rnd.choice(listed)
        for attempt in self.files:
            if attempt.display == display:
                attempt.removal = Attempt(file_id)
                break
        else:  # a file this candidate never sent: the store invented it
            self.ledger.unexpected.append(f"{self.email}: unknown file {display!r} listed")
            return
        response = await self.client.post(
            f"/espace/justificatifs/fichier/{file_id}/supprimer", data={"csrf_token": self.client.csrf(page)}
        )
        attempt.removal.acked = self._answer("remove", response, redirected_to(response, "supprime"))

    async def do_address(self) -> None:
        page = await self._page("/espace/changement-adresse")
        if page is None:
            return
        city = self._unique("Adresse")
        attempt = Attempt(city)
        self.addresses.append(attempt)
        form = {
            "address": "3 rue du Port",
            "postal_code": "17300",
            "city": city,
            "country": "France",
            "csrf_token": self.client.csrf(page),
        }
        response = await self.client.post("/espace/changement-adresse", data=form)
        # 429: three changes a day, counting those a kill cut short after they were recorded
        attempt.acked = self._answer("address", response, redirected_to(response, "adresse"), allowed=(429,))
        self.address_refused = response.status_code == 429

    async def run(self, up: asyncio.Event, stop: asyncio.Event) -> None:
        """Step after step until ``stop``; while the service is down (``up`` cleared), wait."""
        while not stop.is_set():
            await up.wait()
            try:
                await self.step()
            except httpx.TransportError:
                self.ledger.cut += 1
                await asyncio.sleep(0.02)
            await asyncio.sleep(0)

    async def aclose(self) -> None:
        await self.client.aclose()


def lost_changes(candidates: list[LoadCandidate], stored: Any) -> list[str]:
    """What the store should hold after the candidates' acknowledged requests and does not:
    accounts, activations, the last acknowledged « Enregistrer » (or one cut short after it),
    each acknowledged upload not removed since, no file whose removal was acknowledged, each
    address change. ``stored``: ``service.Stored``."""
    problems: list[str] = []
    for c in candidates:
        account = stored.accounts.get(c.email)
        if c.signup is not None and c.signup.acked and account is None:
            problems.append(f"{c.email}: acknowledged signup lost")
        if c.activation_acked and (account is None or account["status"] != "active"):
            problems.append(f"{c.email}: acknowledged activation lost")
        enrolment = stored.enrolments.get(account["id"]) if account else None
        acked = [i for i, s in enumerate(c.saves) if s.acked]
        city = enrolment["data"].get("city") if enrolment else None
        allowed = {s.value for s in c.saves[acked[-1] if acked else 0 :]}
        if (acked or enrolment is not None) and city not in allowed:
            problems.append(f"{c.email}: city {city!r}, acknowledged/attempted since: {sorted(allowed)}")
        if enrolment is not None and not len(acked) <= enrolment["version"] <= len(c.saves):
            problems.append(f"{c.email}: version {enrolment['version']}, {len(acked)}/{len(c.saves)} saves")
        listed = {f["display_name"] for f in (enrolment or {}).get("files", [])}
        for f in c.files:
            if f.removal is not None and f.removal.acked and f.display in listed:
                problems.append(f"{c.email}: {f.display} removed (acknowledged) but still recorded")
            if f.acked and f.removal is None and f.display not in listed:
                problems.append(f"{c.email}: {f.display} uploaded (acknowledged) but not recorded")
        if listed - {f.display for f in c.files}:
            problems.append(f"{c.email}: files nobody sent: {listed - {f.display for f in c.files}}")
        cities = {ch["address"]["city"] for ch in (enrolment or {}).get("address_changes", [])}
        problems += [
            f"{c.email}: address change {a.value} (acknowledged) not recorded"
            for a in c.addresses
            if a.acked and a.value not in cities
        ]
    return problems
