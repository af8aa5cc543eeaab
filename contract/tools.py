"""Tool names and the `_meta` keys the server marks tools with: what a client may name, written once.

The server registers each tool under its constant here; the page, the offline assistant, the notebook client and
the benchmarks call tools by these constants, never by a literal.
"""

from typing import Final

# Tasks: offered to the language model.
ADD_TASK: Final = "add_task"
LIST_TASKS: Final = "list_tasks"
COMPLETE_TASK: Final = "complete_task"
REOPEN_TASK: Final = "reopen_task"
UPDATE_TASK: Final = "update_task"
DELETE_TASK: Final = "delete_task"
TASK_TOOLS: Final = (ADD_TASK, LIST_TASKS, COMPLETE_TASK, REOPEN_TASK, UPDATE_TASK, DELETE_TASK)

# Conversations: the page's bookkeeping, never the model's.
CREATE_CONVERSATION: Final = "create_conversation"
LIST_CONVERSATIONS: Final = "list_conversations"
GET_CONVERSATION: Final = "get_conversation"
APPEND_MESSAGES: Final = "append_messages"
RENAME_CONVERSATION: Final = "rename_conversation"
SEARCH_CONVERSATIONS: Final = "search_conversations"
DELETE_CONVERSATION: Final = "delete_conversation"
CONVERSATION_TOOLS: Final = (
    CREATE_CONVERSATION,
    LIST_CONVERSATIONS,
    SEARCH_CONVERSATIONS,
    GET_CONVERSATION,
    APPEND_MESSAGES,
    RENAME_CONVERSATION,
    DELETE_CONVERSATION,
)

# Personal access tokens: a signed-in person calls these, never a personal token.
CREATE_ACCESS_TOKEN: Final = "create_access_token"
LIST_ACCESS_TOKENS: Final = "list_access_tokens"
REVOKE_ACCESS_TOKEN: Final = "revoke_access_token"
TOKEN_TOOLS: Final = (CREATE_ACCESS_TOKEN, LIST_ACCESS_TOKENS, REVOKE_ACCESS_TOKEN)

ALL_TOOLS: Final = TASK_TOOLS + CONVERSATION_TOOLS + TOKEN_TOOLS

# A tool whose _meta holds FOR_MODEL_META: true is one a chat agent offers its model; the agent reads it from
# tools/list, so the server's registration is the one place that decides.
FOR_MODEL_META: Final = "todo-chatbot/offer-to-model"
# A tool whose _meta holds SIGNED_IN_ONLY_META: true answers only a person signed in (the page's service credential
# acting for its user, or the user's access token from the OpenID provider), and tools/list shows it to no one else:
# a personal token, leaked or not, cannot mint or revoke tokens.
SIGNED_IN_ONLY_META: Final = "todo-chatbot/signed-in-only"

# Request headers beside the credential (Authorization): written once for the client and the server.
USER_HEADER: Final = "X-Todo-User"  # the user the page's service token acts for
TIMEZONE_HEADER: Final = "X-Todo-Timezone"  # the caller's IANA time zone, which date phrases count from
