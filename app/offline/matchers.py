"""The "add" and "list" matchers: each takes the cleaned message and returns an intent, or None
to let the next matcher try."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Final

from app.offline.dates import extract_date
from app.offline.intents import AddTask, Intent, ListTasks, Unknown
from app.offline.text import MAX_TAG_CHARS, MAX_TAGS, cut_to_title_length, remove_span, tidy_title
from app.offline.vocabulary import (
    DATE_EXPR_PLAIN,
    PRIORITY_AT_END,
    PRIORITY_AT_START,
    PRIORITY_INLINE,
    PRIORITY_WORDS,
    TAG,
    TAG_NAME,
    TAG_PHRASE,
    full_match,
    priority_from_phrase,
)
from contract.dates import next_monday, resolve_date
from contract.schemas import Priority, Status

_NO_TITLE_HINT: Final = "What should the task be called? For example: “add buy milk tomorrow”."


def _extract_priority(text: str) -> tuple[Priority | None, str]:
    """Find a priority phrase in an "add" message; return it and the text without it."""
    matches = list(PRIORITY_INLINE.finditer(text))
    if matches:
        last = matches[-1]
        return priority_from_phrase(last["a"] or last["b"] or last["c"]), remove_span(text, last)
    stripped = text.strip()
    if m := PRIORITY_AT_START.match(stripped):
        return priority_from_phrase(m["w"]), stripped[m.end() :]
    if m := PRIORITY_AT_END.search(stripped):
        return priority_from_phrase(m["not"] or m["w"]), stripped[: m.start()]
    return None, text


def _extract_tags(text: str) -> tuple[tuple[str, ...], str]:
    """ "#work" anywhere, and "tag health" / "tagged work and home" after the title."""
    tags: list[str] = []
    found = [match["tag"] for match in TAG.finditer(text)]
    rest = TAG.sub(" ", text)
    for phrase in list(TAG_PHRASE.finditer(rest))[::-1]:
        found += [name.lstrip("#") for name in TAG_NAME.findall(phrase["tags"]) if name.lower() != "and"]
        rest = remove_span(rest, phrase)
    for name in found:
        tag = name.lower()[:MAX_TAG_CHARS]
        if tag not in tags and len(tags) < MAX_TAGS:
            tags.append(tag)
    return tuple(tags), rest


_ADD_PREFIX: Final = full_match(
    r"^(?:"
    r"(?:add|put)\s+(?:this\s+)?(?:to|on)\s+(?:my|the)\s+(?:(?:todo|to-do|task)\s+)?list\b\s*:?"
    r"|(?:add|create)\b\s*:?\s*(?:(?:a|an|new|another)\s+)?"
    r"(?:(?:task|todo|to-do|item|reminder)s?\b\s*(?::|-|\bto\b|\bcalled\b|\bnamed\b)?)?"
    r"|new\s+(?:task|todo|to-do|item|reminder)s?\b\s*:?"
    r"|new\s*:"
    r"|(?:todo|to-do|to\s+do|task|reminder)\s*:"
    r"|remind\s+me\s+(?:to\b|that\b|about\b)?"
    r"|(?:i\s+)?(?:need|have)\s+to\b"
    r"|don'?t\s+(?:let\s+me\s+)?forget\s+(?:to\b|about\b)?"
    r")\s*"
)
_QUOTED_AT_START: Final = re.compile(r"^([\"'`])(?P<inner>(?:(?!\1).)+)\1(?=$|[\s,.;:!?)])")


def match_add(text: str, today: date) -> Intent | None:
    prefix = _ADD_PREFIX.match(text)
    if prefix is None:
        return None
    body = text[prefix.end() :]
    quoted = _QUOTED_AT_START.match(body)
    rest = body[quoted.end() :] if quoted else body
    tags, rest = _extract_tags(rest)
    priority, rest = _extract_priority(rest)
    due_date, rest = extract_date(rest, today)
    if priority is None:
        priority, rest = _extract_priority(rest)
    title = tidy_title(quoted["inner"] if quoted else rest)
    if prefix[0].lower().startswith("remind") and title.lower().startswith("to "):
        title = title[3:].lstrip()  # "remind me tomorrow to call mom"
    if not title:
        return Unknown(text, hint=_NO_TITLE_HINT)
    cut = cut_to_title_length(title)
    return AddTask(
        title=cut,
        priority=priority or "medium",
        due_date=due_date,
        tags=tags,
        cut_from=len(title) if cut != title else None,
    )


_LIST_VERBS: Final = frozenset(("list", "ls", "show", "display", "view", "find", "search"))
_QUESTION_WORDS: Final = frozenset(("what", "what's", "whats", "which"))
_DONE_WORDS: Final = frozenset(
    ("done", "completed", "complete", "finished", "finish", "closed", "checked", "did", "resolved")
)
_OPEN_WORDS: Final = frozenset(
    ("open", "pending", "remaining", "left", "outstanding", "incomplete", "unfinished", "active", "current")
)
_ALL_WORDS: Final = frozenset(("all", "everything", "every"))
_OVERDUE_WORDS: Final = frozenset(("overdue", "late", "past-due", "pastdue"))
_TAG_WORDS: Final = frozenset(("tagged", "tag", "labeled", "labelled", "label"))
_LIST_NOUNS: Final = frozenset(("tasks", "task", "todos", "todo", "to-do", "to-dos", "items", "list"))
_LIST_FILLER: Final = frozenset(
    (
        "my", "me", "the", "a", "an", "is", "are", "what", "what's", "whats", "which", "do", "does", "i",
        "i'm", "have", "has", "to", "of", "that", "with", "please", "currently", "now", "on", "there",
        "anything", "any", "stuff", "things", "thing", "for", "still", "yet", "got", "need", "you", "can",
        "could", "in", "right", "so", "far", "again", "here", "priority", "prio", "about", "matching",
        "containing", "called", "named", "due",
    )
)  # fmt: skip


_LIST_DUE_WINDOW: Final = re.compile(
    rf"(?<![\w#/.'-])(?:due\s+)?(?:(?P<op>by|before|until|till|on|for)\s+)?"
    rf"(?P<expr>(?:this|the)\s+week|{DATE_EXPR_PLAIN})(?![\w/'-])",
    re.IGNORECASE,
)


def _due_window(text: str, today: date) -> tuple[date | None, str]:
    """Find "due today", "this week", "by friday"... in a list request: (exclusive bound, rest of text)."""
    for match in _LIST_DUE_WINDOW.finditer(text):
        expr = " ".join(match["expr"].lower().split())
        if expr in ("this week", "the week"):
            return next_monday(today), remove_span(text, match)
        day = resolve_date(expr, today)
        if day is None:
            continue
        if expr == "next week":
            return day + timedelta(days=7), remove_span(text, match)
        try:
            bound = day if (match["op"] or "").lower() == "before" else day + timedelta(days=1)
        except OverflowError:
            continue
        return bound, remove_span(text, match)
    return None, text


def match_list(text: str, today: date) -> Intent | None:
    due_before, text = _due_window(text, today)
    tokens = re.findall(r"#?[^\W_][\w'-]*", text.lower())
    if not tokens and due_before is None:
        return None
    explicit = bool(tokens) and tokens[0] in _LIST_VERBS
    question = bool(tokens) and tokens[0] in _QUESTION_WORDS
    status: Status | None = None
    everything = overdue = noun = False
    priority: Priority | None = None
    tag: str | None = None
    search: list[str] = []
    index = 1 if explicit or question else 0
    while index < len(tokens):
        token = tokens[index]
        if token.startswith("#"):
            tag = token[1:][:MAX_TAG_CHARS]
        elif token in _TAG_WORDS and index + 1 < len(tokens):
            index += 1
            tag = tokens[index].lstrip("#")[:MAX_TAG_CHARS]
        elif token in _DONE_WORDS:
            status = "done"
        elif token in _OPEN_WORDS:
            status = "open"
        elif token in _ALL_WORDS:
            everything = True
        elif token in _OVERDUE_WORDS:
            overdue = True
        elif token in PRIORITY_WORDS:
            priority = PRIORITY_WORDS[token]
        elif token in _LIST_NOUNS:
            noun = True
        elif token not in _LIST_FILLER:
            search.append(token)
        index += 1
    if search and not explicit:
        return None
    if not (explicit or question or noun or overdue or (due_before is not None and not tokens)):
        return None
    if overdue:
        status = "open"
    elif status is None:
        status = "all" if everything else "open"
    return ListTasks(
        status=status,
        priority=priority,
        tag=tag or None,
        overdue=overdue,
        search=cut_to_title_length(" ".join(search)) or None,
        due_before=due_before,
    )
