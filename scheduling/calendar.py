"""The calendar's time grid: the schedule's slots laid out in columns (the days
of a week, or the practitioners or rooms of a day), hours down, each slot a
block placed by CSS classes (the CSP forbids inline styles): ``r-N`` is the
15-minute row it starts on, ``s-N`` how many rows it spans, ``svc-N`` its
service's colour. Overlapping blocks of one column sit side by side: the CSS
grid places them itself. Everything here is computed from the slots already
read: no query."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

STEP = 15  # minutes a grid row stands for
ROWS_PER_HOUR = 60 // STEP
MAX_ROWS = 24 * ROWS_PER_HOUR  # the CSS holds r-1..r-96 and s-1..s-96
PALETTE = 8  # svc-0..svc-7
FIRST_HOUR, LAST_HOUR = 8, 18  # shown even when no session starts or ends there

ACROSS = [("practitioner", "Practitioners"), ("room", "Rooms")]


@dataclass
class Column:
    key: str
    title: str
    day: date
    today: bool = False
    past: bool = False
    blocks: list[dict] = field(default_factory=list)
    now_row: int | None = None


@dataclass
class Grid:
    rows: int
    hours: list[dict]
    columns: list[Column]

    @property
    def empty(self) -> bool:
        return not any(column.blocks for column in self.columns)


def _hours(slots: list[dict]) -> tuple[int, int]:
    first = min([FIRST_HOUR, *(s["start_minute"] // 60 for s in slots)])
    last = max([LAST_HOUR, *(-(-s["end_minute"] // 60) for s in slots)])
    return first, min(last, 24)


def _block(slot: dict, first_hour: int, rows: int) -> dict:
    start = max(0, slot["start_minute"] - first_hour * 60) // STEP + 1
    length = max(slot["end_minute"] - slot["start_minute"], STEP)
    span = min(-(-length // STEP), rows - start + 1)
    return {
        **slot,
        "place": f"r-{start} s-{span} svc-{slot['service_id'] % PALETTE}",
        "short": span <= 2,  # half an hour or less: one line of text
    }


def time_grid(
    slots: list[dict], *, days: list[date], now: datetime, across: str | None = None
) -> Grid:
    """The week's grid (``across`` None: a column a day) or one day's (``across``
    "practitioner" or "room": a column each that has a session that day, ordered
    by name; sessions without a room under "No room")."""
    first, last = _hours(slots)
    rows = (last - first) * ROWS_PER_HOUR
    today = now.date()
    # the days before today drop out of the phone's agenda of the coming days
    agenda = today in days
    columns: dict[object, Column] = {}
    if across is None:
        for day in days:
            columns[day] = Column(
                key=f"{day:%Y%m%d}",
                title=f"{day:%a %-d %b}",
                day=day,
                today=day == today,
                past=agenda and day < today,
            )
    for slot in slots:
        if across is None:
            key = slot["date"]
        elif across == "room":
            key = slot["room_id"] or 0
            title = slot["room"] or "No room"
        else:
            key = slot["practitioner_id"]
            title = slot["practitioner"]
        if key not in columns:
            day = slot["date"]
            columns[key] = Column(key=f"{across}-{key}", title=title, day=day, today=day == today)
        columns[key].blocks.append(_block(slot, first, rows))
    ordered = list(columns.values())
    if across is not None:
        ordered.sort(key=lambda c: (c.title == "No room", c.title.lower()))
        if not ordered and days:  # a day without sessions still shows its hours
            ordered = [Column(key="none", title="No sessions", day=days[0])]
    minute = now.hour * 60 + now.minute
    if first * 60 <= minute < last * 60:
        for column in ordered:
            if column.day == today:
                column.now_row = (minute - first * 60) // STEP + 1
    hours = [
        {"label": f"{hour:02d}:00", "place": f"r-{(hour - first) * ROWS_PER_HOUR + 1} s-4"}
        for hour in range(first, last)
    ]
    return Grid(rows=rows, hours=hours, columns=ordered)
