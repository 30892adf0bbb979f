"""Card requests: the emailed link a client opens to add a payment card."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from billing import gateway as gateways
from billing.consent import consent_given
from billing.gateway import CardDetails, CardSetup, GatewayError
from billing.models import (
    PaymentCardRequest,
    PaymentMethod,
)
from billing.permissions import can_request_card
from billing.signals import card_added
from billing.tokens import derive_token, hash_token, new_nonce
from clients.models import Client, ClientEvent
from clients.services import record_event
from opus import practice as practices
from opus.lib.actors import SYSTEM, person, require_actor
from opus.lib.errors import BusinessRuleError
from opus.models import OutboundEmail
from opus.services import queue_email


class CardLinkGone(BusinessRuleError):
    """The link was used, has expired or was replaced by a newer one."""

    def __init__(self, card_request: PaymentCardRequest, state: str):
        super().__init__(f"This link can no longer be used ({state}).")
        self.card_request = card_request
        self.state = state


def _check_can_request(actor, client) -> None:
    require_actor(actor)
    if not can_request_card(actor, client):
        raise PermissionDenied("Only staff and the client's practitioner can ask for a card.")


@transaction.atomic
def request_payment_card(*, client, actor, reason: str, relationship=None) -> PaymentCardRequest:
    """Email the client a single-use link to add a card; the link expires after
    the practice's card-link lifetime, and replaces any earlier request of theirs. The email
    is an outbox row sent by the worker after this transaction commits."""

    _check_can_request(actor, client)
    reason = " ".join((reason or "").split())
    if not reason:
        raise BusinessRuleError(
            "Say why the card is needed: the email tells the client.", field="reason"
        )
    # One request at a time per client. NO KEY UPDATE: rows that merely point at
    # the client (a card being saved, a history row) are not held up by it.
    client = Client.objects.select_for_update(no_key=True).get(pk=client.pk)
    if not client.email:
        raise BusinessRuleError(
            f"{client.full_name} has no email address: add one to send the link."
        )
    if relationship is not None and client.pk not in (
        relationship.payer_id,
        relationship.attendee_id,
    ):
        raise BusinessRuleError("That relationship is not this client's.")
    now = timezone.now()
    PaymentCardRequest.objects.filter(
        client=client, used_at__isnull=True, superseded_at__isnull=True
    ).update(superseded_at=now)
    nonce = new_nonce()
    card_request = PaymentCardRequest.objects.create(
        client=client,
        relationship=relationship,
        reason=reason[:300],
        nonce=nonce,
        token_hash=hash_token(derive_token(nonce)),
        created_by=person(actor),
        expires_at=now + practices.current().card_link_ttl,
    )
    queue_email(
        template="card_request",
        to=client.email,
        context={"card_request_id": card_request.pk},
        client=client,
    )
    record_event(
        client=client,
        kind=ClientEvent.Kind.CARD,
        summary=f"Link to add a card requested: {reason}",
        actor=actor,
    )
    return card_request


@transaction.atomic
def resend_payment_card_request(*, card_request: PaymentCardRequest, actor) -> PaymentCardRequest:
    """Send the link of a live request again (the same link), or, when it has
    expired or its email could not be delivered to an old address, a fresh
    request. Pressing twice queues one email."""

    _check_can_request(actor, card_request.client)
    Client.objects.select_for_update(no_key=True).get(pk=card_request.client_id)
    card_request = PaymentCardRequest.objects.select_for_update().get(pk=card_request.pk)
    now = timezone.now()
    state = card_request.state_at(now)
    if state == PaymentCardRequest.State.USED:
        raise BusinessRuleError("The client already added a card through this link.")
    if state == PaymentCardRequest.State.SUPERSEDED:
        raise BusinessRuleError("A newer request replaced this one: resend that one instead.")
    if state == PaymentCardRequest.State.EXPIRED:
        return request_payment_card(
            client=card_request.client,
            actor=actor,
            reason=card_request.reason,
            relationship=card_request.relationship,
        )
    client = card_request.client
    if not client.email:
        raise BusinessRuleError(f"{client.full_name} has no email address: add one first.")
    already_queued = OutboundEmail.objects.filter(
        template="card_request",
        status=OutboundEmail.Status.PENDING,
        context__card_request_id=card_request.pk,
    ).exists()
    if not already_queued:
        card_request.email_failed_at = None
        card_request.save(update_fields=["email_failed_at"])
        queue_email(
            template="card_request",
            to=client.email,
            context={"card_request_id": card_request.pk},
            client=client,
        )
        record_event(
            client=client,
            kind=ClientEvent.Kind.CARD,
            summary="Link to add a card sent again",
            actor=actor,
        )
    return card_request


def card_setup_for_link(*, card_request: PaymentCardRequest):
    """The processor's card setup behind a link's page, for a processor whose
    script takes the card in the page (Stripe): started (with the payer's customer)
    the first time the page opens, and the same one on every later opening. Opening
    the page uses nothing up: the link stays as it was."""
    gateway = gateways.get_gateway()
    previous = card_request.setup_id
    if previous:
        setup = gateway.retrieve_setup(setup_id=previous)
        if setup is not None:
            return setup
    # none yet, or the last one was canceled (a declined card): a fresh one
    setup = gateway.create_setup(
        reference=f"card-request-{card_request.pk}", payer=card_request.client
    )
    with transaction.atomic():
        claimed = PaymentCardRequest.objects.filter(pk=card_request.pk, setup_id=previous).update(
            setup_id=setup.id
        )
    if not claimed:  # another opening of the page started one first: use that one
        card_request.refresh_from_db(fields=["setup_id"])
        return gateway.retrieve_setup(setup_id=card_request.setup_id) or setup
    card_request.setup_id = setup.id
    return setup


def record_card_link_opened(*, card_request: PaymentCardRequest, at) -> bool:
    """Stamp the first time a live link's page is shown (the card links report's
    "opened"). Only that stamp: the link stays exactly as usable as it was (a GET
    never consumes it). A conditional UPDATE, so two first views stamp once."""
    stamped = PaymentCardRequest.objects.filter(pk=card_request.pk, opened_at__isnull=True).update(
        opened_at=at
    )
    if stamped:
        card_request.opened_at = at
    return bool(stamped)


@sensitive_variables("card", "token")
def add_card_from_link(
    *, token: str, card: CardDetails | None = None, confirmation: str = ""
) -> PaymentMethod:
    """The client adds a card through their link: saved at the gateway, kept as a
    PaymentMethod, and the link used up, all at once. The request row is locked,
    so concurrent submissions store one card; the others find the link used.
    With Stripe, ``confirmation`` is the SetupIntent Stripe.js confirmed in the
    page: the card itself never reaches Opus."""
    with transaction.atomic():
        card_request = (
            PaymentCardRequest.objects.select_for_update(of=("self",))
            .select_related("client")
            .filter(token_hash=hash_token(token))
            .first()
        )
        if card_request is None:
            raise BusinessRuleError("This link is not valid.")
        return _save_card(card_request, card=card, confirmation=confirmation)


def add_card_from_setup(*, setup_id: str) -> PaymentMethod | None:
    """The processor's notice that a link's card setup succeeded (the payer's
    browser may have closed before the page posted it): the card is saved as the
    page would have, once. None when no live link started that setup, or when
    the card was saved already."""
    with transaction.atomic():
        card_request = (
            PaymentCardRequest.objects.select_for_update(of=("self",))
            .select_related("client")
            .filter(setup_id=setup_id)
            .exclude(setup_id="")
            .first()
        )
        if card_request is None or card_request.used_at is not None:
            return None
        try:
            return _save_card(card_request, confirmation=setup_id)
        except CardLinkGone:
            return None


@sensitive_variables("card")
def _save_card(card_request, *, card=None, confirmation: str = "") -> PaymentMethod:
    now = timezone.now()
    if not card_request.is_live_at(now):
        raise CardLinkGone(card_request, card_request.state_at(now))
    gateway = gateways.get_gateway()
    if gateway.collects_card_in_page:
        setup = gateway.create_setup(reference=f"card-request-{card_request.pk}")
        saved = gateway.confirm_setup(setup=setup, card=card)  # CardError: nothing saved
    else:
        setup = CardSetup(id=card_request.setup_id)
        saved = gateway.confirm_setup(setup=setup, confirmation=confirmation)
    try:
        with transaction.atomic():
            method = PaymentMethod.objects.create(
                client_id=card_request.client_id,
                gateway=saved.gateway,
                token=saved.token,
                brand=saved.brand,
                last4=saved.last4,
                exp_month=saved.exp_month,
                exp_year=saved.exp_year,
                **consent_given(),
            )
    except IntegrityError as error:  # a token the gateway gave twice
        raise GatewayError("duplicate token") from error
    card_request.used_at = timezone.now()
    card_request.payment_method = method
    card_request.save(update_fields=["used_at", "payment_method"])
    record_event(
        actor=SYSTEM,
        client=card_request.client,
        kind=ClientEvent.Kind.CARD,
        summary=(f"{saved.brand.title()} ending {saved.last4} added through the emailed link"),
    )
    card_added.send(sender=PaymentCardRequest, client=card_request.client)
    return method


EXPIRY_NOTICE_DAYS = 30


def _last_day(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def request_updates_for_expiring_cards(*, today: date | None = None) -> int:
    """Run daily: a card on file that stops working within 30 days (it works to the
    end of its expiry month) gets its payer emailed a link to add the card that
    replaces it, once per card; not when the payer has another card that works
    beyond it. Returns how many links were sent."""
    today = today or timezone.localdate()
    horizon = today + timedelta(days=EXPIRY_NOTICE_DAYS)
    expiring = (
        PaymentMethod.objects.usable(today)
        .filter(expiry_notice_at__isnull=True)
        .filter(
            Q(exp_year__lt=horizon.year) | Q(exp_year=horizon.year, exp_month__lte=horizon.month)
        )
        .select_related("client")
        .order_by("pk")
    )
    sent = 0
    for card in expiring:
        ends = _last_day(card.exp_year, card.exp_month)
        if ends > horizon:
            continue
        later = (
            PaymentMethod.objects.usable(today)
            .filter(client_id=card.client_id)
            .filter(
                Q(exp_year__gt=card.exp_year)
                | Q(exp_year=card.exp_year, exp_month__gt=card.exp_month)
            )
            .exists()
        )
        with transaction.atomic():
            claimed = PaymentMethod.objects.filter(
                pk=card.pk, expiry_notice_at__isnull=True
            ).update(expiry_notice_at=timezone.now())
            if not claimed or later or not card.client.email:
                continue
            request_payment_card(
                client=card.client,
                actor=SYSTEM,
                reason=(
                    f"Your {card.brand.title()} ending {card.last4} expires at the end of "
                    f"{ends:%B %Y}: please add the card that replaces it."
                ),
            )
            sent += 1
    return sent
