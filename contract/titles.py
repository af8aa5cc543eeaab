"""Conversation titles: a title given to create_conversation or rename_conversation as it is stored, and the short
title a conversation gets from its first user message ("add 'send Q3 report' for Friday, high priority" is titled
"Send Q3 report"). Shared: the page titles the conversation it starts for a first message with it (so the sidebar
lists the short title while the first turn runs), and the server titles any untitled conversation the same way at
its first user message. Pure functions; the date phrases are contract.dates' forms.
"""

import re
from typing import Final

from contract.dates import DATE_PATTERNS, FULL_WEEKDAYS, WEEKDAYS

CONVERSATION_TITLE_LENGTH: Final = 80  # a given title: one line, cut with "…"
SHORT_TITLE_LENGTH: Final = 48  # a title made from a message, "…" included
_READ: Final = 400  # a title comes from the start of a message: the rest is never looked at


def one_line(text: str) -> str:
    return " ".join(text.split())


def given_title(text: str) -> str:
    """A title as the caller gave it, on one line, at most CONVERSATION_TITLE_LENGTH characters ('…' when cut)."""
    line = one_line(text)
    if len(line) <= CONVERSATION_TITLE_LENGTH:
        return line
    return line[: CONVERSATION_TITLE_LENGTH - 1].rstrip() + "…"


def cut_at_word(text: str, length: int = SHORT_TITLE_LENGTH) -> str:
    """At most `length` characters: cut at the last word boundary that keeps at least half, with '…'."""
    if len(text) <= length:
        return text
    head = text[: length - 1]
    space = head.rfind(" ")
    if space >= length // 2:
        head = head[:space]
    return head.rstrip(" ,;:-–—") + "…"


# The sentence around a title: politeness and command words before it ("please remind me to", "can you add",
# "create a task to", "new task:"), each repeatable ("hi, can you add ...").
_LEADING: Final = re.compile(
    r"^(?:"
    r"(?:please|pls|plz|kindly|ok(?:ay)?|hey|hi|hello)\b"
    r"|(?:can|could|would|will)\s+(?:you|u)\b"
    r"|i\s+(?:want|need|have|would\s+like)\s+to\b|i'd\s+like\s+to\b"
    r"|let'?s\b"
    r"|(?:don'?t\s+forget|remember)\s+to\b"
    r"|remind\s+me\s+(?:to|about|of)\b"
    r"|(?:add|create|make|set|put)\s+(?:(?:a|an|the|new|another)\s+)*"
    r"(?:task|todo|to-do|item|reminder|entry)\b(?:\s+(?:to|for|that|about|called|named|titled)\b)?"
    r"|(?:new\s+)?(?:task|todo|to-do|reminder)\s*:"
    r"|(?:add|create)\b"
    r")[\s,:;.!-]*",
    re.IGNORECASE,
)
_QUOTE_PAIRS: Final = str.maketrans(
    {"‘": "'", "’": "'", "‚": "'", "‛": "'", "“": '"', "”": '"', "„": '"', "‟": '"', "«": '"', "»": '"'}
)
_QUOTED: Final = re.compile(r"""(?P<q>['"`])(?P<title>.*?\S.*?)(?P=q)(?!\w)""")  # 'don't forget': one title

