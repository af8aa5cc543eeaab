"""The contract's names are the server's: every constant in contract/tools.py is a tool the server declares, with
the meta keys where the contract says they go, and the limits the schemas publish are the contract's."""

import pytest

from contract import limits, tools
from tests.support import mcp_client

pytestmark = pytest.mark.anyio


async def test_the_server_declares_exactly_the_contracts_tools_with_their_meta_keys(mcp_url: str, user_id: str) -> None:
    async with mcp_client(mcp_url, user=user_id) as client:
        declared = {tool.name: tool.meta or {} for tool in (await client.list_tools()).tools}
    assert sorted(declared) == sorted(tools.ALL_TOOLS)
    assert len(set(tools.ALL_TOOLS)) == len(tools.ALL_TOOLS), "one name per tool"
    offered = {name for name, meta in declared.items() if meta.get(tools.FOR_MODEL_META)}
    assert offered == set(tools.TASK_TOOLS), "the model is offered the task tools, and only them"
    service_only = {name for name, meta in declared.items() if meta.get(tools.SIGNED_IN_ONLY_META)}
    assert service_only == set(tools.TOKEN_TOOLS)


async def test_the_published_schemas_carry_the_contracts_limits(mcp_url: str, user_id: str) -> None:
    async with mcp_client(mcp_url, user=user_id) as client:
        schemas = {tool.name: tool.input_schema for tool in (await client.list_tools()).tools}
    add = schemas[tools.ADD_TASK]["properties"]
    assert add["title"]["maxLength"] == limits.TITLE_LENGTH
    assert add["description"]["maxLength"] == limits.DESCRIPTION_LENGTH
    assert add["tags"]["maxItems"] == limits.TAGS_PER_TASK
    assert add["tags"]["items"]["maxLength"] == limits.TAG_LENGTH
    assert schemas[tools.LIST_TASKS]["properties"]["limit"]["maximum"] == limits.PAGE_SIZE_MAX
