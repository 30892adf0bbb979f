"""Invoice arithmetic that writes nothing: the lines an invoice would have.

An ``InvoicePlan`` holds unsaved ``InvoiceLine`` objects and applies every rule
of a line (an amount is a number at the currency's precision, a discount or a
credit never takes the total below zero, a percentage is of the charges...).
The services persist a plan's lines under their locks (``billing.services``);
a checkout shows the same plan before anything is written, so what the user
sees is what is issued.

Amounts are rounded once, by ``opus.lib.money.round_money``, when a line is
planned; totals are sums of rounded amounts and need no second rounding.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from django.db.models import Exists, OuterRef

from billing.models import InvoiceLine
from opus.lib.errors import BusinessRuleError
from opus.lib.money import DECIMAL_PLACES, MAX_DIGITS, format_money, round_money
from scheduling.models import DateAbsence, Service, SessionDate

MAX_AMOUNT = Decimal(10) ** (MAX_DIGITS - DECIMAL_PLACES) - 1

# the payment form's box, which the refusal of an overpayment names
EXCESS_TO_CREDIT_LABEL = "Keep what is above the balance as account credit"


def money(value, currency: str, *, field: str, label: str) -> Decimal:
    """A user-supplied amount as Decimal at the currency's precision, in range."""
    if isinstance(value, float):
        raise TypeError("money is never a float")
    try:
        number = Decimal(value)
    except (InvalidOperation, TypeError, ValueError) as error:
        raise BusinessRuleError(f"Enter the {label} as a number.", field=field) from error
    if not number.is_finite():
        raise BusinessRuleError(f"Enter the {label} as a number.", field=field)
    if abs(number) > MAX_AMOUNT:
        raise BusinessRuleError(f"The {label} is too large.", field=field)
    return round_money(number, currency)


def at_most_two_places(value, *, field: str, label: str, low, high) -> Decimal:
    try:
        number = Decimal(value)
    except (InvalidOperation, TypeError, ValueError) as error:
        raise BusinessRuleError(f"Enter the {label} as a number.", field=field) from error
    if not number.is_finite():
        raise BusinessRuleError(f"Enter the {label} as a number.", field=field)
    if not low < number <= high:
        raise BusinessRuleError(f"The {label} is more than {low} and at most {high}.", field=field)
    if number != number.quantize(Decimal("0.01")):
        raise BusinessRuleError(f"The {label} has at most two decimal places.", field=field)
    return number


def invoice_totals(lines: Iterable[InvoiceLine]) -> dict[str, Decimal]:
    """Charges, discounts, credits and the total of a set of lines. The plan never
    lets discounts and credits exceed the charges, so the total is exactly
    charges - discounts - credits; it is clamped at zero only as a last guard."""
    sums = {kind: Decimal(0) for kind in InvoiceLine.Kind.values}
    for line in lines:
        sums[line.kind] += line.amount
    raw = (
        sums[InvoiceLine.Kind.CHARGE]
        - sums[InvoiceLine.Kind.DISCOUNT]
        - sums[InvoiceLine.Kind.CREDIT]
    )
    return {
        "charges": sums[InvoiceLine.Kind.CHARGE],
        "discounts": sums[InvoiceLine.Kind.DISCOUNT],
        "credits": sums[InvoiceLine.Kind.CREDIT],
        "total": max(raw, Decimal(0)),
    }


