"""StaffService on its own, without the web layer: invitations mailed through the real outbox,
enrolment, the two login steps on a frozen clock, races, throttles, disabling, the audit log."""

from __future__ import annotations

from datetime import timedelta

import anyio
import argon2
import pyotp
import pytest
from account_helpers import PASSWORD

from formservice.accounts.rules import EmailInvalid
from formservice.accounts.tokens import Purpose
from formservice.clock import to_iso
from formservice.errors import AppError, TooManyRequests
from formservice.staff import rules
from formservice.staff.service import (
    CodeRefused,
    Invitation,
    InvitationUnusable,
    LoginStatus,
    SecondStep,
    SecretInvalid,
)

pytestmark = pytest.mark.anyio
AGENT = "agent.sah@ac-poitiers.fr"
ADMIN = "admin@ac-poitiers.fr"  # the administrateur of ``world.admin()``


def pole_name(world, pole_id: str) -> str:
    pole = world.notice.pole(pole_id)
    assert pole is not None
    return pole.name


def wrong_code(world, secret: str, seed: int = 0) -> str:
    """Six digits that are none of the codes of the window around the clock's now."""
    window = {world.code(secret, step) for step in (-1, 0, 1)}
    return next(
        c for n in range(seed, seed + 10) if (c := f"{(123456 + 7919 * n) % 1_000_000:06d}") not in window
    )


def yielding_get(world, monkeypatch):
    """Make ``store.staff.get`` give the event loop a turn after reading, so concurrent requests
    all read the same state before any of them writes (what a durable engine does)."""
    real = world.store.staff.get

    async def get(staff_id):
        found = await real(staff_id)
        await anyio.sleep(0)
        return found

    monkeypatch.setattr(world.store.staff, "get", get)


# -- invitation ------------------------------------------------------------------------------------


async def test_an_invitation_mail_says_who_invited_for_which_pôles_and_until_when(world):
    admin = await world.admin()
    staff = await world.service.invite(
        " Agent.SAH@ac-poitiers.fr ", "gestionnaire", ["sah", "bac-pro"], admin["id"]
    )
    assert staff["email"] == AGENT and staff["status"] == "invited"
    assert staff["invited_by"] == admin["id"] and staff["poles"] == ["sah", "bac-pro"]
    [mail] = world.mails_to(AGENT)
    assert mail["Subject"] == "Académie de Poitiers : invitation à l'espace de gestion des examens"
    text, html = world.text(mail), world.html(mail)
    for body in (text, html):
        assert ADMIN in body  # who invited
        assert pole_name(world, "sah") in body and pole_name(world, "bac-pro") in body
        assert pole_name(world, "industriel-tertiaire") not in body.split("Ce courriel")[0]
        assert "gestionnaire" in body
        assert "samedi 25 octobre 2025 à 10\u00a0h\u00a000" in body  # 72 h later, Paris time
        assert "3\u00a0jours" in body
        assert f"https://gestion.example/staff_invitation/{world.invitation_token(AGENT)}" in body
    assert set(world.links_asked) == {"staff_invitation"}  # the one route the mails link to


async def test_an_invitation_from_the_command_line_for_an_administrateur(world):
    await world.service.invite(ADMIN, "administrateur", [])
    text = world.text(world.mails_to(ADMIN)[-1])
    assert "Le service des examens vous invite" in text
    assert "administrateur" in text and "tous les pôles" in text
    assert (await world.store.staff.by_email(ADMIN))["invited_by"] is None


async def test_the_mail_is_recorded_with_the_member_in_one_write(world, monkeypatch):
    """The invitation mail is in the insert's effects: if the write fails, there is no mail."""
    calls = []
    real = world.store.staff.create_if_email_free

    async def spy(staff, mails=()):
        calls.append(list(mails))
        return await real(staff, mails)

    monkeypatch.setattr(world.store.staff, "create_if_email_free", spy)
    await world.service.invite(AGENT, "gestionnaire", ["sah"])
    [[mail]] = calls
    assert mail["to"] == AGENT and "staff_invitation" in mail["text"]


