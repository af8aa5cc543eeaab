"""The page through Streamlit's AppTest, against the real MCP server and Postgres, with the offline assistant."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.client import McpConnection, TodoClient
from app.settings import get_settings
from contract.schemas import MessageIn

PAGE = str(Path(__file__).resolve().parents[2] / "app" / "main.py")


def open_page(conversation_id: str | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=30)
    if conversation_id:
        at.query_params["c"] = conversation_id
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def say(at: AppTest, text: str) -> AppTest:
    at.chat_input[0].set_value(text).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown]


def table(at: AppTest) -> list[dict[str, object]]:
    return at.dataframe[0].value.to_dict("records") if at.dataframe else []


def test_the_page_says_plainly_it_is_the_offline_assistant(page_env: str) -> None:
    at = open_page()
    assert any("Offline assistant" in info.value for info in at.info)
    assert any("What do you need to get done?" in text for text in texts(at))
    assert any("No open tasks" in caption.value for caption in at.caption)


def test_a_turn_adds_a_task_and_the_table_shows_it(page_env: str) -> None:
    at = say(open_page(), "add 'send Q3 report' for Friday, high priority #work")
    assert any("Added task 1: **send Q3 report**" in text for text in texts(at))
    [step] = at.status
    assert (step.label, step.state) == ("Added task 1: send Q3 report", "complete"), "the step is done, not spinning"
    [row] = table(at)
    assert (row["#"], row["Done"], row["Title"], row["Priority"], row["Tags"]) == (
        1,
        False,
        "send Q3 report",
        "high",
        "#work",
    ), "Done is the box to tick"
    assert at.query_params["c"], "the conversation id is in the URL"
    values = at._session_state.filtered_state  # what the script stored, and keyed widgets' own values
    # Besides the conversation id, only how the page is viewed: widgets' own state (a filter, a step opened, the
    # task table) and how many messages are drawn; no task or message.
    view = ("open-", "delete-", "task-", "step-", "shown-", "title-", "export-", "FormSubmitter:", "conversation-")
    stored = {key for key in values if not key.startswith(view)}
    assert stored == {"conversation_id"}, "session state holds only the conversation id"


def test_a_new_session_with_the_link_shows_the_history(page_env: str) -> None:
    first = say(say(open_page(), "add buy milk"), "what's open?")
    conversation_id = first.query_params["c"]
    again = open_page(conversation_id)
    shown = texts(again)
    assert "add buy milk" in shown and "what's open?" in shown
    assert any("Added task 1: **buy milk**" in text for text in shown)
    assert any("Open tasks (1)" in text for text in shown)
    assert [button.label for button in again.sidebar.button if button.proto.type == "primary"] == ["Buy milk"]


def test_another_users_conversation_is_not_found(page_env: str, connection: McpConnection) -> None:
    other = TodoClient(connection, acting_for=page_env + ".other")
    foreign = str(other.create_conversation().conversation_id)
    other.append_messages(foreign, [MessageIn(role="user", content="secret")])
    at = open_page(foreign)
    assert any("Conversation not found" in warning.value for warning in at.warning)
    assert "secret" not in texts(at)
    assert "c" not in at.query_params


def test_a_malformed_conversation_id_is_not_found(page_env: str) -> None:
    at = open_page("not-a-uuid")
    assert any("Conversation not found" in warning.value for warning in at.warning)


def test_new_conversation_and_delete_from_the_sidebar(page_env: str, todo: TodoClient) -> None:
    at = say(open_page(), "add water plants")
    next(button for button in at.sidebar.button if "New conversation" in button.label).click().run()
    assert "c" not in at.query_params
    assert any("What do you need to get done?" in text for text in texts(at))
    delete = next(button for button in at.sidebar.button if button.key and button.key.startswith("delete-"))
    delete.click().run()
    assert TodoClient(todo.connection, acting_for=page_env).list_conversations().total == 1, "it asks first"
    assert any(button.key == "confirm-delete" for button in at.button), "the confirmation is shown"
    # Confirming runs inside the dialog (a fragment, which AppTest does not rerun): tests/app/test_conversations.py.


def test_header_mode_without_the_header_refuses_with_a_clear_page(
    page_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTH_MODE", "header")
    get_settings.cache_clear()
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    assert any("Not signed in" in error.value and "X-Forwarded-Email" in error.value for error in at.error)
    assert not at.chat_input


PHRASINGS = [
    ("add pay rent due 2026-12-01 #home", "Added task 2: **pay rent**", {"Title": "pay rent", "Tags": "#home"}),
    ("remind me to call mom tomorrow", "Added task 2: **call mom**", {"Title": "call mom"}),
    ("add fix bug low priority", "Added task 2: **fix bug**", {"Priority": "low"}),
    ("what's open?", "Open tasks (1)", None),
    ("show done", "No done tasks", None),
    ("complete 1", "Completed task 1", {"#": 1, "Done": True}),
    ("done with the report", "Completed task 1", {"#": 1, "Done": True}),
    ("delete 1", "Deleted task 1", None),
    ("rename 1 to Send the Q4 report", "Renamed task 1", {"Title": "Send the Q4 report"}),
    ("make 1 low priority", "low", {"Priority": "low"}),
    ("move 1 to 2026-12-05", "2026-12-05", {"#": 1}),
    ("help", "I'm the offline assistant", None),
]


@pytest.mark.parametrize(("message", "reply", "row"), PHRASINGS, ids=[p[0] for p in PHRASINGS])
def test_offline_phrasings_through_the_page(
    page_env: str, todo: TodoClient, message: str, reply: str, row: dict[str, object] | None
) -> None:
    todo.add_task("send Q3 report", priority="high")
    at = say(open_page(), message)
    assert any(reply in text for text in texts(at)), texts(at)
    if row is not None:
        at.segmented_control[0].set_value("all").run()
        assert any(all(r.get(k) == v for k, v in row.items()) for r in table(at)), table(at)
