"""The steps of a front desk wizard, declared once: each step's name, the title
the step list shows, whether the wizard's state has its answer, and the view
that shows it. The transfer and the migration to first party both use it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    name: str
    title: str
    done: Callable[[object], bool]  # the state already holds this step's answer
    view: Callable | None = None


class Wizard:
    def __init__(self, *steps: Step):
        self.steps = steps
        self.names = [step.name for step in steps]

    def step(self, name: str) -> Step | None:
        return next((step for step in self.steps if step.name == name), None)

    def first_incomplete(self, state) -> Step:
        """The first step without an answer: where the user goes on (the last
        step when every one has one)."""
        return next((step for step in self.steps if not step.done(state)), self.steps[-1])

    def reachable(self, state, name: str) -> bool:
        """A step is open once every step before it has its answer."""
        return self.names.index(name) <= self.names.index(self.first_incomplete(state).name)

    def nav(self, state, current: str, url: Callable[[str], str]) -> list[dict]:
        """The step list (templates/frontdesk/_steps.html) as ``current`` shows it."""
        return [
            {
                "name": step.name,
                "title": step.title,
                "url": url(step.name),
                "current": step.name == current,
                "reachable": self.reachable(state, step.name),
            }
            for step in self.steps
        ]
