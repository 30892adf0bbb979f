"""issue 9 item 9d: every step of a transfer that was finished (in another tab, or
a moment ago by someone else) answers with a clear message on the transfer's
result, the client's profile; never a 500."""

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from frontdesk import transfers
from frontdesk.models import Transfer, TransferDraft
from frontdesk.tasks import purge_transfer_drafts
from opus.lib.actors import SYSTEM
from opus.lib.errors import BusinessRuleError
from tests.factories import SubscriptionFactory
from tests.support.transfer import PAY_LATER, draft_to

pytestmark = pytest.mark.django_db
HX = {"HX-Request": "true"}
DONE = "This transfer is done already"


def test_preview_of_a_draft_finished_meanwhile_says_it_is_done(world, staff):
    """The draft was read before the other tab's finish committed: the service sees
    the finished transfer under its lock and refuses, in words."""
    draft = draft_to(world, staff)
    stale = TransferDraft.objects.get(pk=draft.pk)
    transfers.finish_transfer(draft=draft, actor=staff, finish=PAY_LATER)
    with pytest.raises(BusinessRuleError, match=DONE):
        transfers.preview(stale)
    with pytest.raises(BusinessRuleError, match=DONE):
        transfers.add_discount(actor=SYSTEM, draft=stale, amount=5, reason="Goodwill")
    stale.refresh_from_db()
    assert stale.discounts == []


ACTIONS = [
    ("scheduling:transfer-discount", {}, {"kind": "amount", "value": "5", "reason": "Goodwill"}),
    ("scheduling:transfer-discount-remove", {"index": 0}, {}),
    ("scheduling:transfer-credit", {}, {"apply": "1"}),
    ("scheduling:transfer-finish", {}, {"how": "close_now", "close_reason": "x"}),
    ("scheduling:transfer-finish", {}, {"how": "nonsense"}),
]


@pytest.mark.parametrize(("name", "kwargs", "data"), ACTIONS, ids=lambda v: str(v)[:40])
@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_every_step_of_a_finished_transfer_goes_to_its_result(
    staff_client, world, staff, name, kwargs, data, headers
):
    draft = draft_to(world, staff)
    transfers.finish_transfer(draft=draft, actor=staff, finish=PAY_LATER)
    url = reverse(name, kwargs={"draft_id": draft.public_id, **kwargs})
    response = staff_client.post(url, data, headers=headers)
    profile = reverse("clients:detail", args=[world["subscription"].client_id])
    if headers:
        assert (response.status_code, response["HX-Redirect"]) == (200, profile)
    else:
        assert (response.status_code, response["Location"]) == (302, profile)
    said = " ".join(str(m) for m in get_messages(response.wsgi_request))
    if data.get("how") == "close_now":  # a replayed final post: the first one's message
        assert DONE not in said
    else:
        assert DONE in said
    assert Transfer.objects.count() == 1
    assert TransferDraft.objects.get(pk=draft.pk).discounts == []


def test_old_drafts_are_purged_and_the_transfers_they_made_stay(world, staff):
    """Issue 10: the wizard's state is kept OPUS_TRANSFER_DRAFT_DAYS (30), then the
    daily task deletes it, finished or not; a transfer made by one stays."""
    finished = draft_to(world, staff)
    transfers.finish_transfer(draft=finished, actor=staff, finish=PAY_LATER)
    recent = transfers.start_transfer(
        subscription=SubscriptionFactory(), transfer_date=world["next_monday"], actor=staff
    )
    TransferDraft.objects.filter(pk=finished.pk).update(
        created_at=timezone.now() - timedelta(days=31)
    )
    assert purge_transfer_drafts.apply().get() == 1
    assert list(TransferDraft.objects.values_list("pk", flat=True)) == [recent.pk]
    assert Transfer.objects.count() == 1
