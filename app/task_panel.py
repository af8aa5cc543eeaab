"""The task panel: the user's tasks beside the chat, editable in place.

Tick a task done or open again, change its title, priority, due date or tags, or delete its row: each edit is one
call of the MCP tools (complete_task, reopen_task, update_task, delete_task), so the chat's next turn sees it. A
refused edit shows the tool's sentence under the table and changes nothing; the table is read again after every
edit, so it always shows what the server holds. The panel is a fragment: a filter switch or an edit redraws it
alone, not the chat.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any

import streamlit as st

from app.client import ServiceUnavailable, TodoClient, ToolError
from contract import limits
from contract.schemas import Status, TaskOut

FILTERS: tuple[Status, ...] = ("open", "done", "all")
COLUMNS = ("#", "Done", "Title", "Priority", "Due", "Tags")
# Pixels, sized to fit the panel at 1280x720 (tests/app/test_task_panel.py checks every header shows).
WIDTHS = {"#": 30, "Done": 40, "Title": 114, "Priority": 80, "Due": 72, "Tags": 56}
EMPTY = {"open": "No open tasks. Add one in the chat.", "done": "Nothing done yet.", "all": "No tasks yet."}

ANCHOR = "your-tasks"  # the panel's heading, linked from the chat on a narrow screen


@dataclass(frozen=True)
class Edit:
    """What the table's editor reports: changed cells by row, and deleted rows (positions in the shown list)."""

    changed: dict[int, dict[str, Any]]
    deleted: list[int]

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "Edit":
        changed = {int(row): dict(cells) for row, cells in (state.get("edited_rows") or {}).items()}
        return cls(changed, [int(row) for row in state.get("deleted_rows") or []])


def tags_from(text: str | None) -> list[str]:
    """ "#work home" → ["work", "home"]: the Tags cell as people type it."""
    return [word.lstrip("#").lower() for word in (text or "").replace(",", " ").split() if word.lstrip("#")]


def due_from(value: object) -> str | None:
    """A Due cell as typed: a date or a phrase the tool resolves ("friday", "Dec 15", "2026-12-04"); None if empty."""
    text = str(value or "").strip()
    return text or None


def changes_for(task: TaskOut, cells: dict[str, Any]) -> dict[str, Any]:
    """update_task's arguments for the edited cells of one row (Done is not among them)."""
    changes: dict[str, Any] = {}
    if "Title" in cells:
        changes["title"] = str(cells["Title"] or "").strip()
    if cells.get("Priority"):
        changes["priority"] = cells["Priority"]
    if "Due" in cells:
        due = due_from(cells["Due"])
        if due is None:
            changes["clear_due_date"] = True
        else:
            changes["due_date"] = due
    if "Tags" in cells:
        changes["tags"] = tags_from(cells["Tags"])
    return changes


def apply_edit(todo: TodoClient, shown: list[TaskOut], edit: Edit) -> list[str]:
    """Send each edited row's changes, then each deletion, through the tools; the sentences of those refused."""
    problems: list[str] = []
    for row, cells in sorted(edit.changed.items()):
        task = shown[row]
        try:
            if "Done" in cells and bool(cells["Done"]) != task.completed:
                (todo.complete_task if cells["Done"] else todo.reopen_task)(task.id)
            changes = changes_for(task, cells)
            if changes:
                todo.update_task(task.id, **changes)
        except (ToolError, ServiceUnavailable) as exc:
            problems.append(f"Task {task.id} ({task.title}): {exc}")
    for row in sorted(edit.deleted):
        task = shown[row]
        try:
            todo.delete_task(task.id)
        except (ToolError, ServiceUnavailable) as exc:
            problems.append(f"Task {task.id} ({task.title}): {exc}")
    return problems


def rows(tasks: list[TaskOut]) -> list[dict[str, Any]]:
    """One row per task; an empty cell is empty (not "None")."""
    return [
        {
            "#": task.id,
            "Done": task.completed,
            "Title": task.title,
            "Priority": task.priority,
            "Due": task.due_date.strftime("%a %-d %b") if task.due_date else "",
            "Tags": " ".join(f"#{tag}" for tag in task.tags),
        }
        for task in tasks
    ]