@pytest.mark.parametrize(
    ("role", "poles", "error", "words"),
    [
        ("gestionnaire", ["coiffure"], rules.UnknownPole, "Pôle inconnu : coiffure ; pôles de la note : "),
        ("gestionnaire", [], rules.PolesRequired, "au moins un pôle"),
        ("administrateur", ["sah"], rules.AdministrateurWithoutPoles, "tous les pôles"),
        ("directeur", [], rules.UnknownRole, "Rôle inconnu"),
    ],
)
async def test_an_invitation_is_refused_for_a_wrong_role_or_pôle(world, role, poles, error, words):
    with pytest.raises(error) as caught:
        await world.service.invite(AGENT, role, poles)
    assert isinstance(caught.value, AppError) and words in caught.value.message
    assert await world.store.staff.by_email(AGENT) is None and world.mails_to(AGENT) == []


async def test_the_unknown_pôle_message_lists_the_notice_s_pôles(world):
    with pytest.raises(rules.UnknownPole) as caught:
        await world.service.invite(AGENT, "gestionnaire", ["sah", "coiffure"])
    ids = ", ".join(p.id for p in world.notice.poles)
    assert caught.value.message == f"Pôle inconnu : coiffure ; pôles de la note : {ids}."


async def test_an_invalid_address_is_refused(world):
    with pytest.raises(EmailInvalid):
        await world.service.invite("pas une adresse", "gestionnaire", ["sah"])


async def test_an_address_already_staff_is_refused(world):
    await world.admin()
    with pytest.raises(rules.AlreadyStaff):
        await world.service.invite(ADMIN.upper(), "gestionnaire", ["sah"])
    await world.service.invite(AGENT, "gestionnaire", ["sah"])
    with pytest.raises(rules.InvitationPending) as caught:
        await world.service.invite(AGENT, "gestionnaire", ["bac-pro"])
    assert "samedi 25 octobre 2025" in caught.value.message
    assert len(world.mails_to(AGENT)) == 1


async def test_only_an_active_administrateur_invites(world):
    admin = await world.admin()
    await world.service.invite(AGENT, "gestionnaire", ["sah"], admin["id"])
    await world.enrol(AGENT)
    agent = await world.store.staff.by_email(AGENT)
    with pytest.raises(rules.AdministrateurRequired):
        await world.service.invite("autre@ac-poitiers.fr", "gestionnaire", ["sah"], agent["id"])
    with pytest.raises(rules.AdministrateurRequired):
        await world.service.invite("autre@ac-poitiers.fr", "gestionnaire", ["sah"], "nobody")
    assert await world.store.staff.by_email("autre@ac-poitiers.fr") is None


async def test_the_invitation_link_works_once(world):
    await world.service.invite(AGENT, "gestionnaire", ["sah"])
    token = world.invitation_token(AGENT)
    outcome, staff = await world.service.check_invitation(token)
    assert outcome is Invitation.READY and staff["email"] == AGENT
    assert (await world.service.check_invitation(token))[0] is Invitation.READY  # looking changes nothing
    setup = await world.service.begin_enrolment(token)
    assert setup.email == AGENT and setup.qr_svg.startswith("<svg") and "otpauth://totp/" in setup.uri
    assert setup.secret_text.replace(" ", "") == setup.secret and len(setup.secret_text.split()) == 8
    codes = await world.service.finish_enrolment(token, PASSWORD, setup.secret, world.code(setup.secret))
    assert (await world.service.check_invitation(token))[0] is Invitation.USED
    with pytest.raises(InvitationUnusable) as caught:
        await world.service.begin_enrolment(token)
    assert caught.value.outcome is Invitation.USED and "déjà servi" in caught.value.message
    other = pyotp.random_base32()
    with pytest.raises(InvitationUnusable):
        await world.service.finish_enrolment(token, "un autre mot de passe long", other, world.code(other))
    stored = await world.store.staff.by_email(AGENT)
    assert stored["totp_secret"] == setup.secret  # the second use changed nothing
    assert len(codes) == 10 and stored["status"] == "active"


async def test_a_tampered_or_foreign_token_is_invalid(world):
    await world.service.invite(AGENT, "gestionnaire", ["sah"])
    token = world.invitation_token(AGENT)
    assert (await world.service.check_invitation(token[:-2] + "xx"))[0] is Invitation.INVALID
    ticket = world.service.tokens.signer(Purpose.STAFF_SECOND_FACTOR).dumps({"s": "x", "f": "y"})
    assert (await world.service.check_invitation(ticket))[0] is Invitation.INVALID


