"""Races: concurrent accepts of one invitation set one password; two staff removing
each other leave one active; the same address invited twice at once makes one person."""

import pytest
from django.core.exceptions import PermissionDenied
from django.db import close_old_connections
from django.test import Client as HttpClient

from opus import team
from opus.lib.errors import BusinessRuleError
from opus.models import Invitation, TeamEvent, User
from tests.factories import UserFactory
from tests.support.team import invitation_url, invite
from tests.support.threads import run_together

pytestmark = pytest.mark.django_db(transaction=True)


def test_eight_concurrent_accepts_set_one_password(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    staff = UserFactory(role="staff")
    invitation, token = invite(staff)

    def accept(password):
        def post():
            try:
                data = {"new_password1": password, "new_password2": password}
                return HttpClient().post(invitation_url(token), data).status_code
            finally:
                close_old_connections()

        return post

    statuses = run_together([accept(f"a long new secret {i:02d}") for i in range(8)])
    assert sorted(statuses) == [200] + [410] * 7
    assert Invitation.objects.get().used_at is not None
    assert TeamEvent.objects.filter(kind="joined").count() == 1
    assert User.objects.get(pk=invitation.user_id).has_usable_password()


def test_two_staff_deactivating_each_other_at_once_leave_one_active():
    first = UserFactory(role="staff")
    second = UserFactory(role="staff")
    results = run_together(
        [
            lambda: team.deactivate_user(user=second, actor=first),
            lambda: team.deactivate_user(user=first, actor=second),
        ]
    )
    # the second to get the staff rows finds its actor deactivated (or, had it run
    # first, the other the last staff member): one way or the other, it is refused
    refused = [r for r in results if isinstance(r, BusinessRuleError | PermissionDenied)]
    assert len(refused) == 1, results
    assert User.objects.filter(role="staff", is_active=True).count() == 1


def test_the_same_address_invited_twice_at_once_makes_one_person():
    staff = UserFactory(role="staff")
    results = run_together([lambda: invite(staff), lambda: invite(staff)])
    assert sum(isinstance(r, BusinessRuleError) for r in results) == 1
    assert User.objects.filter(email="ivy@example.com").count() == 1
    assert Invitation.objects.count() == 1
