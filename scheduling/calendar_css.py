"""Writes static/css/calendar.css: calendar.src.css and the time grid's placement
classes (run after changing either; a test checks the file is up to date)."""

from pathlib import Path

from scheduling.calendar import MAX_ROWS

STATIC = Path(__file__).resolve().parent.parent / "static" / "css"


def placement_rules() -> str:
    rows = " ".join(f".r-{n}{{grid-row-start:{n}}}" for n in range(1, MAX_ROWS + 1))
    spans = " ".join(f".s-{n}{{grid-row-end:span {n}}}" for n in range(1, MAX_ROWS + 1))
    return f"/* generated: the grid's rows and spans */\n{rows}\n{spans}\n"


def stylesheet() -> str:
    return (STATIC / "calendar.src.css").read_text() + placement_rules()


if __name__ == "__main__":
    (STATIC / "calendar.css").write_text(stylesheet())
