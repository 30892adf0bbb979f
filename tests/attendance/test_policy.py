"""The cancellation policy: per service on the Setup form, defaults from the
practice settings, read together by policy_for."""

from decimal import Decimal

import pytest
from django.urls import reverse

from opus.lib.errors import BusinessRuleError
from opus.practice import update_practice
from scheduling.models import Service, SetupChange
from scheduling.policy import policy_for
from scheduling.setup import save_service
from tests.factories import ServiceFactory
from tests.support.practice import settings_form

pytestmark = pytest.mark.django_db


def test_a_service_without_its_own_policy_takes_the_practices():
    policy = policy_for(ServiceFactory())
    assert (policy.notice_hours, policy.charge_late_cancellations, policy.charge_no_shows) == (
        24,
        True,
        True,
    )
    assert (policy.makeup_credits, policy.makeup_weeks) == (False, 4)


def test_a_services_own_policy_wins_part_by_part(staff):
    update_practice(data=settings_form(cancel_notice_hours=48, charge_no_shows=False), actor=staff)
    service = ServiceFactory(cancel_notice_hours=12, charge_late_cancellations=False)
    policy = policy_for(service)
    assert policy.notice_hours == 12 and policy.charge_late_cancellations is False
    assert policy.charge_no_shows is False  # the practice's, changed
    assert policy_for(ServiceFactory()).notice_hours == 48


def test_saving_a_services_policy_keeps_history(staff):
    service = save_service(data={"name": "Piano", "price": Decimal(30)}, actor=staff)
    assert service.cancel_notice_hours is None and service.charge_no_shows is None
    save_service(
        data={
            "name": "Piano",
            "price": Decimal(30),
            "cancel_notice_hours": 48,
            "charge_no_shows": False,
        },
        service=service,
        actor=staff,
    )
    service.refresh_from_db()
    assert service.cancel_notice_hours == 48 and service.charge_no_shows is False
    change = SetupChange.objects.filter(service=service).first()
    assert "Notice for a cancellation in time (hours): none → 48" in change.summary
    assert "Charge no-shows: none → False" in change.summary


@pytest.mark.parametrize(
    "field, value",
    [
        ("cancel_notice_hours", 721),
        ("cancel_notice_hours", -1),
        ("makeup_weeks", 0),
        ("charge_no_shows", "x"),
    ],
)
def test_a_policy_out_of_bounds_is_refused_by_its_field(staff, field, value):
    with pytest.raises(BusinessRuleError) as caught:
        save_service(data={"name": "Piano", "price": Decimal(30), field: value}, actor=staff)
    assert caught.value.field == field
    assert not Service.objects.exists()


def test_the_service_form_sets_and_clears_the_policy(staff_client):
    url = reverse("scheduling:setup-service-new")
    page = staff_client.get(url).content.decode()
    assert "Charge late cancellations" in page and "Practice default" in page
    assert "Empty: the practice&#x27;s default (24 hours)." in page
    data = {
        "name": "Counselling",
        "billing_basis": "per_session",
        "price": "60",
        "cancel_notice_hours": "48",
        "charge_late_cancellations": "yes",
        "charge_no_shows": "no",
        "makeup_credits": "",
        "makeup_weeks": "",
    }
    assert staff_client.post(url, data).status_code == 302
    service = Service.objects.get()
    assert (service.cancel_notice_hours, service.charge_late_cancellations) == (48, True)
    assert (service.charge_no_shows, service.makeup_credits) == (False, None)
    edit = reverse("scheduling:setup-service-edit", args=[service.pk])
    page = staff_client.get(edit).content.decode()
    assert '<option value="no" selected>No</option>' in page
    refused = staff_client.post(edit, {**data, "cancel_notice_hours": "9999"})
    assert refused.status_code == 200 and "9999" in refused.content.decode()
    assert Service.objects.get().cancel_notice_hours == 48


def test_the_practice_settings_page_holds_the_default_policy(staff_client):
    page = staff_client.get(reverse("practice-settings")).content.decode()
    assert "Notice for a cancellation in time (hours)" in page and "Charge no-shows" in page
    response = staff_client.post(
        reverse("practice-settings"), settings_form(cancel_notice_hours=6, charge_no_shows="")
    )
    assert response.status_code in (200, 302)
    policy = policy_for(None)
    assert policy.notice_hours == 6 and policy.charge_no_shows is False
