"""`charter … --help` shows every word its options' help says: Typer reads help as rich
markup, where a bracketed note such as "[default: 127.0.0.1]" or "charter[sim]" is taken
for a style tag and silently dropped, unless written "\\[…"."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from charter.cli import app as cli_app


def _bracketed() -> Iterator[tuple[list[str], str]]:
    """(command path, a help text with brackets) for every command, group and option."""

    def walk(cmd: Any, path: list[str]) -> Iterator[tuple[list[str], str]]:
        texts = [cmd.help or ""] + [getattr(p, "help", None) or "" for p in cmd.params]
        for text in texts:
            if "[" in text:
                yield path, text
        for name, child in (getattr(cmd, "commands", None) or {}).items():
            if "[" in (child.help or "") and hasattr(child, "commands"):
                yield path, child.help  # a group's help shows in its parent's listing
            yield from walk(child, [*path, name])

    yield from walk(typer.main.get_command(cli_app), [])


CASES = list(_bracketed())


def _flat(text: str) -> str:
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


@pytest.mark.parametrize(("path", "text"), CASES, ids=[" ".join(p) or "charter" for p, _ in CASES])
def test_help_shows_bracketed_notes(path: list[str], text: str) -> None:
    result = CliRunner().invoke(cli_app, [*path, "--help"], env={"COLUMNS": "240"})
    assert result.exit_code == 0, result.output
    shown = _flat(result.output)
    for note in re.findall(r"\\?\[[^\]]*\]", text):
        assert _flat(note.lstrip("\\")) in shown, f"{note!r} is missing from the help"


def test_there_are_bracketed_notes_to_check() -> None:
    assert len(CASES) >= 5  # the defaults written into help texts
