"""Staff rules as plain functions: roles and pôles, the invitation's 72 h and single use, codes
accepted once inside the atomic update, disabling, the staff sessions' timeouts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import test_layers
from account_helpers import PASSWORD

from formservice.accounts import rules as account_rules
from formservice.accounts.passwords import is_common
from formservice.clock import to_iso
from formservice.staff import rules
from formservice.staff.records import Staff

NOW = datetime(2025, 10, 22, 8, 0, tzinfo=UTC)
POLES = ["industriel-tertiaire", "sah", "bac-pro"]


def invited(role: str = rules.GESTIONNAIRE, poles: tuple[str, ...] = ("sah",)) -> Staff:
    return rules.new_invited("s1", "agent@ac-poitiers.fr", role, list(poles), None, NOW)


def active(role: str = rules.GESTIONNAIRE, poles: tuple[str, ...] = ("sah",)) -> Staff:
    staff = invited(role, poles)
    return rules.activate(
        rules.invitation_fingerprint(staff),
        NOW,
        password_hash="$argon2id$x",
        totp_secret="A" * 32,
        totp_step=100,
        recovery_hashes=["h1", "h2"],
    )(staff)


def test_staff_rules_are_pure():
    """Like the other rules: no web, template or storage library (house rule 2)."""
    names = [m for m in test_layers.MODULES if test_layers.within(m, "formservice.staff.rules")]
    bad = {
        t
        for m in names
        for t in test_layers.imports_of(m)
        if test_layers.within(t, *test_layers.IMPURE_LIBRARIES)
    }
    assert names and not bad


# -- roles and pôles -------------------------------------------------------------------------------
def test_a_gestionnaire_gets_the_pôles_given_without_duplicates():
    assert rules.check_assignment("gestionnaire", ["sah", " bac-pro", "sah"], POLES) == ["sah", "bac-pro"]
    assert rules.check_assignment("administrateur", [], POLES) == []


def test_an_unknown_pôle_is_refused_with_the_notice_s_pôles():
    with pytest.raises(rules.UnknownPole) as caught:
        rules.check_assignment("gestionnaire", ["sah", "coiffure"], POLES)
    assert caught.value.message == (
        "Pôle inconnu : coiffure ; pôles de la note : industriel-tertiaire, sah, bac-pro."
    )
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("role", "poles", "error"),
    [
        ("gestionnaire", [], rules.PolesRequired),
        ("gestionnaire", ["  "], rules.PolesRequired),
        ("administrateur", ["sah"], rules.AdministrateurWithoutPoles),
        ("chef", ["sah"], rules.UnknownRole),
        ("Gestionnaire", ["sah"], rules.UnknownRole),
    ],
)
def test_role_and_pôles_must_agree(role, poles, error):
    with pytest.raises(error) as caught:
        rules.check_assignment(role, poles, POLES)
    assert caught.value.message  # a French sentence for the page or the command


def test_who_sees_which_pôle():
    """An administrateur every pôle; a gestionnaire their own; nobody not active anything."""
    admin, agent = active(rules.ADMINISTRATEUR, ()), active(poles=("sah", "bac-pro"))
    assert all(rules.may_see_pole(admin, p) for p in [*POLES, "a-future-pole"])
    assert rules.may_see_pole(agent, "sah") and rules.may_see_pole(agent, "bac-pro")
    assert not rules.may_see_pole(agent, "industriel-tertiaire")
    assert rules.visible_poles(agent, POLES) == ["sah", "bac-pro"]
    assert rules.visible_poles(admin, POLES) == POLES
    assert not rules.may_see_pole(invited(), "sah")
    disabled = rules.disable(NOW, None)(agent)
    assert not rules.may_see_pole(disabled, "sah") and rules.visible_poles(disabled, POLES) == []
    assert not rules.may_see_pole(None, "sah")
    assert rules.is_admin(admin) and not rules.is_admin(agent)
    assert not rules.is_admin(rules.disable(NOW, None)(admin))


# -- invitation ------------------------------------------------------------------------------------
def test_a_new_invitation_has_no_secret_yet():
    staff = invited()
    assert staff["status"] == rules.INVITED
    assert staff["password_hash"] is None and staff["totp_secret"] is None
    assert staff["recovery_codes"] == [] and staff["totp_last_step"] == 0
    assert staff["invited_at"] == to_iso(NOW) and staff["invited_by"] is None


def test_the_invitation_lasts_72_hours():
    staff = invited()
    assert rules.invitation_deadline(staff) == NOW + timedelta(hours=72)
    assert not rules.invitation_expired(staff, NOW + timedelta(hours=71, minutes=59, seconds=59))
    assert rules.invitation_expired(staff, NOW + timedelta(hours=72))
    assert not rules.invitation_expired(active(), NOW + timedelta(days=400))


def test_the_fingerprint_changes_once_the_invitation_is_used_renewed_or_cancelled():
    staff = invited()
    fingerprint = rules.invitation_fingerprint(staff)
    assert rules.invitation_fingerprint(dict(staff)) == fingerprint
    assert rules.invitation_fingerprint(active()) != fingerprint
    late = NOW + timedelta(hours=73)
    assert rules.invitation_fingerprint(
        rules.renew_invitation("gestionnaire", ["sah"], None, late)(staff)
    ) != (fingerprint)
    assert rules.invitation_fingerprint(rules.disable(NOW, None)(staff)) != fingerprint


def test_activation_refuses_a_used_late_or_replaced_invitation():
    staff = invited()
    fingerprint = rules.invitation_fingerprint(staff)

    def activation(at: datetime, fp: str = fingerprint) -> rules.StaffMutator:
        return rules.activate(
            fp, at, password_hash="h", totp_secret="A" * 32, totp_step=1, recovery_hashes=["x"]
        )

    done = activation(NOW)(staff)
    assert done["status"] == rules.ACTIVE and done["activated_at"] == to_iso(NOW)
    assert done["recovery_codes"] == [{"hash": "x", "used_at": None}]
    with pytest.raises(rules.InvitationUsed):
        activation(NOW)(done)
    with pytest.raises(rules.InvitationExpired):
        activation(NOW + timedelta(hours=72))(staff)
    with pytest.raises(rules.InvitationReplaced):
        activation(NOW, "0" * 16)(staff)
    with pytest.raises(rules.InvitationReplaced):
        activation(NOW)(rules.disable(NOW, None)(staff))


def test_only_an_expired_invitation_is_renewed():
    staff = invited()
    with pytest.raises(rules.InvitationReplaced):
        rules.renew_invitation("gestionnaire", ["sah"], None, NOW + timedelta(hours=71))(staff)
    with pytest.raises(rules.InvitationReplaced):
        rules.renew_invitation("gestionnaire", ["sah"], None, NOW + timedelta(hours=80))(active())
    later = NOW + timedelta(hours=80)
    renewed = rules.renew_invitation("administrateur", [], "admin", later)(staff)
    assert renewed["invited_at"] == to_iso(later) and renewed["role"] == "administrateur"
    assert renewed["poles"] == [] and renewed["invited_by"] == "admin"
    assert not rules.invitation_expired(renewed, later + timedelta(hours=71))


def test_the_password_policy_is_the_candidates_one():
    for password in ["court", "password1234", "agentagentagent", PASSWORD, "x" * 300]:
        assert rules.password_problem(password, "agent@ac-poitiers.fr", is_common) == (
            account_rules.password_problem(password, "agent@ac-poitiers.fr", is_common)
        )
    assert rules.password_problem(PASSWORD, "agent@ac-poitiers.fr", is_common) is None
    assert rules.password_problem("azertyuiop", "agent@ac-poitiers.fr", is_common)


# -- codes -----------------------------------------------------------------------------------------
def test_a_totp_step_is_accepted_once_inside_the_update():
    staff = active()
    fingerprint = rules.login_fingerprint(staff)
    after = rules.use_totp_step(101, fingerprint)(staff)
    assert after["totp_last_step"] == 101
    assert rules.login_fingerprint(after) != fingerprint  # the ticket served once
    with pytest.raises(rules.CodeAlreadyUsed):
        rules.use_totp_step(100, fingerprint)(staff)  # the enrolment's step
    with pytest.raises(rules.CodeAlreadyUsed):
        rules.use_totp_step(101, rules.login_fingerprint(after))(after)
    with pytest.raises(rules.TicketUsed):
        rules.use_totp_step(102, fingerprint)(after)
    with pytest.raises(rules.NotActive):
        rules.use_totp_step(102, fingerprint)(rules.disable(NOW, None)(staff))


def test_a_recovery_code_is_spent_once():
    staff = active()
    fingerprint = rules.login_fingerprint(staff)
    after = rules.use_recovery_code(["zz", "h2"], fingerprint, NOW)(staff)  # the second key matches
    assert after["recovery_codes"] == [
        {"hash": "h1", "used_at": None},
        {"hash": "h2", "used_at": to_iso(NOW)},
    ]
    assert rules.recovery_codes_left(after) == 1
    with pytest.raises(rules.RecoveryCodeRefused):
        rules.use_recovery_code(["h2"], rules.login_fingerprint(after), NOW)(after)
    with pytest.raises(rules.RecoveryCodeRefused):
        rules.use_recovery_code(["nope"], fingerprint, NOW)(staff)
    with pytest.raises(rules.TicketUsed):
        rules.use_recovery_code(["h1"], fingerprint, NOW)(after)


def test_the_rehash_swaps_only_the_hash_it_replaces():
    staff = active()
    assert rules.swap_password_hash("$argon2id$x", "new")(staff)["password_hash"] == "new"
    assert rules.swap_password_hash("other", "new")(staff)["password_hash"] == "$argon2id$x"


# -- disabling and sessions ------------------------------------------------------------------------
def test_disabling_is_recorded_once():
    staff = rules.disable(NOW, "admin-id")(active())
    assert staff["status"] == rules.DISABLED
    assert staff["disabled_at"] == to_iso(NOW) and staff["disabled_by"] == "admin-id"
    with pytest.raises(rules.AlreadyDisabled):
        rules.disable(NOW, None)(staff)


def test_staff_sessions_last_30_minutes_idle_and_10_hours_at_most():
    def session(created: timedelta, seen: timedelta) -> dict[str, str]:
        return {
            "id": "x",
            "staff_id": "s1",
            "created_at": to_iso(NOW - created),
            "last_seen": to_iso(NOW - seen),
        }

    assert not rules.session_expired(session(timedelta(hours=1), timedelta(minutes=29)), NOW)
    assert rules.session_expired(session(timedelta(hours=1), timedelta(minutes=30)), NOW)
    assert not rules.session_expired(session(timedelta(hours=9, minutes=59), timedelta(0)), NOW)
    assert rules.session_expired(session(timedelta(hours=10), timedelta(0)), NOW)