async def test_the_invitation_expires_after_72_hours(world):
    await world.service.invite(AGENT, "gestionnaire", ["sah"])
    token = world.invitation_token(AGENT)
    world.clock.advance(hours=71, minutes=59, seconds=59)
    assert (await world.service.check_invitation(token))[0] is Invitation.READY
    setup = await world.service.begin_enrolment(token)
    world.clock.advance(seconds=1)
    assert (await world.service.check_invitation(token))[0] is Invitation.EXPIRED
    with pytest.raises(InvitationUnusable) as caught:
        await world.service.finish_enrolment(token, PASSWORD, setup.secret, world.code(setup.secret))
    assert caught.value.outcome is Invitation.EXPIRED and "72 heures" in caught.value.message
    assert (await world.store.staff.by_email(AGENT))["status"] == "invited"


async def test_an_expired_invitation_is_renewed_and_the_old_link_dies(world):
    await world.service.invite(AGENT, "gestionnaire", ["sah"])
    old = world.invitation_token(AGENT)
    world.clock.advance(hours=73)
    renewed = await world.service.invite(AGENT, "gestionnaire", ["bac-pro"])
    assert renewed["poles"] == ["bac-pro"] and renewed["invited_at"] == to_iso(world.clock.now())
    new = world.invitation_token(AGENT)
    assert new != old and len(world.mails_to(AGENT)) == 2
    assert (await world.service.check_invitation(old))[0] is not Invitation.READY
    assert (await world.service.check_invitation(new))[0] is Invitation.READY
    assert pole_name(world, "bac-pro") in world.text(world.mails_to(AGENT)[-1])


async def test_enrolment_refuses_a_weak_password_a_wrong_code_or_a_bad_secret(world):
    await world.service.invite(AGENT, "gestionnaire", ["sah"])
    token = world.invitation_token(AGENT)
    setup = await world.service.begin_enrolment(token)
    with pytest.raises(rules.PasswordRefused) as caught:
        await world.service.finish_enrolment(token, "motdepasse", setup.secret, world.code(setup.secret))
    assert "12 caractères" in caught.value.message
    with pytest.raises(rules.PasswordRefused):
        await world.service.finish_enrolment(
            token, "agent.sah-2025-secret", setup.secret, world.code(setup.secret)
        )
    with pytest.raises(CodeRefused):
        await world.service.finish_enrolment(token, PASSWORD, setup.secret, world.code(setup.secret, -2))
    with pytest.raises(SecretInvalid):
        await world.service.finish_enrolment(token, PASSWORD, "pas-une-cle", "123456")
    staff = await world.store.staff.by_email(AGENT)
    assert staff["status"] == "invited" and staff["password_hash"] is None
    assert (await world.service.check_invitation(token))[0] is Invitation.READY  # still usable
    codes = await world.service.finish_enrolment(
        token, PASSWORD, setup.secret_text.lower(), world.code(setup.secret, 1)
    )
    assert len(codes) == 10


async def test_enrolment_stores_hashes_only(world):
    await world.service.invite(AGENT, "gestionnaire", ["sah"])
    _, codes = await world.enrol(AGENT)
    staff = await world.store.staff.by_email(AGENT)
    assert staff["password_hash"].startswith("$argon2id$")
    stored = repr(staff)
    assert PASSWORD not in stored
    for code in codes:
        assert code not in stored and code.replace("-", "") not in stored
    assert [c["used_at"] for c in staff["recovery_codes"]] == [None] * 10
    assert staff["activated_at"] == to_iso(world.clock.now() - timedelta(seconds=30))


# -- login -----------------------------------------------------------------------------------------


async def enrolled(world, address: str = AGENT) -> tuple[str, list[str]]:
    await world.service.invite(address, "gestionnaire", ["sah"])
    return await world.enrol(address)


async def test_two_steps_give_the_active_member(world):
    secret, _ = await enrolled(world)
    ticket = await world.ticket(AGENT.upper())
    result = await world.service.second_factor(ticket, world.code(secret), "192.0.2.10")
    assert result.status is SecondStep.OK and result.method == "totp"
    assert result.staff["email"] == AGENT
    assert result.staff["totp_last_step"] == int(world.clock.now().timestamp()) // 30