@dataclass
class InvoicePlan:
    """The lines of an invoice in ``currency``, planned one by one: each method
    checks its rule against the lines so far and appends an unsaved line."""

    currency: str
    lines: list[InvoiceLine] = field(default_factory=list)

    @property
    def totals(self) -> dict[str, Decimal]:
        return invoice_totals(self.lines)

    def _append(self, **fields) -> InvoiceLine:
        line = InvoiceLine(position=len(self.lines), **fields)
        self.lines.append(line)
        return line

    def charge(
        self,
        *,
        description: str,
        unit_price,
        quantity=Decimal(1),
        subscription=None,
        booking=None,
        dates: Iterable[SessionDate] | None = None,
    ) -> InvoiceLine:
        """What is billed: ``quantity`` x ``unit_price``, rounded once. ``dates`` are
        the session dates the line counts (``billing.models.ChargedDate``, written
        with the line); a booking's line counts its own date."""
        if not description.strip():
            raise BusinessRuleError("Describe what is billed.", field="description")
        quantity = at_most_two_places(
            quantity, field="quantity", label="quantity", low=Decimal(0), high=Decimal(99999)
        )
        unit = money(unit_price, self.currency, field="unit_price", label="price")
        if unit < 0:
            raise BusinessRuleError("A price is not negative.", field="unit_price")
        amount = round_money(unit * quantity, self.currency)
        if amount > MAX_AMOUNT:
            raise BusinessRuleError("The amount is too large.", field="quantity")
        line = self._append(
            kind=InvoiceLine.Kind.CHARGE,
            description=description.strip()[:300],
            quantity=quantity,
            unit_price=unit,
            amount=amount,
            subscription=subscription,
            booking=booking,
        )
        if dates is None and booking is not None:
            dates = [booking.session_date]
        line.covers = list(dates or ())  # type: ignore[attr-defined]  # written with the line
        return line

    def discount(self, *, reason: str, amount=None, percent=None) -> InvoiceLine:
        """A price cut: an amount, or a percentage of the charges, with a reason.
        Never more than what is left to pay."""
        reason = (reason or "").strip()
        if not reason:
            raise BusinessRuleError("Give a reason for the discount.", field="reason")
        if (amount in (None, "")) == (percent in (None, "")):
            raise BusinessRuleError("Enter either an amount or a percentage.", field="amount")
        totals = self.totals
        if percent not in (None, ""):
            percent = at_most_two_places(
                percent, field="percent", label="percentage", low=Decimal(0), high=Decimal(100)
            )
            value = round_money(totals["charges"] * percent / Decimal(100), self.currency)
            description = f"Discount {percent.normalize():f}%"
            if value <= 0:
                raise BusinessRuleError(
                    "There is nothing to take a percentage of.", field="percent"
                )
        else:
            percent = None
            value = money(amount, self.currency, field="amount", label="discount")
            description = "Discount"
            if value <= 0:
                raise BusinessRuleError("A discount is more than zero.", field="amount")
        if value > totals["total"]:
            raise BusinessRuleError(
                "The discount is larger than what is left to pay "
                f"({format_money(totals['total'], self.currency)}).",
                field="percent" if percent is not None else "amount",
            )
        return self._append(
            kind=InvoiceLine.Kind.DISCOUNT,
            description=description,
            unit_price=value,
            amount=value,
            percent=percent,
            reason=reason[:300],
        )

    def credit(
        self, *, amount, reason: str, description: str = "", subscription=None, booking=None
    ) -> InvoiceLine:
        """Money owed back to the payer and set against this invoice (for example
        the unused value of a subscription left in a transfer). Never more than
        what is left to pay: the total does not go below zero."""
        reason = (reason or "").strip()
        if not reason:
            raise BusinessRuleError("Give a reason for the credit.", field="reason")
        value = money(amount, self.currency, field="amount", label="credit")
        if value <= 0:
            raise BusinessRuleError("A credit is more than zero.", field="amount")
        left = self.totals["total"]
        if value > left:
            raise BusinessRuleError(
                "The credit is larger than what is left to pay "
                f"({format_money(left, self.currency)}).",
                field="amount",
            )
        return self._append(
            kind=InvoiceLine.Kind.CREDIT,
            description=(description or "Credit").strip()[:300],
            unit_price=value,
            amount=value,
            reason=reason[:300],
            subscription=subscription,
            booking=booking,
        )


