"""The team's services: invite, resend, role, deactivate (with the sessions handed
over), reactivate, and accepting an invitation; each rule and refusal."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from frontdesk.team import coming_sessions_led_by, deactivate_team_member
from opus import team
from opus.lib.actors import SYSTEM
from opus.lib.errors import BusinessRuleError
from opus.lib.tokens import hash_token
from opus.models import Invitation, OutboundEmail, TeamEvent, User
from scheduling.services import generate_session_dates
from tests.factories import SessionFactory, UserFactory, next_weekday
from tests.support.team import invite

pytestmark = pytest.mark.django_db


def test_an_invitation_creates_the_person_without_a_password_and_queues_the_email(staff):
    invitation, token = invite(staff, email="Ivy@Example.com ")
    user = invitation.user
    assert (user.username, user.email, user.role) == (
        "ivy@example.com",
        "ivy@example.com",
        "practitioner",
    )
    assert user.is_active and not user.has_usable_password()
    assert team.status_of(user) == "invited"
    # hashed at rest: the row holds the hash and a nonce, never the token
    assert invitation.token_hash == hash_token(token) and token not in str(
        Invitation.objects.values().get()
    )
    row = OutboundEmail.objects.get()
    assert (row.template, row.to_address, row.context) == (
        "invitation",
        "ivy@example.com",
        {"invitation_id": invitation.pk},
    )
    assert invitation.expires_at - invitation.created_at == timedelta(days=7)
    assert TeamEvent.objects.get(user=user).kind == "invited"


def test_the_invitation_lifetime_is_a_setting(staff, settings):
    settings.OPUS_INVITATION_TTL = timedelta(days=2)
    invitation, _ = invite(staff)
    assert invitation.expires_at - invitation.created_at == timedelta(days=2)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"first_name": "  "}, "first_name"),
        ({"last_name": ""}, "last_name"),
        ({"email": "not-an-address"}, "email"),
        ({"role": "admin"}, "role"),
    ],
)
def test_an_invitation_refuses_bad_input_by_field(staff, changes, field):
    data = {"first_name": "Ivy", "last_name": "V", "email": "ivy@example.com", "role": "staff"}
    with pytest.raises(BusinessRuleError) as refused:
        team.invite_user(**{**data, **changes}, actor=staff)
    assert refused.value.field == field
    assert not Invitation.objects.exists()


def test_an_address_already_on_the_team_is_refused(staff):
    invite(staff)
    with pytest.raises(BusinessRuleError, match="already uses this email") as refused:
        invite(staff, email="IVY@example.com")
    assert refused.value.field == "email"
    assert User.objects.filter(email="ivy@example.com").count() == 1


def test_a_practitioner_may_not_invite(therapist):
    with pytest.raises(PermissionDenied):
        invite(therapist)
    assert not Invitation.objects.exists()


def test_resending_makes_a_new_link_and_the_old_one_dies(staff):
    first, old_token = invite(staff)
    second = team.resend_invitation(user=first.user, actor=staff)
    first.refresh_from_db()
    assert first.state_at(timezone.now()) == "replaced"
    assert second.is_live_at(timezone.now())
    assert team.invitation_token(second) != old_token
    assert OutboundEmail.objects.filter(template="invitation").count() == 2


def test_resending_to_someone_who_joined_is_refused(staff, therapist):
    with pytest.raises(BusinessRuleError, match="already joined"):
        team.resend_invitation(user=therapist, actor=staff)


def test_accepting_sets_the_password_and_spends_the_link(staff):
    invitation, token = invite(staff)
    user = team.accept_invitation(token=token, password="a long new secret 42")
    assert user.check_password("a long new secret 42")
    assert team.status_of(user) == "active"
    invitation.refresh_from_db()
    assert invitation.used_at is not None
    with pytest.raises(team.InvitationGone) as gone:
        team.accept_invitation(token=token, password="another long secret 43")
    assert gone.value.state == "used"
    assert TeamEvent.objects.filter(user=user, kind="joined").count() == 1


def test_an_expired_or_withdrawn_invitation_cannot_be_accepted(staff):
    invitation, token = invite(staff)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now())
    with pytest.raises(team.InvitationGone) as gone:
        team.accept_invitation(token=token, password="a long new secret 42")
    assert gone.value.state == "expired"
    other, other_token = invite(staff, email="otto@example.com")
    team.deactivate_user(user=other.user, actor=staff)
    with pytest.raises(team.InvitationGone):
        team.accept_invitation(token=other_token, password="a long new secret 42")


def test_role_changes_with_history(staff, therapist):
    assert team.change_role(user=therapist, role="staff", actor=staff)
    therapist.refresh_from_db()
    assert therapist.role == "staff"
    assert not team.change_role(user=therapist, role="staff", actor=staff)  # twice: once
    assert TeamEvent.objects.filter(user=therapist, kind="role_changed").count() == 1


def test_no_one_changes_their_own_role_or_demotes_the_last_staff(staff):
    other = UserFactory(role="staff")
    with pytest.raises(BusinessRuleError, match="your own role"):
        team.change_role(user=staff, role="practitioner", actor=staff)
    team.change_role(user=staff, role="practitioner", actor=other)  # another staff remains
    with pytest.raises(BusinessRuleError, match="last active staff") as refused:
        team.change_role(user=other, role="practitioner", actor=SYSTEM)
    assert refused.value.field == "role"
    assert User.objects.get(pk=other.pk).role == "staff"


def test_the_last_active_staff_member_cannot_be_removed(staff):
    other = UserFactory(role="staff")
    with pytest.raises(BusinessRuleError, match="cannot deactivate yourself"):
        team.deactivate_user(user=staff, actor=staff)
    assert team.deactivate_user(user=other, actor=staff)
    with pytest.raises(BusinessRuleError, match="last active staff"):
        team.deactivate_user(user=staff, actor=SYSTEM)
    assert User.objects.get(pk=staff.pk).is_active
    with pytest.raises(PermissionDenied):  # a deactivated user acts no more
        team.reactivate_user(user=other, actor=User.objects.get(pk=other.pk))


def test_deactivating_ends_the_pending_invitation_and_reactivating_restores_the_person(staff):
    invitation, _ = invite(staff)
    assert team.deactivate_user(user=invitation.user, actor=staff)
    assert not team.deactivate_user(user=invitation.user, actor=staff)  # twice: once
    invitation.refresh_from_db()
    assert invitation.replaced_at is not None
    user = User.objects.get(pk=invitation.user.pk)
    assert team.status_of(user) == "deactivated"
    assert team.reactivate_user(user=user, actor=staff)
    assert team.status_of(User.objects.get(pk=user.pk)) == "invited"
    kinds = list(TeamEvent.objects.filter(user=user).values_list("kind", flat=True))
    assert kinds == ["reactivated", "deactivated", "invited"]


# --- deactivating a practitioner who leads coming sessions -------------------------------------


@pytest.fixture
def led(therapist):
    today = timezone.localdate()
    weekday = (today.weekday() + 2) % 7
    session = SessionFactory(
        practitioner=therapist,
        weekday=weekday,
        first_date=next_weekday(weekday, today - timedelta(weeks=2)),
    )
    generate_session_dates(session=session, until=today + timedelta(weeks=4))
    ended = SessionFactory(
        practitioner=therapist,
        weekday=weekday,
        first_date=next_weekday(weekday, today - timedelta(weeks=6)),
        last_date=next_weekday(weekday, today - timedelta(weeks=6)),
    )
    generate_session_dates(session=ended, until=today)
    return session, ended


def test_coming_sessions_are_those_with_a_date_to_come(therapist, led):
    session, _ended = led
    assert list(coming_sessions_led_by(therapist)) == [session]


def test_deactivating_asks_who_takes_the_coming_sessions_over(staff, therapist, led):
    with pytest.raises(BusinessRuleError, match="leads 1 coming session") as refused:
        deactivate_team_member(user=therapist, actor=staff)
    assert refused.value.field == "takeover"
    therapist.refresh_from_db()
    assert therapist.is_active


def test_the_sessions_go_to_the_chosen_practitioner_with_history(
    staff, therapist, other_therapist, led
):
    session, ended = led
    handed = deactivate_team_member(user=therapist, takeover=other_therapist, actor=staff)
    assert handed == [session]
    session.refresh_from_db()
    ended.refresh_from_db()
    assert session.practitioner == other_therapist
    assert ended.practitioner == therapist  # no date to come: left as it was
    therapist.refresh_from_db()
    assert not therapist.is_active
    assert TeamEvent.objects.filter(kind="session_handed_over", user=therapist).count() == 1
    assert TeamEvent.objects.filter(kind="session_handed_over", user=other_therapist).count() == 1
    # a second submit changes nothing more
    assert deactivate_team_member(user=therapist, takeover=other_therapist, actor=staff) == []


@pytest.mark.parametrize("who", ["self", "inactive", "staff"])
def test_only_another_active_practitioner_takes_over(staff, therapist, led, who):
    takeover = {
        "self": therapist,
        "inactive": UserFactory(is_active=False),
        "staff": UserFactory(role="staff"),
    }[who]
    with pytest.raises(BusinessRuleError, match="active practitioner"):
        deactivate_team_member(user=therapist, takeover=takeover, actor=staff)
    assert led[0].__class__.objects.get(pk=led[0].pk).practitioner == therapist
