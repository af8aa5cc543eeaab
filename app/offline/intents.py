"""What a parsed message means: the intent dataclasses, the ``Intent`` union and ``TaskRef``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TypeAlias

from contract.schemas import Priority, Status


@dataclass(frozen=True, slots=True)
class TaskRef:
    """Which task the user means: its per-user number, or words of its title (exactly one is set)."""

    number: int | None = None
    words: str | None = None

    def __post_init__(self) -> None:
        if (self.number is None) == (self.words is None):
            raise ValueError("TaskRef needs exactly one of number or words")


@dataclass(frozen=True, slots=True)
class AddTask:
    title: str
    priority: Priority = "medium"
    due_date: date | None = None
    tags: tuple[str, ...] = ()
    cut_from: int | None = None  # the length of a title that was cut to fit


@dataclass(frozen=True, slots=True)
class ListTasks:
    """List tasks. ``due_before`` is exclusive, like the tool's: "due today" is ``due_before=tomorrow``."""

    status: Status = "open"
    priority: Priority | None = None
    tag: str | None = None
    overdue: bool = False
    search: str | None = None
    due_before: date | None = None


@dataclass(frozen=True, slots=True)
class Complete:
    ref: TaskRef


@dataclass(frozen=True, slots=True)
class Reopen:
    ref: TaskRef


@dataclass(frozen=True, slots=True)
class Delete:
    ref: TaskRef


@dataclass(frozen=True, slots=True)
class Rename:
    ref: TaskRef
    new_title: str


@dataclass(frozen=True, slots=True)
class SetPriority:
    ref: TaskRef
    priority: Priority


@dataclass(frozen=True, slots=True)
class SetDue:
    """Set the due date; ``due_date=None`` removes it."""

    ref: TaskRef
    due_date: date | None


@dataclass(frozen=True, slots=True)
class Help:
    pass


@dataclass(frozen=True, slots=True)
class Unknown:
    """Not understood. ``hint`` is set when the message was almost understood (e.g. no title)."""

    text: str
    hint: str | None = None


Intent: TypeAlias = AddTask | ListTasks | Complete | Reopen | Delete | Rename | SetPriority | SetDue | Help | Unknown
