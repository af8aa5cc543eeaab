"""The architecture the folders show, pinned: the page and the tool server share only the contract, the contract
needs nothing but pydantic, and nothing for development (devtools/, tests/) reaches the product or the benchmarks'
imports of tests/."""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIRST_PARTY = {"app", "mcp_server", "contract", "devtools", "bench", "tests"}


def imported_packages(folder: str) -> dict[str, set[str]]:
    """Top-level packages each module under `folder` imports (first party and third party, not the stdlib)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names - set(sys.stdlib_module_names) - {"__future__"}
    return found


@pytest.mark.parametrize(
    ("folder", "allowed_first_party"),
    [
        ("contract", {"contract"}),
        ("app", {"app", "contract"}),
        ("mcp_server", {"mcp_server", "contract"}),
        ("devtools", {"devtools", "app", "mcp_server", "contract"}),
        ("bench", {"bench", "devtools", "app", "mcp_server", "contract"}),
    ],
)
def test_each_folder_imports_only_what_its_place_allows(folder: str, allowed_first_party: set[str]) -> None:
    reached = {
        module: sorted((names & FIRST_PARTY) - allowed_first_party)
        for module, names in imported_packages(folder).items()
    }
    assert not {module: names for module, names in reached.items() if names}


def test_the_contract_needs_nothing_but_pydantic() -> None:
    """The UI image carries it; it must not pull in the server's libraries (or anything else)."""
    third_party = set().union(*imported_packages("contract").values()) - FIRST_PARTY
    assert third_party <= {"pydantic"}
