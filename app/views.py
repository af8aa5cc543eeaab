"""Small pieces of the page: how a tool step and a stored message are shown."""

from typing import Any

import streamlit as st

from app.offline.replies import error_for_people
from app.steps import ToolStep, steps_from_history
from contract.schemas import MessageOut
from contract.tools import ADD_TASK, COMPLETE_TASK, DELETE_TASK, LIST_TASKS, REOPEN_TASK, UPDATE_TASK

SHOWN = 20  # messages of a conversation drawn at first: a turn costs the same at 200 stored messages as at 2
EARLIER = 40  # more messages per "Show earlier"

VERBS = {
    ADD_TASK: "Added",
    COMPLETE_TASK: "Completed",
    REOPEN_TASK: "Reopened",
    UPDATE_TASK: "Updated",
    DELETE_TASK: "Deleted",
}


def step_label(name: str, arguments: dict[str, Any]) -> str:
    shown = ", ".join(f"{key}={value!r}" for key, value in arguments.items() if value not in (None, "", [], False))
    return f"{name}({shown[:80]}{'…' if len(shown) > 80 else ''})"


def step_summary(step: ToolStep) -> str:
    """What changed, in a few words: 'Added task 3: buy milk', 'Listed 4 of 4 tasks', or the error, worded for the
    person reading it (the tool's sentence says what to call; the person reads what to say)."""
    if step.error is not None:
        return f"{step.name} failed: {error_for_people(step.error)}"
    result = step.result or {}
    if step.name == LIST_TASKS:
        return f"Listed {len(result.get('tasks', []))} of {result.get('total', 0)} tasks"
    task = result.get("task", result)
    verb = VERBS.get(step.name, step.name)
    return f"{verb} task {task.get('id', '?')}: {task.get('title', '')}"


def show_step(step: ToolStep, box: Any = None) -> None:
    """A finished tool step, collapsed: what changed as its label, the call and its result inside. `box` is the
    status box drawn while the step ran (live turns); the history draws a new one."""
    if box is None:
        box = st.status(step_label(step.name, step.arguments), expanded=False)
    with box:
        st.caption(step_label(step.name, step.arguments))
        if step.note:
            st.caption(step.note)
        if step.result is not None:
            st.json(step.result, expanded=False)
    box.update(label=step_summary(step), state="error" if step.error else "complete", expanded=False)


def show_past_step(step: ToolStep, key: str) -> None:
    """A step of an earlier turn: its summary as the label of a closed expander, whose details (the call and its
    result) are drawn only while it is open. A history of many steps then costs the browser little to draw."""
    icon = ":material/error:" if step.error else ":material/check_circle:"
    box = st.expander(step_summary(step), icon=icon, key=key, on_change="rerun")
    if box.open:
        with box:
            st.caption(step_label(step.name, step.arguments))
            if step.note:
                st.caption(step.note)
            if step.result is not None:
                st.json(step.result, expanded=False)


def show_history(messages: list[MessageOut]) -> None:
    steps = steps_from_history(messages)
    bubble = None
    for message in messages:
        if message.role == "user":
            bubble = None
            with st.chat_message("user"):
                st.markdown(message.content)
            continue
        if message.role == "tool":
            continue
        if bubble is None:
            bubble = st.chat_message("assistant")
        with bubble:
            for call in message.tool_calls or []:
                if call.get("id") in steps:
                    show_past_step(steps[call["id"]], key=f"step-{message.created_at.timestamp()}-{call['id']}")
            if message.content:
                st.markdown(message.content)
