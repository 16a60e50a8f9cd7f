"""The import direction is checked, not hoped for: the domain imports no adapter."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

DOMAIN = Path(__file__).resolve().parents[1] / "src" / "charter" / "domain"
FORBIDDEN = (
    "charter.store",
    "charter.bus",
    "charter.api",
    "charter.sim",
    "charter.gate",
    "charter.registry",
    "charter.ledger",
    "charter.cli",
    "sqlalchemy",
    "fastapi",
    "starlette",
    "httpx",
    "uvicorn",
    "sqlite3",
)


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", sorted(DOMAIN.glob("*.py")), ids=lambda p: p.name)
def test_domain_module_imports_no_adapter(module: Path) -> None:
    bad = sorted(n for n in imports_of(module) if n.startswith(FORBIDDEN))
    assert not bad, f"{module.name} imports {bad}"


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text("from charter.store.sqlite import SqliteStore\nimport fastapi\n")
    assert {"charter.store.sqlite", "fastapi"} <= imports_of(sample)
