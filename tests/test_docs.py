"""The docs against the code: every setting, command, option and route they name exists, and
every setting, command and route is documented. Fails on drift either way."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer.main

from dispatcher.api import create_app
from dispatcher.settings import SenderSettings, Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# The pages this test owns; docs/reliability.md is written and checked elsewhere.
PAGES = [ROOT / "README.md", *(DOCS / name for name in (
    "settings.md", "cli.md", "http-api.md", "deployment.md", "operations.md", "security.md"))]
NOT_SETTINGS = {"DISPATCHER_CONFIG", "DISPATCHER_TEST_REDIS_URL"}


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _cli() -> Any:
    """The click group behind the Typer app (Typer ships its own click: duck-typed here)."""
    from dispatcher.cli import campaign, monitor, rate, services  # noqa: F401  (registration)
    from dispatcher.cli.app import app

    return typer.main.get_command(app)


def _is_group(command: Any) -> bool:
    return isinstance(getattr(command, "commands", None), dict)


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    found: dict[tuple[str, ...], Any] = {}
    for name, command in group.commands.items():
        if _is_group(command):
            found.update(_commands(command, (*prefix, name)))
        else:
            found[(*prefix, name)] = command
    return found


def test_every_setting_is_documented() -> None:
    text = _text(DOCS / "settings.md")
    missing = [f"DISPATCHER_{name.upper()}" for name in Settings.model_fields
               if f"`DISPATCHER_{name.upper()}`" not in text]
    assert not missing, f"docs/settings.md does not document {missing}"
    sender_keys = [name for name in SenderSettings.model_fields if f"| `{name}` |" not in text]
    assert not sender_keys, f"docs/settings.md: [[senders]] keys missing: {sender_keys}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_named_settings_exist(page: Path) -> None:
    fields = {f"DISPATCHER_{name.upper()}" for name in Settings.model_fields}
    named = set(re.findall(r"DISPATCHER_[A-Z][A-Z0-9_]*[A-Z0-9]", _text(page)))
    unknown = sorted(named - fields - NOT_SETTINGS)
    assert not unknown, f"{page.name} names settings that don't exist: {unknown}"


def test_every_command_is_documented() -> None:
    cli_page, readme = _text(DOCS / "cli.md"), _text(ROOT / "README.md")
    for path in _commands(_cli()):
        words = " ".join(path)
        assert f"dispatcher {words}" in cli_page or (
            len(path) == 2 and f"dispatcher {path[0]} " in cli_page
            and path[1] in cli_page), f"docs/cli.md does not document `dispatcher {words}`"
        assert f"dispatcher {path[0]}" in readme or f"`{path[-1]}" in readme, (
            f"README's command table misses `dispatcher {words}`")


def _command_lines(text: str) -> list[str]:
    """`dispatcher ...` in inline code and at the start of code-block lines."""
    text = text.replace("\\|", "|")  # `a\|b` inside Markdown tables
    spans = re.findall(r"`(dispatcher [^`]+)`", text)
    lines, in_code = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif in_code and line.strip().startswith("dispatcher "):
            lines.append(line.strip().split("  #")[0])
    return spans + lines


def _resolve(group: Any, words: list[str]) -> tuple[list[Any], list[str]]:
    """The commands the words name (``a|b`` names several) and the words left over."""
    current: list[Any] = [group]
    rest = list(words)
    while rest and all(_is_group(c) for c in current):
        names = rest[0].strip("[]").split("|")
        if not all(re.fullmatch(r"[a-z][a-z-]*", n) for n in names):
            break
        rest.pop(0)
        nxt = []
        for command in current:
            for name in names:
                assert name in command.commands, f"no command {name!r}"
                nxt.append(command.commands[name])
        current = nxt
    return current, rest


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_named_commands_and_options_exist(page: Path) -> None:
    group = _cli()
    checked = 0
    for line in _command_lines(_text(page)):
        words = line.split()[1:]
        if not words or not re.match(r"[a-z]", words[0]):
            continue  # `dispatcher COMMAND --help`
        try:
            commands, rest = _resolve(group, words)
        except AssertionError as exc:
            raise AssertionError(f"{page.name}: `{line}`: {exc}") from None
        for token in rest:
            for option in re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", token):
                for command in commands:
                    known = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
                    assert option in known | {"--help"}, (
                        f"{page.name}: `{line}`: `dispatcher {command.name}` has no {option}")
        checked += 1
    assert checked or page.name not in ("cli.md", "README.md")


def _doc_paths(text: str) -> set[str]:
    paths = re.findall(r"(?:GET|POST|GET\|POST) (/[A-Za-z0-9_/{}.|-]*)", text)
    return {re.sub(r"\{[^}]*\}", "{}", p) for p in paths}


def test_every_route_is_documented_and_every_documented_route_exists() -> None:
    app = create_app(load_settings(api_token="docs-test"))
    routes: set[str] = set()
    pending = list(app.routes)
    while pending:  # FastAPI keeps included routers as one entry each
        route = pending.pop()
        if hasattr(route, "original_router"):
            pending.extend(route.original_router.routes)
            continue
        path = getattr(route, "path", "")
        if path and not path.startswith("/static"):
            routes.add(re.sub(r"\{[^}]*\}", "{}", path))
    assert "/v1/campaigns/{}" in routes
    documented = _doc_paths(_text(DOCS / "http-api.md"))
    text = re.sub(r"\{[^}]*\}", "{}", _text(DOCS / "http-api.md"))
    missing = sorted(r for r in routes if f"`{r}" not in text and f" {r}`" not in text
                     and f"{r}?" not in text and f"{r}`" not in text)
    assert not missing, f"docs/http-api.md does not document {missing}"
    unknown = sorted(p for p in documented if p not in routes)
    assert not unknown, f"docs/http-api.md names routes that don't exist: {unknown}"