async def test_a_wrong_password_and_an_unknown_address_answer_the_same(world):
    await enrolled(world)
    bad = await world.service.authenticate(AGENT, "pas le bon mot de passe", "192.0.2.10")
    unknown = await world.service.authenticate("personne@ac-poitiers.fr", PASSWORD, "192.0.2.10")
    garbage = await world.service.authenticate("pas une adresse", PASSWORD, "192.0.2.10")
    assert bad == unknown == garbage
    assert bad.status is LoginStatus.BAD and bad.ticket is None


async def test_an_unknown_address_costs_a_dummy_verify(world, monkeypatch):
    """Same argon2 work whether the address is staff or not, or only invited (no password yet)."""
    await world.service.invite(AGENT, "gestionnaire", ["sah"])
    verified: list[str] = []
    original = argon2.PasswordHasher.verify

    def verify(self, hash, password):
        verified.append(password)
        return original(self, hash, password)

    monkeypatch.setattr(argon2.PasswordHasher, "verify", verify)
    dummies = []
    real_dummy = world.service.hasher.dummy_verify

    async def dummy(password):
        dummies.append(password)
        await real_dummy(password)

    monkeypatch.setattr(world.service.hasher, "dummy_verify", dummy)
    for address in ["inconnu@ac-poitiers.fr", AGENT]:  # unknown, then invited without a password
        result = await world.service.authenticate(address, "un essai quelconque", "192.0.2.10")
        assert result.status is LoginStatus.BAD
    assert dummies == ["un essai quelconque"] * 2
    assert verified == ["un essai quelconque"] * 2  # one real argon2 verify each


async def test_a_code_is_accepted_once_even_within_its_window(world):
    secret, _ = await enrolled(world)
    code = world.code(secret)
    first = await world.service.second_factor(await world.ticket(AGENT), code, "192.0.2.10")
    assert first.status is SecondStep.OK
    again = await world.service.second_factor(await world.ticket(AGENT), code, "192.0.2.10")
    assert again.status is SecondStep.BAD
    world.clock.advance(seconds=30)  # the code is still in the window (one step back)
    assert (await world.service.second_factor(await world.ticket(AGENT), code, "192.0.2.10")).status is (
        SecondStep.BAD
    )
    assert (
        await world.service.second_factor(await world.ticket(AGENT), world.code(secret), "192.0.2.10")
    ).status is (SecondStep.OK)


async def test_the_enrolment_code_does_not_open_a_session(world):
    """The first code confirmed the secret: its step is stored, so it cannot serve at login."""
    await world.service.invite(AGENT, "gestionnaire", ["sah"])
    token = world.invitation_token(AGENT)
    setup = await world.service.begin_enrolment(token)
    code = world.code(setup.secret)
    await world.service.finish_enrolment(token, PASSWORD, setup.secret, code)
    result = await world.service.second_factor(await world.ticket(AGENT), code, "192.0.2.10")
    assert result.status is SecondStep.BAD


async def test_the_window_is_one_step_either_side_at_login(world):
    secret, _ = await enrolled(world)
    world.clock.advance(minutes=5)
    ticket = await world.ticket(AGENT)
    assert (
        await world.service.second_factor(ticket, world.code(secret, -2), "192.0.2.10")
    ).status is SecondStep.BAD
    assert (
        await world.service.second_factor(ticket, world.code(secret, 2), "192.0.2.10")
    ).status is SecondStep.BAD
    assert (
        await world.service.second_factor(ticket, world.code(secret, -1), "192.0.2.10")
    ).status is SecondStep.OK


async def test_a_recovery_code_is_accepted_once_typed_any_way(world):
    _, codes = await enrolled(world)
    typed = codes[3].lower().replace("-", "")
    result = await world.service.second_factor(await world.ticket(AGENT), typed, "192.0.2.10")
    assert result.status is SecondStep.OK and result.method == "recovery" and result.recovery_codes_left == 9
    again = await world.service.second_factor(await world.ticket(AGENT), codes[3], "192.0.2.10")
    assert again.status is SecondStep.BAD
    other = await world.service.second_factor(await world.ticket(AGENT), codes[4], "192.0.2.10")
    assert other.status is SecondStep.OK and other.recovery_codes_left == 8
    staff = await world.store.staff.by_email(AGENT)
    assert [c["used_at"] is not None for c in staff["recovery_codes"]] == [False] * 3 + [True] * 2 + [
        False
    ] * 5
    wrong = await world.service.second_factor(await world.ticket(AGENT), "ABCDE-FGHJK", "192.0.2.10")
    assert wrong.status is SecondStep.BAD


