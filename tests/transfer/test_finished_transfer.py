"""issue 9 item 9d: every step of a transfer that was finished (in another tab, or
a moment ago by someone else) answers with a clear message on the transfer's
result, the client's profile; never a 500."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from opus.lib.errors import BusinessRuleError
from scheduling import transfers
from scheduling.models import Transfer, TransferDraft
from tests.transfer.test_transfer_services import PAY_LATER, draft_to

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
        transfers.add_discount(draft=stale, amount=5, reason="Goodwill")
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