def _held(
    subscription, first: date, last: date, skipped: Iterable[date]
) -> tuple[list[date], list[SessionDate]]:
    """The subscription's session days from ``first`` to ``last`` (both included, and
    before its end date or the session's last date), less the dates cancelled for
    everyone and those it skips: its DateAbsences once it is saved, and
    ``skipped`` (the dates it will skip, before it is). With the date rows of
    those days that are generated (what its charge line records). One query."""
    session = subscription.session
    if subscription.end_date is not None:
        last = min(last, subscription.end_date - timedelta(days=1))
    if session.last_date is not None:
        last = min(last, session.last_date)
    first = first + timedelta(days=(session.weekday - first.weekday()) % 7)
    days = []
    while first <= last:
        days.append(first)
        first += timedelta(days=7)
    found = SessionDate.objects.filter(session=session, date__in=days)
    if subscription.pk is not None:
        found = found.annotate(
            absent=Exists(
                DateAbsence.objects.filter(
                    subscription_id=subscription.pk, session_date_id=OuterRef("pk")
                )
            )
        )
    rows = list(found.order_by("date"))
    excluded = {
        *(row.date for row in rows if row.cancelled or getattr(row, "absent", False)),
        *skipped,
    }
    return [d for d in days if d not in excluded], [r for r in rows if r.date not in excluded]


def first_month_end(subscription) -> date:
    first = subscription.first_date
    return date(first.year, first.month, calendar.monthrange(first.year, first.month)[1])


def first_month_dates(subscription, *, skipped: Iterable[date] = ()) -> list[date]:
    """The subscription's session dates from its first date to the end of that
    calendar month (and before its end date or the session's last date), less
    the dates cancelled for everyone and those it skips: its DateAbsences once
    it is saved, and ``skipped`` (the dates it will skip, before it is)."""
    return _held(subscription, subscription.first_date, first_month_end(subscription), skipped)[0]


def one_month_session_dates(subscription, *, skipped: Iterable[date] = ()) -> list[SessionDate]:
    """What a monthly service's first invoice ("one month from" the first date)
    covers: its held dates from the first date to the day before the same day of
    the next month."""
    first = subscription.first_date
    year, month = (first.year + 1, 1) if first.month == 12 else (first.year, first.month + 1)
    same_day = date(year, month, min(first.day, calendar.monthrange(year, month)[1]))
    last = same_day - timedelta(days=1)
    return _held(subscription, subscription.first_date, last, skipped)[1]


def plan_subscription_invoice(subscription, *, skipped: Iterable[date] = ()) -> InvoicePlan:
    """The invoice of a subscription's first period (saved or not yet):

    - monthly service: one month at the subscription's price ("N sessions a month");
    - per-session service: the sessions of the first calendar month, from the
      first date to the month's end, cancelled and skipped dates left out, at the
      subscription's price each (a music school bills the rest of the month;
      the next months are the regular billing's business).
    """
    service = subscription.session.service
    plan = InvoicePlan(currency=subscription.currency)
    if service.billing_basis == Service.BillingBasis.MONTHLY:
        plan.charge(
            description=(
                f"{service.name}: one month from {subscription.first_date:%-d %b %Y} "
                f"({service.sessions_per_month} sessions a month)"
            ),
            unit_price=subscription.price,
            subscription=subscription,
            dates=one_month_session_dates(subscription, skipped=skipped),
        )
        return plan
    days, session_dates = _held(
        subscription, subscription.first_date, first_month_end(subscription), skipped
    )
    if not days:
        raise BusinessRuleError(
            "Every session date left in the first month is cancelled or skipped: nothing to bill."
        )
    span = f"{days[0]:%-d %b %Y}" if len(days) == 1 else f"{days[0]:%-d %b} to {days[-1]:%-d %b %Y}"
    plan.charge(
        description=f"{service.name}: {len(days)} session{'s' if len(days) != 1 else ''}, {span}",
        unit_price=subscription.price,
        quantity=Decimal(len(days)),
        subscription=subscription,
        dates=session_dates,
    )
    return plan