async def test_a_ticket_serves_one_second_step_within_5_minutes(world):
    secret, _ = await enrolled(world)
    ticket = await world.ticket(AGENT)
    assert (await world.service.second_factor(ticket, wrong_code(world, secret), "192.0.2.10")).status is (
        SecondStep.BAD
    )
    assert (
        await world.service.second_factor(ticket, world.code(secret), "192.0.2.10")
    ).status is SecondStep.OK
    world.clock.advance(seconds=30)
    assert (await world.service.second_factor(ticket, world.code(secret), "192.0.2.10")).status is (
        SecondStep.INVALID
    )
    late = await world.ticket(AGENT)
    world.clock.advance(minutes=5, seconds=1)
    assert (
        await world.service.second_factor(late, world.code(secret), "192.0.2.10")
    ).status is SecondStep.EXPIRED
    assert (await world.service.second_factor("forged", world.code(secret), "192.0.2.10")).status is (
        SecondStep.INVALID
    )
    invitation = world.service.tokens.signer(Purpose.STAFF_INVITATION).dumps({"s": "x", "f": "y"})
    assert (
        await world.service.second_factor(invitation, "000000", "192.0.2.10")
    ).status is SecondStep.INVALID


@pytest.mark.parametrize("tickets", ["one", "several"])
async def test_one_code_used_by_concurrent_requests_passes_once(world, monkeypatch, tickets):
    """Ten requests with the same code (from one login or ten) all read the member before any
    writes: the step is checked again inside the store's update, so exactly one passes."""
    secret, _ = await enrolled(world)
    shared = await world.ticket(AGENT)
    many = [shared if tickets == "one" else await world.ticket(AGENT) for _ in range(10)]
    code = world.code(secret)
    yielding_get(world, monkeypatch)
    outcomes: list[SecondStep] = []

    async def attempt(ticket: str, i: int) -> None:
        outcomes.append((await world.service.second_factor(ticket, code, f"192.0.2.{20 + i}")).status)

    async with anyio.create_task_group() as tg:
        for i, ticket in enumerate(many):
            tg.start_soon(attempt, ticket, i)
    assert outcomes.count(SecondStep.OK) == 1
    assert len(outcomes) == 10


async def test_one_recovery_code_used_by_concurrent_requests_passes_once(world, monkeypatch):
    _, codes = await enrolled(world)
    tickets = [await world.ticket(AGENT) for _ in range(5)]
    yielding_get(world, monkeypatch)
    outcomes: list[SecondStep] = []

    async def attempt(ticket: str, i: int) -> None:
        outcomes.append((await world.service.second_factor(ticket, codes[0], f"192.0.2.{20 + i}")).status)

    async with anyio.create_task_group() as tg:
        for i, ticket in enumerate(tickets):
            tg.start_soon(attempt, ticket, i)
    assert outcomes.count(SecondStep.OK) == 1
    staff = await world.store.staff.by_email(AGENT)
    assert rules.recovery_codes_left(staff) == 9


async def test_sixty_password_guesses_at_once_get_no_more_checks_than_allowed(world, monkeypatch):
    """Counted as they start: of 60 sent at once from one address, only the free attempts of the
    (address, IP) pair are checked, like the candidates' login; the right password among them is
    never checked."""
    await enrolled(world)
    checked: list[str] = []
    original = argon2.PasswordHasher.verify

    def verify(self, hash, password):
        checked.append(password)
        return original(self, hash, password)

    monkeypatch.setattr(argon2.PasswordHasher, "verify", verify)
    outcomes: list[str] = []

    async def guess(i: int) -> None:
        password = PASSWORD if i == 59 else f"essai numéro {i:02d} raté"
        try:
            outcomes.append((await world.service.authenticate(AGENT, password, "203.0.113.7")).status.value)
        except TooManyRequests:
            outcomes.append("throttled")

    async with anyio.create_task_group() as tg:
        for i in range(60):
            tg.start_soon(guess, i)
    free = world.service.settings.limits.login_free_per_pair
    assert len(checked) == free and outcomes.count("throttled") == 60 - free
    assert "ok" not in outcomes
    assert '"event": "staff.login_throttled"' in world.audit_text()