def overdue(tasks: list[TaskOut], today: dt.date) -> list[TaskOut]:
    return [task for task in tasks if not task.completed and task.due_date is not None and task.due_date < today]


def tasks_by_filter(todo: TodoClient) -> tuple[dict[Status, list[TaskOut]], dict[Status, int]]:
    """Each filter's tasks (newest first, at most PAGE_SIZE_MAX) and how many it has, from one call when all fit."""
    everything = todo.list_tasks(status="all", limit=limits.PAGE_SIZE_MAX)
    if everything.total <= len(everything.tasks):
        open_tasks = [task for task in everything.tasks if not task.completed]
        done = [task for task in everything.tasks if task.completed]
        lists: dict[Status, list[TaskOut]] = {"open": open_tasks, "done": done, "all": everything.tasks}
        return lists, {name: len(tasks) for name, tasks in lists.items()}
    lists, counts = {"all": everything.tasks}, {"all": everything.total}
    for status in ("open", "done"):
        page = todo.list_tasks(status=status, limit=limits.PAGE_SIZE_MAX)
        lists[status], counts[status] = page.tasks, page.total
    return lists, counts


def edit_table(todo: TodoClient, key: str, shown: list[TaskOut]) -> None:
    """on_change of the table: apply what was edited, keep the refusals to show, start a fresh editor."""
    problems = apply_edit(todo, shown, Edit.from_state(st.session_state.get(key) or {}))
    st.session_state["task-problems"] = problems
    st.session_state["task-table-version"] = st.session_state.get("task-table-version", 0) + 1


@st.fragment
def task_panel(todo: TodoClient, today: dt.date) -> None:
    with st.container(key="task-panel"):
        st.subheader("Your tasks", anchor=ANCHOR)
        try:
            lists, counts = tasks_by_filter(todo)
        except (ServiceUnavailable, ToolError) as exc:
            st.warning(f"Tasks could not be loaded: {exc}")
            return
        status = st.segmented_control(
            "Show",
            FILTERS,
            default="open",
            required=True,
            format_func=lambda name: f"{name} · {counts[name]}",
            key="task-filter",
            label_visibility="collapsed",
        )
        shown = lists[status or "open"]
        late = overdue(shown, today)
        if late:
            numbers = ", ".join(f"#{task.id}" for task in late[:8]) + ("…" if len(late) > 8 else "")
            st.markdown(f":red[:material/schedule: **{len(late)} overdue**: {numbers}]")
        for problem in st.session_state.pop("task-problems", []):
            st.error(problem, icon=":material/block:")
        if not shown:
            st.caption(EMPTY[status or "open"])
            return
        key = f"task-table-{status}-{st.session_state.get('task-table-version', 0)}"
        st.data_editor(
            rows(shown),
            key=key,
            hide_index=True,
            width="stretch",
            num_rows="delete",
            disabled=["#"],
            column_order=COLUMNS,
            column_config={
                "#": st.column_config.NumberColumn(width=WIDTHS["#"], help="The task's number, as you say it in chat"),
                "Done": st.column_config.CheckboxColumn(
                    "✓", width=WIDTHS["Done"], help="Done: tick when done, untick to reopen"
                ),
                "Title": st.column_config.TextColumn(
                    width=WIDTHS["Title"], required=True, max_chars=limits.TITLE_LENGTH
                ),
                "Priority": st.column_config.SelectboxColumn(
                    width=WIDTHS["Priority"], options=["low", "medium", "high"], required=True
                ),
                "Due": st.column_config.TextColumn(
                    width=WIDTHS["Due"],
                    max_chars=limits.DATE_TEXT_LENGTH,
                    help='A date or words: "friday", "in 3 days"; empty: none',
                ),
                "Tags": st.column_config.TextColumn(width=WIDTHS["Tags"], help="Words, e.g. #work home"),
            },
            on_change=edit_table,
            args=(todo, key, shown),
        )
        if counts[status or "open"] > len(shown):
            st.caption(f"Showing {len(shown)} of {counts[status or 'open']}.")
