"""The Python client as the data team uses it (the README's notebook example)."""

import datetime as dt

import pandas as pd
import pytest

from app.client import ServiceUnavailable, TodoClient, ToolError
from tests.support import TOKEN


def test_the_notebook_example(mcp_url: str, user_id: str) -> None:
    todo = TodoClient.open(mcp_url, token=TOKEN, user_id=user_id)
    try:
        task = todo.add_task("send Q3 report", priority="high", due_date=dt.date(2026, 11, 27), tags=["work"])
        todo.add_task("buy milk", priority="low")
        todo.add_task("old thing", due_date="2000-01-01")
        assert todo.complete_task(task.id).completed is True
        frame = pd.DataFrame(todo.task_rows(status="all", page_size=2))  # three tasks over two pages
        assert list(frame["title"]) == ["send Q3 report", "buy milk", "old thing"]
        assert frame.groupby("priority")["completed"].mean().to_dict() == {"high": 1.0, "low": 0.0, "medium": 0.0}
        assert [t.title for t in todo.list_tasks(overdue=True, sort="due").tasks] == ["old thing"]
        updated = todo.update_task(3, due_date=dt.date(2030, 1, 1), tags=["later"])
        assert (updated.due_date, updated.tags) == (dt.date(2030, 1, 1), ["later"])
        assert todo.delete_task(2).task.title == "buy milk"
        with pytest.raises(ToolError, match="Task 2 does not exist"):
            todo.reopen_task(2)
    finally:
        todo.connection.close()


def test_an_unreachable_server_is_a_clear_error() -> None:
    todo = TodoClient.open("http://127.0.0.1:9/mcp", token=TOKEN, user_id="nobody", timeout=2)
    try:
        with pytest.raises(ServiceUnavailable, match="not reachable"):
            todo.list_tasks()
    finally:
        todo.connection.close()
