"""Sizes the tools enforce, written once: the argument types (schemas.py), the tables' constraints (the server's
models.py) and the offline assistant (which cuts what it sends to fit) all read them from here."""

from typing import Final

TITLE_LENGTH: Final = 200  # a task's or a conversation's title, in characters
DESCRIPTION_LENGTH: Final = 2000
TAG_LENGTH: Final = 32
TAGS_PER_TASK: Final = 10
SEARCH_LENGTH: Final = 200
DATE_TEXT_LENGTH: Final = 40  # a date argument: "2026-12-01" or a phrase such as "the day after tomorrow"
USER_ID_LENGTH: Final = 320  # an e-mail address at most
IDEMPOTENCY_KEY_LENGTH: Final = 64
CALL_ID_LENGTH: Final = 128
TOKEN_NAME_LENGTH: Final = 100
TOKEN_DAYS_MAX: Final = 3650
TASK_NUMBER_MAX: Final = 2_147_483_647  # a Postgres integer
PAGE_SIZE_MAX: Final = 200  # list_tasks / list_conversations limit, get_conversation's

# Sizes chosen so that every append_messages the schema accepts fits the server's 16 MiB request limit, even at
# 4 bytes a character: a message's content and a tool call's JSON hold at most 32 000 characters each, and a batch
# at most what 100 messages of 32 000 characters hold, counting contents and tool calls together.
MESSAGE_LENGTH: Final = 32_000
MESSAGES_PER_BATCH: Final = 100
BATCH_LENGTH: Final = MESSAGES_PER_BATCH * MESSAGE_LENGTH
TOOL_CALLS_PER_MESSAGE: Final = 64
