"""Conversation titles (contract/titles.py, shared by the page and the server): the short title made from a conversation's first user message, and a
title given to create_conversation or rename_conversation as it is stored. Pure functions, no server."""

import pytest

from contract.titles import CONVERSATION_TITLE_LENGTH, SHORT_TITLE_LENGTH, given_title, title_from

TITLES = [
    # The README's examples.
    ("add 'send Q3 report' for Friday, high priority", "Send Q3 report"),
    ("please remind me to call the dentist tomorrow, low priority, tag health", "Call the dentist"),
    ("what's open?", "What's open?"),
    ("done with the report", "Done with the report"),
    # Command words and politeness before the title.
    ("add milk to my list please", "Milk"),
    ("can you add call mom, high priority", "Call mom"),
    ("hi, can you add buy bread", "Buy bread"),
    ("ok add buy milk", "Buy milk"),
    ("create a task to renew passport next week", "Renew passport"),
    ("new task: water the plants in 3 days", "Water the plants"),
    ("I need to renew my passport before next friday.", "Renew my passport"),
    # Quotes around the title (straight, curly, guillemets); an apostrophe inside stays.
    ("«send invoice» tomorrow", "Send invoice"),
    ("add “pay rent” by end of month, tags home, bills", "Pay rent"),
    ("add 'don't forget the milk' tomorrow", "Don't forget the milk"),
    ("I can't find the 'report' file", "I can't find the 'report' file"),
    # Priority phrases.
    ("urgent: fix the login bug", "Fix the login bug"),
    ("fix the login bug !high", "Fix the login bug"),
    ("add buy milk, urgent", "Buy milk"),
    ("add call the bank due 12/15 with high priority", "Call the bank"),
    ("add pay rent on 2026-12-01 high priority", "Pay rent"),
    # Date phrases (contract.dates' forms, with or without a preposition).
    ("Buy milk tomorrow", "Buy milk"),
    ("book flights for friday", "Book flights"),
    ("meet Ann on sat", "Meet Ann"),
    ("tomorrow: call mom", "Call mom"),
    ("push the flights to Friday", "Push the flights"),
    ("plan the trip for next month, tag travel, high priority please", "Plan the trip"),
    # Tags.
    ("add buy eggs #groceries by Dec 15", "Buy eggs"),
    ("remind me to water the plants, tagged home and garden", "Water the plants"),
    # A date phrase that is part of the title stays.
    ("enjoy the weekend", "Enjoy the weekend"),
    ("watch the sun", "Watch the sun"),
    ("water plants every sunday", "Water plants every sunday"),
    ("delete the last one", "Delete the last one"),
    ("Müller anrufen morgen", "Müller anrufen morgen"),
    # Nothing left: the message itself.
    ("tomorrow", "Tomorrow"),
    ("add", "Add"),
    ("hello", "Hello"),
    ("thanks", "Thanks"),
    ("high priority", "High priority"),
    ("!!!", "!!!"),
    ("#work", "#work"),
    # White space.
    ("  add   milk \n\t tomorrow  ", "Milk"),
    ("", ""),
    ("   ", ""),
]


@pytest.mark.parametrize(("message", "title"), TITLES, ids=[message or "<empty>" for message, _ in TITLES])
def test_a_title_from_the_first_message(message: str, title: str) -> None:
    assert title_from(message) == title


@pytest.mark.parametrize(
    ("message", "title"),
    [
        ("please add " + "word " * 30, "Word word word word word word word word word…"),
        (
            "add call the plumber about the leaking kitchen tap and the boiler, tag home",
            "Call the plumber about the leaking kitchen tap…",
        ),
        ("x" * 100, "X" + "x" * 46 + "…"),  # no word boundary: cut inside the word
    ],
)
def test_a_long_title_is_cut_at_a_word(message: str, title: str) -> None:
    assert title_from(message) == title and len(title) <= SHORT_TITLE_LENGTH


def test_only_the_start_of_a_long_message_is_read_in_whole_words() -> None:
    assert (
        title_from("call the bank " + "and more " * 4000 + "tomorrow")
        == "Call the bank and more and more and more and…"
    )
    assert title_from("please " * 60) == "Please please please please please please…", "no cut 'pl' is left"


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("  Plans  for\tQ3 ", "Plans for Q3"),
        ("add milk tomorrow", "add milk tomorrow"),  # a given title is the caller's: no rules applied
        ("x" * CONVERSATION_TITLE_LENGTH, "x" * CONVERSATION_TITLE_LENGTH),
        ("x" * (CONVERSATION_TITLE_LENGTH + 1), "x" * (CONVERSATION_TITLE_LENGTH - 1) + "…"),
    ],
)
def test_a_given_title_is_kept_on_one_line_and_cut(given: str, stored: str) -> None:
    assert given_title(given) == stored
