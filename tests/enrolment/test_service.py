"""EnrolmentService, directly: one read and one durable write per save, files removed with their
record, refusals before a byte of a file is kept. A real MemoryEngine and a real outbox."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from account_helpers import IN_WINDOW
from enrolment_forms import birth_date_for_age, valid_enrolment_form
from notice_factory import notice_with
from upload_helpers import chunks, minimal_pdf, multipart

from formservice.clock import FrozenClock
from formservice.enrolment import rules
from formservice.enrolment.deadlines import DeadlineError
from formservice.enrolment.service import EnrolmentService
from formservice.errors import CsrfFailed
from formservice.files.local import LocalFileStore
from formservice.mail import MailRenderer, OutboxMailer
from formservice.notice import Notice, load_notice
from formservice.outbox import Outbox
from formservice.review import rules as review_rules
from formservice.review.states import ReviewError
from formservice.store import Store
from formservice.store.memory import MemoryEngine
from formservice.web.rendering import make_env

pytestmark = pytest.mark.anyio
REPO = Path(__file__).resolve().parents[2]
NOTICE: Notice = load_notice(REPO / "notice.yml")
ACCOUNT = {"id": "a" * 32, "email": "camille@exemple.fr"}


class CountingEngine(MemoryEngine):
    """The contract's reference engine, counting the calls a use case makes on the enrolments
    (the outbox has its own reads: the mail worker's)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()

    async def get(self, table: str, id: str) -> Any:
        self.calls["get"] += table == "enrolments"
        return await super().get(table, id)

    async def find(self, table: str, field: str, value: Any) -> Any:
        self.calls["find"] += table == "enrolments"
        return await super().find(table, field, value)

    async def insert(self, table: str, doc: Any, **kwargs: Any) -> Any:
        self.calls["insert"] += table == "enrolments"
        return await super().insert(table, doc, **kwargs)

    async def update(self, table: str, id: str, fn: Any, **kwargs: Any) -> Any:
        self.calls["update"] += table == "enrolments"
        return await super().update(table, id, fn, **kwargs)


in_force: list[Notice] = [NOTICE]  # the notice in force, as the service reads it at each write


@pytest.fixture(autouse=True)
def _repository_notice_in_force():
    in_force[:] = [NOTICE]
    yield
    in_force[:] = [NOTICE]


@pytest.fixture
def engine() -> CountingEngine:
    return CountingEngine()


@pytest.fixture
def outbox(tmp_path: Path) -> OutboxMailer:
    return OutboxMailer(tmp_path / "outbox", "ne-pas-repondre@exemple.fr", echo=False)


@pytest.fixture
def service(tmp_path: Path, engine: CountingEngine, outbox: OutboxMailer) -> EnrolmentService:
    store, clock = Store(engine), FrozenClock(IN_WINDOW)
    renderer = MailRenderer(make_env(), lambda: {"notice": NOTICE, "base_url": "http://x"})
    mail = Outbox(store, renderer, outbox, clock)
    svc = EnrolmentService(
        store=store,
        clock=clock,
        notices=lambda: in_force[0],
        files=LocalFileStore(tmp_path / "uploads"),
        tmp_dir=tmp_path / "tmp",
        mail=mail,
        links=lambda name, **params: f"http://x/{name}",
    )
    yield svc
    svc.close()


def subjects(outbox: OutboxMailer) -> list[str]:
    return [
        str(BytesParser(policy=policy.default).parsebytes(p.read_bytes())["Subject"]) for p in outbox.list()
    ]


def form_data(**overrides: str) -> dict[str, Any]:
    result = rules.read_form(valid_enrolment_form(NOTICE, **overrides), NOTICE)
    assert result.ok, result.errors
    return result.data


async def test_a_first_save_is_one_insert_of_the_finished_document(service, engine, outbox):
    """No empty version-0 document first: one insert of version 1, and the confirmation mail."""
    outcome = await service.save(ACCOUNT, None, form_data(), 0, NOTICE, IN_WINDOW)
    assert engine.calls == Counter({"insert": 1})
    stored = await service.current(ACCOUNT["id"], NOTICE)
    assert stored is not None and stored["version"] == 1 and stored["data"]["city"] == "La Rochelle"
    assert outcome.first and outcome.changes
    assert len(subjects(outbox)) == 1 and "Votre pré-inscription est enregistrée" in subjects(outbox)[0]


async def test_a_racing_first_save_is_a_version_conflict_carrying_the_stored_one(service):
    """Two tabs saving first at once: the second is refused, nothing overwritten, and the
    conflict carries the version stored so the form can say what differs."""
    await service.save(ACCOUNT, None, form_data(city="Niort", postal_code="79000"), 0, NOTICE, IN_WINDOW)
    with pytest.raises(rules.VersionConflict) as exc:
        await service.save(ACCOUNT, None, form_data(city="Royan", postal_code="17200"), 0, NOTICE, IN_WINDOW)
    assert exc.value.current is not None and exc.value.current["data"]["city"] == "Niort"
    stored = await service.current(ACCOUNT["id"], NOTICE)
    assert stored is not None and stored["data"]["city"] == "Niort" and stored["version"] == 1


async def test_a_later_save_is_one_atomic_update_and_one_diff(service, engine, outbox):
    """Given the enrolment the request already read, a change costs one update and no other
    read; the mail lists exactly the fields that changed."""
    first = await service.save(ACCOUNT, None, form_data(), 0, NOTICE, IN_WINDOW)
    engine.calls.clear()
    outcome = await service.save(
        ACCOUNT, first.enrolment, form_data(city="Niort", postal_code="79000"), 1, NOTICE, IN_WINDOW
    )
    assert engine.calls == Counter({"update": 1})
    assert [label for label, _, _ in outcome.changes] == ["Code postal", "Commune"]
    assert outcome.enrolment["version"] == 2 and not outcome.first
    assert any("Modification de votre pré-inscription" in subject for subject in subjects(outbox))


async def test_a_save_from_a_stale_form_changes_nothing(service):
    """A form based on version 1 while version 2 is stored is refused, version 2 kept."""
    first = await service.save(ACCOUNT, None, form_data(), 0, NOTICE, IN_WINDOW)
    second = await service.save(
        ACCOUNT, first.enrolment, form_data(city="Niort", postal_code="79000"), 1, NOTICE, IN_WINDOW
    )
    with pytest.raises(rules.VersionConflict):
        await service.save(
            ACCOUNT, second.enrolment, form_data(city="Royan", postal_code="17200"), 1, NOTICE, IN_WINDOW
        )
    stored = await service.current(ACCOUNT["id"], NOTICE)
    assert stored is not None and stored["version"] == 2 and stored["data"]["city"] == "Niort"


async def test_an_unchanged_save_writes_no_version_and_sends_no_mail(service, outbox):
    """« Enregistrer » without a change keeps the version and mails nothing."""
    first = await service.save(ACCOUNT, None, form_data(), 0, NOTICE, IN_WINDOW)
    outcome = await service.save(ACCOUNT, first.enrolment, form_data(), 1, NOTICE, IN_WINDOW)
    assert outcome.changes == [] and outcome.enrolment["version"] == 1 and len(outbox.list()) == 1


async def test_an_upload_is_received_inspected_and_recorded(service, tmp_path):
    """« Ajouter » stores the checked file under the account's folder and records it."""
    saved = await service.save(ACCOUNT, None, form_data(), 0, NOTICE, IN_WINDOW)
    document = rules.required_documents(NOTICE, saved.enrolment["data"])[0]
    headers, parts = multipart("file", "jeton", minimal_pdf())
    upload = await service.upload(
        ACCOUNT, saved.enrolment, document.id, headers, chunks(parts), lambda token: None, NOTICE
    )
    stored = await service.current(ACCOUNT["id"], NOTICE)
    assert stored is not None and [f["id"] for f in stored["files"]] == [upload.file["id"]]
    assert (tmp_path / "uploads" / ACCOUNT["id"] / upload.file["stored_name"]).is_file()
    assert list((tmp_path / "tmp").iterdir()) == []

    await service.remove_file(ACCOUNT, stored, upload.file["id"], NOTICE, IN_WINDOW)
    assert not (tmp_path / "uploads" / ACCOUNT["id"] / upload.file["stored_name"]).exists()
    after = await service.current(ACCOUNT["id"], NOTICE)
    assert after is not None and after["files"] == []


async def test_an_upload_with_a_bad_token_keeps_nothing(service, tmp_path):
    """The token is checked before the file part: refused, no file, no temporary file, no record."""
    saved = await service.save(ACCOUNT, None, form_data(), 0, NOTICE, IN_WINDOW)
    document = rules.required_documents(NOTICE, saved.enrolment["data"])[0]
    headers, parts = multipart("file", "faux", minimal_pdf())

    def refuse(token: str | None) -> None:
        raise CsrfFailed()

    with pytest.raises(CsrfFailed):
        await service.upload(ACCOUNT, saved.enrolment, document.id, headers, chunks(parts), refuse, NOTICE)
    assert list((tmp_path / "tmp").iterdir()) == []
    assert not (tmp_path / "uploads").exists() or not any((tmp_path / "uploads").rglob("*.*"))
    stored = await service.current(ACCOUNT["id"], NOTICE)
    assert stored is not None and stored["files"] == []


async def test_an_upload_before_any_enrolment_is_refused(service):
    """Without a saved enrolment, « Ajouter » says to save « M'inscrire » first."""
    headers, parts = multipart("file", "jeton", minimal_pdf())
    with pytest.raises(rules.EnrolmentError, match="Enregistrez d'abord"):
        await service.upload(ACCOUNT, None, "piece-identite", headers, chunks(parts), lambda t: None, NOTICE)


def test_in_window_is_in_the_window():
    """The fixed instant these tests use is inside the repository notice's registration window."""
    assert NOTICE.opens_at <= IN_WINDOW.astimezone(UTC) < NOTICE.closes_at


async def test_a_deadline_moved_during_a_slow_upload_refuses_it(service, tmp_path):
    """The deadline is read when the file is recorded, from the notice in force then: an editor
    who brings the closing forward while a file is on its way gets it refused, nothing kept."""
    saved = await service.save(ACCOUNT, None, form_data(), 0, NOTICE, IN_WINDOW)
    document = rules.required_documents(NOTICE, saved.enrolment["data"])[0]
    headers, parts = multipart("file", "jeton", minimal_pdf())
    closed = notice_with(
        opens="2025-10-01 09:00", closes="2025-10-22 09:00", documents_deadline="2025-10-22 09:00"
    )

    async def slow_body():
        for index, part in enumerate(parts):
            if index == len(parts) // 2:
                in_force[:] = [closed]  # notice.yml edited while the body is still arriving
            yield part

    with pytest.raises(DeadlineError):
        await service.upload(
            ACCOUNT, saved.enrolment, document.id, headers, slow_body(), lambda t: None, NOTICE
        )
    stored = await service.current(ACCOUNT["id"], NOTICE)
    assert stored is not None and stored["files"] == []
    assert not any((tmp_path / "uploads").rglob("*.pdf")) and list((tmp_path / "tmp").iterdir()) == []


async def test_one_account_cannot_flood_uploads(service):
    """A third parallel upload by one account is refused before its body is read; uploads in
    flight count against the per-piece quota before any is decoded."""
    import anyio

    from formservice.enrolment.service import UPLOADS_IN_FLIGHT
    from formservice.errors import TooManyRequests

    saved = await service.save(ACCOUNT, None, form_data(), 0, NOTICE, IN_WINDOW)
    documents = rules.required_documents(NOTICE, saved.enrolment["data"])
    release = anyio.Event()
    started = 0
    results: list[str] = []

    async def held_body(parts):
        nonlocal started
        yield parts[0]
        started += 1
        await release.wait()
        for part in parts[1:]:
            yield part

    async def upload(document_id: str) -> None:
        headers, parts = multipart("file", "jeton", minimal_pdf())
        try:
            await service.upload(
                ACCOUNT, saved.enrolment, document_id, headers, held_body(parts), lambda t: None, NOTICE
            )
            results.append("ok")
        except (TooManyRequests, rules.EnrolmentError) as exc:
            results.append(type(exc).__name__)

    async with anyio.create_task_group() as tg:
        for document in documents[:UPLOADS_IN_FLIGHT]:
            tg.start_soon(upload, document.id)
        with anyio.fail_after(5):
            while started < UPLOADS_IN_FLIGHT:
                await anyio.sleep(0.01)
        await upload(documents[-1].id)  # a third, while two are still arriving
        assert results == ["TooManyRequests"]
        release.set()
    assert sorted(results) == ["TooManyRequests", "ok", "ok"]


async def test_uploads_in_flight_take_their_place_in_the_quota(service):
    """With one place left for a piece, two uploads sent at once for it: one is kept, the other
    refused with the quota message, before it is decoded."""
    import anyio

    limited = notice_with()  # the repository notice
    per_document = limited.uploads.max_files_per_document
    saved = await service.save(ACCOUNT, None, form_data(), 0, NOTICE, IN_WINDOW)
    document = rules.required_documents(NOTICE, saved.enrolment["data"])[0]
    current = saved.enrolment
    for _ in range(per_document - 1):
        headers, parts = multipart("file", "jeton", minimal_pdf())
        await service.upload(ACCOUNT, current, document.id, headers, chunks(parts), lambda t: None, NOTICE)
        current = await service.current(ACCOUNT["id"], NOTICE)
    release = anyio.Event()
    outcomes: list[str] = []

    async def held(parts):
        yield parts[0]
        await release.wait()
        for part in parts[1:]:
            yield part

    async def one() -> None:
        headers, parts = multipart("file", "jeton", minimal_pdf())
        try:
            await service.upload(ACCOUNT, current, document.id, headers, held(parts), lambda t: None, NOTICE)
            outcomes.append("ok")
        except rules.EnrolmentError as exc:
            outcomes.append(exc.message)

    async with anyio.create_task_group() as tg:
        tg.start_soon(one)
        await anyio.sleep(0.05)
        tg.start_soon(one)
        await anyio.sleep(0.05)
        release.set()
    assert outcomes.count("ok") == 1 and any("le maximum" in o for o in outcomes)
    stored = await service.current(ACCOUNT["id"], NOTICE)
    assert stored is not None and len(rules.files_for(stored, document.id)) == per_document


async def test_an_infected_file_is_refused_and_nothing_kept(service, tmp_path, clamd):
    """With a real clamd, the EICAR test file is refused with a French message, before anything
    is written under the account's folder; a clean PDF still passes."""
    from clamd_helpers import EICAR

    from formservice.uploads import Clamd, UploadRejected

    service.antivirus = Clamd(clamd.socket_path)
    saved = await service.save(ACCOUNT, None, form_data(), 0, NOTICE, IN_WINDOW)
    document = rules.required_documents(NOTICE, saved.enrolment["data"])[0]
    headers, parts = multipart("file", "jeton", EICAR)
    with pytest.raises(UploadRejected) as refused:
        await service.upload(
            ACCOUNT, saved.enrolment, document.id, headers, chunks(parts), lambda t: None, NOTICE
        )
    assert refused.value.reason == "virus" and "virus" in refused.value.message.lower()
    assert not any((tmp_path / "uploads").rglob("*.*")) and list((tmp_path / "tmp").iterdir()) == []
    headers, parts = multipart("file", "jeton", minimal_pdf())
    await service.upload(
        ACCOUNT, saved.enrolment, document.id, headers, chunks(parts), lambda t: None, NOTICE
    )


async def test_a_stopped_antivirus_fails_closed(service, tmp_path, clamd):
    """A daemon that does not answer: the upload is refused with 503, nothing kept, nothing lost."""
    from formservice.uploads import AntivirusUnavailable, Clamd

    service.antivirus = Clamd(clamd.socket_path, timeout=2)
    clamd.stop()
    saved = await service.save(ACCOUNT, None, form_data(), 0, NOTICE, IN_WINDOW)
    document = rules.required_documents(NOTICE, saved.enrolment["data"])[0]
    headers, parts = multipart("file", "jeton", minimal_pdf())
    with pytest.raises(AntivirusUnavailable) as refused:
        await service.upload(
            ACCOUNT, saved.enrolment, document.id, headers, chunks(parts), lambda t: None, NOTICE
        )
    assert refused.value.status == 503
    stored = await service.current(ACCOUNT["id"], NOTICE)
    assert stored is not None and stored["files"] == [] and list((tmp_path / "tmp").iterdir()) == []


# -- the correction loop: files go through the review's rules ----------------------------------

STAFF = "staff-sah-1"
CHECKING = datetime(2025, 11, 20, 9, 0, tzinfo=UTC)  # after registration.closes and documents_deadline


async def _deposited(service: EnrolmentService) -> Any:
    """Saved, a real file for every piece, « J'ai fourni toutes mes pièces »: the stored dossier."""
    saved = await service.save(ACCOUNT, None, form_data(), 0, NOTICE, IN_WINDOW)
    current = saved.enrolment
    for document in rules.required_documents(NOTICE, current["data"]):
        headers, parts = multipart("file", "t", minimal_pdf())
        await service.upload(ACCOUNT, current, document.id, headers, chunks(parts), lambda t: None, NOTICE)
        current = await service.current(ACCOUNT["id"], NOTICE)
    return await service.complete(ACCOUNT, current, NOTICE, IN_WINDOW)


async def _office(service: EnrolmentService, doc: Any, fn: Any) -> Any:
    return await service.store.enrolments.update(doc["id"], fn)


async def _in_correction(service: EnrolmentService) -> tuple[Any, str, str]:
    """A dossier incomplet: its first piece refused, the others conformes; (doc, refused, other)."""
    doc = await _deposited(service)
    service.clock.set(CHECKING)  # type: ignore[attr-defined]
    first, *others = [d.id for d in rules.required_documents(NOTICE, doc["data"])]

    def refuse(d: Any) -> Any:
        review_rules.start(d, STAFF, CHECKING)
        review_rules.decide(
            d, NOTICE, STAFF, CHECKING, first, review_rules.NON_CONFORME, reason_id="illisible"
        )
        for other in others:
            review_rules.decide(d, NOTICE, STAFF, CHECKING, other, review_rules.CONFORME)
        return review_rules.request_correction(d, NOTICE, STAFF, CHECKING)

    return await _office(service, doc, refuse), first, others[0]


def counted(parts: list[bytes], seen: list[int]) -> AsyncIterator[bytes]:
    async def gen() -> AsyncIterator[bytes]:
        for part in parts:
            seen.append(len(part))
            yield part

    return gen()


async def test_a_replacement_after_the_closing_goes_through_the_review_rules(service, tmp_path):
    """In correction, after registration.closes and the documents deadline: a file for the refused
    piece is received and recorded in the dossier's history; removing the refused file works."""
    doc, refused, _other = await _in_correction(service)
    old = next(f for f in doc["files"] if f["document_id"] == refused)
    headers, parts = multipart("file", "t", minimal_pdf())
    upload = await service.upload(ACCOUNT, doc, refused, headers, chunks(parts), lambda t: None, NOTICE)
    assert upload.replacement
    stored = await service.current(ACCOUNT["id"], NOTICE)
    assert upload.file["id"] in [f["id"] for f in stored["files"] if f["document_id"] == refused]
    assert (tmp_path / "uploads" / ACCOUNT["id"] / upload.file["stored_name"]).is_file()
    assert stored["review"]["history"][-1]["action"] == review_rules.REPLACE_FILE
    assert review_rules.piece(stored, NOTICE, refused).status is review_rules.PieceStatus.REMPLACEE

    await service.remove_file(ACCOUNT, stored, old["id"], NOTICE, service.clock.now())
    after = await service.current(ACCOUNT["id"], NOTICE)
    assert old["id"] not in [f["id"] for f in after["files"]]
    assert after["review"]["history"][-1]["action"] == review_rules.REMOVE_FILE
    assert not (tmp_path / "uploads" / ACCOUNT["id"] / old["stored_name"]).exists()
    assert list((tmp_path / "tmp").iterdir()) == []


async def test_another_piece_is_refused_before_the_first_byte(service, tmp_path):
    """A piece the office did not refuse takes no file and loses none, in correction."""
    doc, _refused, other = await _in_correction(service)
    headers, parts = multipart("file", "t", b"%PDF-1.4\n" + b"0" * 50_000)
    seen: list[int] = []
    with pytest.raises(ReviewError, match="Seules les pièces refusées"):
        await service.upload(ACCOUNT, doc, other, headers, counted(parts, seen), lambda t: None, NOTICE)
    assert len(seen) < len(parts)  # refused when the file part began, the body not read on
    assert list((tmp_path / "tmp").iterdir()) == []
    kept = next(f for f in doc["files"] if f["document_id"] == other)
    with pytest.raises(ReviewError, match="Seules les pièces refusées"):
        await service.remove_file(ACCOUNT, doc, kept["id"], NOTICE, service.clock.now())
    after = await service.current(ACCOUNT["id"], NOTICE)
    assert after["files"] == doc["files"]


async def test_after_the_correction_deadline_a_replacement_names_the_pole(service):
    """The deadline passed: refused, with the pôle's contact; nothing recorded."""
    doc, refused, _other = await _in_correction(service)
    deadline = datetime.fromisoformat(doc["review"]["corrections"][-1]["deadline"])
    service.clock.set(deadline + timedelta(seconds=1))  # type: ignore[attr-defined]
    headers, parts = multipart("file", "t", minimal_pdf())
    pole = rules.pole_of(NOTICE, doc["data"])
    assert pole is not None
    with pytest.raises(ReviewError, match="délai de correction a pris fin") as refused_exc:
        await service.upload(ACCOUNT, doc, refused, headers, chunks(parts), lambda t: None, NOTICE)
    assert pole.email in refused_exc.value.message
    assert await service.current(ACCOUNT["id"], NOTICE) == doc


async def test_an_irrecevable_dossier_takes_no_file_no_removal_no_validation(service, tmp_path):
    """Irrecevable: « Ajouter », « Supprimer » and « J'ai fourni toutes mes pièces » refused, in French."""
    doc = await _deposited(service)
    doc = await _office(
        service, doc, lambda d: review_rules.declare_ineligible(d, NOTICE, STAFF, IN_WINDOW, "doublon")
    )
    document = rules.required_documents(NOTICE, doc["data"])[0]
    headers, parts = multipart("file", "t", minimal_pdf())
    with pytest.raises(rules.EnrolmentError, match="irrecevable"):
        await service.upload(ACCOUNT, doc, document.id, headers, chunks(parts), lambda t: None, NOTICE)
    with pytest.raises(rules.EnrolmentError, match="irrecevable"):
        await service.remove_file(ACCOUNT, doc, doc["files"][0]["id"], NOTICE, IN_WINDOW)
    with pytest.raises(rules.EnrolmentError, match="irrecevable"):
        await service.complete(ACCOUNT, doc, NOTICE, IN_WINDOW)
    assert await service.current(ACCOUNT["id"], NOTICE) == doc
    assert list((tmp_path / "tmp").iterdir()) == []


async def test_a_withdrawn_draft_takes_no_file_and_no_validation(service):
    """Désisté before « J'ai fourni toutes mes pièces », within the window: still refused."""
    saved = await service.save(ACCOUNT, None, form_data(), 0, NOTICE, IN_WINDOW)
    doc = await _office(
        service, saved.enrolment, lambda d: review_rules.withdraw(d, ACCOUNT["id"], IN_WINDOW)
    )
    document = rules.required_documents(NOTICE, doc["data"])[0]
    headers, parts = multipart("file", "t", minimal_pdf())
    with pytest.raises(rules.EnrolmentError, match="désisté"):
        await service.upload(ACCOUNT, doc, document.id, headers, chunks(parts), lambda t: None, NOTICE)
    with pytest.raises(rules.EnrolmentError, match="désisté"):
        await service.complete(ACCOUNT, doc, NOTICE, IN_WINDOW)


# -- what the mails say --------------------------------------------------------------------------


def mails(outbox: OutboxMailer) -> list[EmailMessage]:
    out = []
    for path in outbox.list():
        msg = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        assert isinstance(msg, EmailMessage)
        out.append(msg)
    return out


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return " ".join(str(part.get_content()).split())


def latest(outbox: OutboxMailer, subject: str) -> EmailMessage:
    """The one mail whose subject starts with ``subject`` (the outbox is emptied in between)."""
    found = [m for m in mails(outbox) if str(m["Subject"]).startswith(subject)]
    assert len(found) == 1, [str(m["Subject"]) for m in mails(outbox)]
    return found[0]


async def test_the_receipt_names_the_candidate_and_the_exam_and_says_what_the_hashes_are(service, outbox):
    """The receipt greets the candidate by name, names the exam and speciality, says what an
    empreinte SHA-256 is for and what happens next."""
    doc = await _deposited(service)
    exam, speciality = NOTICE.speciality(doc["data"]["speciality"]) or (None, None)
    assert exam is not None and speciality is not None
    text = text_of(latest(outbox, "Accusé de réception"))
    assert f"Bonjour {doc['data']['first_names']} {doc['data']['last_name']}," in text
    assert f"{exam.id} — {exam.name}, spécialité {speciality.name}" in text
    assert "L'empreinte SHA-256 de chaque fichier prouve le contenu du fichier déposé" in text
    assert "Et maintenant ?" in text and "va vérifier vos pièces" in text
    for f in doc["receipt"]["files"]:
        assert f"empreinte SHA-256 {f['sha256']}" in text


ADDRESSES = [
    {
        "address": "8 rue Carnot",
        "address_extra": "",
        "postal_code": "79000",
        "city": "Niort",
        "country": "France",
    },
    {
        "address": "2 quai Louis Durand",
        "address_extra": "Appartement 4",
        "postal_code": "17000",
        "city": "La Rochelle",
        "country": "France",
    },
]


async def test_the_pole_reads_labels_and_the_right_old_address_and_answers_the_candidate(service, outbox):
    """The pôle's mail shows the exam and speciality by name, the birth date in French, the
    number; Reply-To is the candidate; a second change's « ancienne adresse » is the first one's
    new address; the enrolment (and so every document) has the new address."""
    saved = await service.save(ACCOUNT, None, form_data(birth_date="1998-03-14"), 0, NOTICE, IN_WINDOW)
    pole = rules.pole_of(NOTICE, saved.enrolment["data"])
    exam, speciality = NOTICE.speciality(saved.enrolment["data"]["speciality"]) or (None, None)
    assert pole is not None and exam is not None and speciality is not None
    doc = saved.enrolment
    for address in ADDRESSES:
        for sent in outbox.list():
            sent.unlink()
        doc = await service.request_address_change(ACCOUNT, doc, dict(address), NOTICE, IN_WINDOW)
    to_pole = latest(outbox, "Changement d'adresse d'un candidat")
    assert to_pole["To"] == pole.email and to_pole["Reply-To"] == ACCOUNT["email"]
    text = text_of(to_pole)
    assert "14 mars 1998" in text and "1998-03-14" not in text
    assert f"Examen : {exam.id} — {exam.name}, spécialité {speciality.name}" in text
    assert speciality.id not in text
    assert f"Numéro d'inscription : {doc['number']}" in text
    assert "Ancienne adresse : 8 rue Carnot 79000 Niort" in text
    assert "Nouvelle adresse : 2 quai Louis Durand, Appartement 4 17000 La Rochelle" in text
    assert "n'y répondez pas" not in text and "répondez simplement à ce courriel" in text
    stored = await service.current(ACCOUNT["id"], NOTICE)
    assert stored is not None and rules.current_data(stored)["city"] == "La Rochelle"
    ack = text_of(latest(outbox, "Votre changement d'adresse a été transmis"))
    assert "2 quai Louis Durand" in ack and pole.name in ack


async def test_a_change_that_alters_the_pieces_after_the_final_click_reopens_them_and_says_so(
    service, outbox
):
    """Déposé, then a change asking one more piece: the dossier is back to brouillon, the outcome
    says so, and the mail tells the candidate to validate again."""
    doc = await _deposited(service)
    young = birth_date_for_age(NOTICE, 20)
    outcome = await service.save(ACCOUNT, doc, form_data(birth_date=young), doc["version"], NOTICE, IN_WINDOW)
    assert outcome.reopened and outcome.pieces_changed
    assert outcome.enrolment["status"] == rules.STATUS_SAVED
    text = text_of(latest(outbox, "Modification de votre pré-inscription"))
    assert "le dépôt de vos pièces est rouvert" in text
    assert "validez de nouveau « J'ai fourni toutes mes pièces »" in text


async def test_the_candidate_reopens_the_pieces_in_one_write(service, engine):
    """« Modifier mes pièces »: one update, déposé → brouillon, the files still there."""
    doc = await _deposited(service)
    engine.calls.clear()
    reopened = await service.reopen(doc)
    assert engine.calls == Counter({"update": 1})
    assert reopened["status"] == rules.STATUS_SAVED and reopened["files"] == doc["files"]