async def test_sixty_code_guesses_at_once_get_no_more_checks_than_allowed(world, monkeypatch):
    """The second step too: of 60 codes sent at once with one ticket, only the free attempts of
    the (member, IP) pair are checked; the right code among them is never checked."""
    secret, _ = await enrolled(world)
    ticket = await world.ticket(AGENT, ip="203.0.113.7")
    yielding_get(world, monkeypatch)
    from formservice.staff import totp

    checked: list[str] = []
    original = totp.accept

    def accept(secret_, code, last_step, now):
        checked.append(code)
        return original(secret_, code, last_step, now)

    monkeypatch.setattr(totp, "accept", accept)
    right = world.code(secret)
    window = {world.code(secret, step) for step in (-1, 0, 1)}
    wrong = [c for n in range(80) if (c := f"{(int(right) + 1 + n) % 1_000_000:06d}") not in window]
    outcomes: list[str] = []

    async def guess(i: int) -> None:
        code = right if i == 59 else wrong[i]
        try:
            outcomes.append((await world.service.second_factor(ticket, code, "203.0.113.7")).status.value)
        except TooManyRequests:
            outcomes.append("throttled")

    async with anyio.create_task_group() as tg:
        for i in range(60):
            tg.start_soon(guess, i)
    free = world.service.settings.limits.login_free_per_pair
    assert len(checked) == free and outcomes.count("throttled") == 60 - free
    assert "ok" not in outcomes
    # From other addresses, the failures still add up per member: after twice the pair's free
    # attempts, the member's own delay holds whatever the IP.
    for i in range(free):
        result = await world.service.second_factor(ticket, wrong[i], f"198.51.100.{i}")
        assert result.status is SecondStep.BAD
    with pytest.raises(TooManyRequests):
        await world.service.second_factor(ticket, right, "198.51.100.200")
    assert '"event": "staff.second_factor_throttled"' in world.audit_text()


async def test_a_disabled_member_can_do_nothing_and_loses_every_session(world):
    admin = await world.admin()
    secret, _ = await enrolled(world)
    result = await world.service.second_factor(await world.ticket(AGENT), world.code(secret), "192.0.2.10")
    staff = result.staff
    await world.service.open_session(staff, "session-a")
    await world.service.open_session(staff, "session-b")
    assert (await world.service.resume_session("session-a"))["id"] == staff["id"]
    world.clock.advance(seconds=30)
    pending = await world.ticket(AGENT)  # between the two steps when the account is disabled

    disabled = await world.service.disable(AGENT, admin["id"])
    assert disabled["status"] == "disabled" and disabled["disabled_by"] == admin["id"]
    assert await world.store.staff_sessions.get("session-a") is None
    assert await world.store.staff_sessions.get("session-b") is None
    assert await world.service.resume_session("session-a") is None
    assert (await world.service.second_factor(pending, world.code(secret), "192.0.2.10")).status is (
        SecondStep.INVALID
    )
    assert (await world.service.authenticate(AGENT, PASSWORD, "192.0.2.10")).status is LoginStatus.DISABLED
    assert not rules.may_see_pole(disabled, "sah")
    again = await world.service.disable(AGENT)  # from the command line: nothing more to do
    assert again["disabled_by"] == admin["id"]
    log = world.audit_text()
    assert '"event": "staff.disabled"' in log and '"event": "staff.disable_repeated"' in log


async def test_a_session_surviving_a_failed_delete_is_refused(world, monkeypatch):
    """If the store could not delete the sessions at disabling, they still give nothing."""
    admin = await world.admin()
    secret, _ = await enrolled(world)
    staff = (
        await world.service.second_factor(await world.ticket(AGENT), world.code(secret), "192.0.2.10")
    ).staff
    await world.service.open_session(staff, "survivor")

    from formservice.store import StoreUnavailable

    async def fail(staff_id, keep=None):
        raise StoreUnavailable("disk full")

    monkeypatch.setattr(world.store.staff_sessions, "delete_for_staff", fail)
    await world.service.disable(AGENT, admin["id"])
    assert await world.service.resume_session("survivor") is None
    assert await world.store.staff_sessions.get("survivor") is None


