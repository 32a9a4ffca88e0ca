"""The CLI documents itself: every command has help that ends with an example and is named in the README."""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from qa_service.cli import build_parser

README = Path(__file__).resolve().parent.parent / "README.md"


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices)


def test_there_are_commands_to_check():
    assert {"parse", "build", "ask", "serve", "eval"} <= set(_commands())


@pytest.mark.parametrize("name", sorted(_commands()))
def test_every_command_has_help_ending_with_an_example(name):
    command = _commands()[name]
    text = command.format_help()
    assert command.description and len(command.description) > 20
    example = text.rstrip().splitlines()
    assert "Example:" in text and example[-1].strip().startswith(f"qa-service {name}")


@pytest.mark.parametrize("name", sorted(_commands()))
def test_every_command_is_documented_in_the_readme(name):
    assert f"qa-service {name}" in README.read_text(encoding="utf-8")