# What follows a title: where it goes, priorities, tags, dates, politeness. Each is taken off the end, one at a time.
_DATE: Final = "|".join("(?:" + re.sub(r"\(\?P<\w+>", "(?:", pattern.pattern) + ")" for pattern in DATE_PATTERNS)
_DATE_PREP: Final = r"(?:due(?:\s+(?:on|by))?|by|on|for|before|until|till|at|to|from|after)"
_TRAILING_DATE: Final = re.compile(
    rf"(?:^|(?<=[\s,;(]))(?:(?P<prep>{_DATE_PREP})\s*:?\s+)?(?P<date>{_DATE})$", re.IGNORECASE
)
_LEADING_DATE: Final = re.compile(rf"^(?:{_DATE_PREP}\s+)?(?:{_DATE})\s*[,:;–—-]\s*", re.IGNORECASE)
_LEVEL: Final = r"(?:high|highest|top|low|lowest|medium|med|normal)"
_TRAILING_PRIORITY: Final = re.compile(
    rf"(?:^|(?<=[\s,;(-]))(?:(?:with|at|as)\s+)?(?:(?:a|an)\s+)?{_LEVEL}[\s-]+(?:priority|prio)$"
    rf"|(?:^|(?<=[\s,;(]))(?:priority|prio)\s*(?:[:=]|is)?\s*{_LEVEL}$"
    r"|(?:^|(?<=[\s,;(]))!(?:high|hi|low|lo|medium|med|urgent)$"
    r"|(?:^|(?<=[,;]))\s*(?:urgent|important|asap|critical|not\s+(?:urgent|important))$",
    re.IGNORECASE,
)
_LEADING_PRIORITY: Final = re.compile(
    rf"^(?:urgent|important|asap|critical|{_LEVEL}[\s-]+(?:priority|prio))\s*[,:;–—-]\s*", re.IGNORECASE
)
_TAG_NAME: Final = r"#?[^\W\d_](?:[\w-]*\w)?"
_TRAILING_TAGS: Final = re.compile(
    rf"(?:[,;]\s*(?:tagged|tags?|label(?:l?ed)?)|(?<=\s)(?:tagged|label(?:l?)ed))\s+(?:(?:as|with)\s+)?"
    rf"{_TAG_NAME}(?:\s*(?:,|\band\b)\s*{_TAG_NAME})*$",
    re.IGNORECASE,
)
_HASHTAG: Final = re.compile(r"(?<![\w&#/])#[^\W\d_](?:[\w-]*\w)?")
_TRAILING_LIST: Final = re.compile(
    r"\s+(?:to|on|in|onto)\s+(?:my|the|our)\s+(?:(?:todo|to-do|task)\s+)?(?:list|tasks|todos)$", re.IGNORECASE
)
_TRAILING_POLITENESS: Final = re.compile(r"(?:^|(?<=[\s,]))(?:please|pls|plz|thanks|thank\s+you|thx)$", re.IGNORECASE)
_TRAILING_PUNCTUATION: Final = " ,;:.!-–—"
# A date phrase after one of these is part of the title ("enjoy the weekend", "watch the sun"), not its due date.
_BEFORE_A_NOUN: Final = frozenset(
    ("the", "a", "an", "my", "your", "our", "his", "her", "their", "this", "that", "of", "every", "each", "last")
)


def _without_trailing_date(text: str) -> str | None:
    match = _TRAILING_DATE.search(text)
    if match is None:
        return None
    before = text[: match.start()].rstrip(" ,;(")
    previous = before.rsplit(" ", 1)[-1].lower() if before else ""
    date = match["date"].lower()
    # "enjoy the weekend", "watch the sun": words of the title; "sun", "sat", "wed" are days only after "on", "by"...
    if not match["prep"] and (previous in _BEFORE_A_NOUN or (date in WEEKDAYS and date not in FULL_WEEKDAYS)):
        return None
    return before


def _strip_trailing(text: str) -> str:
    """Take modifiers off the end, one at a time, until none is left; the text unchanged if there was none."""
    while True:
        core = text.rstrip(_TRAILING_PUNCTUATION)
        for pattern in (_TRAILING_TAGS, _TRAILING_PRIORITY, _TRAILING_LIST, _TRAILING_POLITENESS):
            if match := pattern.search(core):
                shorter: str | None = core[: match.start()]
                break
        else:
            shorter = _without_trailing_date(core)
        if shorter is None or shorter == text:
            return text
        text = shorter.rstrip()


def _strip_leading(text: str) -> str:
    while True:
        shorter = text
        for pattern in (_LEADING, _LEADING_PRIORITY, _LEADING_DATE):
            shorter = pattern.sub("", shorter, count=1)
        if shorter == text:
            return text
        text = shorter


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def title_from(message: str) -> str:
    """A short title for a conversation from its first user message: the task or question it is about, without the
    command words and politeness around it ("please remind me to", "can you add", "create a task to"), without
    quotes, and without the priority, date and tag phrases after it (", high priority", "for Friday", "tomorrow",
    "by Dec 15", "next week", ", tag health", "#work"); first letter capitalised; at most SHORT_TITLE_LENGTH
    characters, cut at a word with '…'. When nothing is left, the message itself (cut the same way). '' for ''."""
    head = message[:_READ]
    if len(message) > _READ and len(words := head.rsplit(None, 1)) == 2:
        head = words[0]  # whole words only: a cut "fri" or "pl" is no date or politeness
    original = one_line(head.translate(_QUOTE_PAIRS))
    text = _strip_leading(original)
    quoted = _QUOTED.match(text)
    if quoted is not None:  # "add 'send Q3 report' for Friday": the quoted words are the title
        text = quoted["title"]
    else:
        text = _HASHTAG.sub(" ", text)
        text = one_line(_strip_trailing(text))
        if (unquoted := _QUOTED.fullmatch(text)) is not None:
            text = unquoted["title"]
    text = one_line(text).strip(" ,;:-–—")
    if text.endswith(".") and not text.endswith(".."):
        text = text[:-1].rstrip()
    if not any(char.isalnum() for char in text):
        text = original
    return cut_at_word(_capitalised(text))