async def test_disabling_an_invitation_kills_its_link(world):
    await world.service.invite(AGENT, "gestionnaire", ["sah"])
    token = world.invitation_token(AGENT)
    await world.service.disable(AGENT)
    assert (await world.service.check_invitation(token))[0] is Invitation.INVALID
    with pytest.raises(rules.AlreadyStaff):
        await world.service.invite(AGENT, "gestionnaire", ["sah"])


async def test_who_may_disable_whom(world):
    admin = await world.admin()
    with pytest.raises(rules.CannotDisableSelf):
        await world.service.disable(ADMIN, admin["id"])
    with pytest.raises(rules.StaffNotFound):
        await world.service.disable("personne@ac-poitiers.fr")
    await enrolled(world)
    agent = await world.store.staff.by_email(AGENT)
    with pytest.raises(rules.AdministrateurRequired):
        await world.service.disable(ADMIN, agent["id"])
    assert (await world.store.staff.by_email(ADMIN))["status"] == "active"


async def test_staff_sessions_time_out_and_are_purged(world):
    secret, _ = await enrolled(world)
    staff = (
        await world.service.second_factor(await world.ticket(AGENT), world.code(secret), "192.0.2.10")
    ).staff
    await world.service.open_session(staff, "idle")
    await world.service.open_session(staff, "busy")
    for _ in range(20):  # 9 h 50 of activity, one request every 29 min 30 s
        world.clock.advance(minutes=29, seconds=30)
        assert await world.service.resume_session("busy") is not None
    assert await world.store.staff_sessions.get("idle") is not None  # not read, not purged yet
    assert await world.service.purge_sessions() == 1
    assert await world.store.staff_sessions.get("idle") is None
    world.clock.advance(minutes=10)  # 10 h after it opened: over, however active
    assert await world.service.resume_session("busy") is None
    assert await world.store.staff_sessions.get("busy") is None
    assert await world.service.end_session("busy") is False


async def test_the_list_is_by_address(world):
    await world.admin()
    await world.service.invite("zoe@ac-poitiers.fr", "gestionnaire", ["sah"])
    await world.service.invite("bruno@ac-poitiers.fr", "gestionnaire", ["bac-pro"])
    members = await world.service.list()
    assert [m["email"] for m in members] == [ADMIN, "bruno@ac-poitiers.fr", "zoe@ac-poitiers.fr"]
    assert [m["status"] for m in members] == ["active", "invited", "invited"]
    invited = await world.store.staff.with_status("invited")
    assert sorted(m["email"] for m in invited) == ["bruno@ac-poitiers.fr", "zoe@ac-poitiers.fr"]


async def test_the_audit_log_is_pseudonymous(world):
    admin = await world.admin()
    secret, codes = await enrolled(world)
    await world.service.authenticate(AGENT, "mauvais mot de passe", "192.0.2.10")
    ticket = await world.ticket(AGENT)
    code = world.code(secret)
    await world.service.second_factor(ticket, wrong_code(world, secret), "192.0.2.10")
    await world.service.second_factor(ticket, code, "192.0.2.10")
    await world.service.second_factor(await world.ticket(AGENT), codes[0], "192.0.2.10")
    await world.service.disable(AGENT, admin["id"])
    log = world.audit_text()
    for event in [
        "staff.invited",
        "staff.activated",
        "staff.login_failure",
        "staff.password_accepted",
        "staff.second_factor_failure",
        "staff.login_success",
        "staff.disabled",
    ]:
        assert f'"event": "{event}"' in log, event
    staff = await world.store.staff.by_email(AGENT)
    for clear in [
        AGENT,
        ADMIN,
        "192.0.2.10",
        PASSWORD,
        secret,
        code,
        codes[0],
        ticket,
        staff["id"],
        admin["id"],
    ]:
        assert clear not in log, clear
    assert world.service.audit.pseudonym("s", staff["id"]) in log
