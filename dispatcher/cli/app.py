"""The Typer application, the error boundary, and the commands that need no Redis."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from dispatcher.errors import DispatcherError
from dispatcher.settings import Settings, load_settings, masked

app = typer.Typer(
    name="dispatcher",
    help="Bulk dispatcher for WhatsApp interactive messages.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Inspect the effective configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def settings() -> Settings:
    return load_settings()


def print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")


@config_app.command("show")
def config_show(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Print the effective settings, secrets masked."""
    data = masked(settings())
    if as_json:
        print_json(data)
        return
    for key, value in data.items():
        out.print(f"{key} = {json.dumps(value)}")


@app.command("check")
def check(
    file: Annotated[Path, typer.Argument(help="a .json file (one message) or JSONL file")],
    as_json: Annotated[bool, typer.Option("--json", help="print the problems as JSON")] = False,
    region: Annotated[
        str | None, typer.Option(help="default region for national numbers, e.g. IN")
    ] = None,
) -> None:
    """Validate messages; every problem on its own line. Exit 1 when any message is invalid."""
    from dispatcher.checking import CheckReport, check_file

    report = CheckReport()
    problems = check_file(file, region or settings().default_region, report)
    if as_json:
        listed = [p.as_dict() for p in problems]
        print_json({"file": str(file), "checked": report.checked, "invalid": report.invalid,
                    "problems": listed})
    else:
        for problem in problems:
            out.print(f"{file}:{problem}", markup=False)
        verdict = "all valid" if report.ok else f"{report.invalid} invalid"
        err.print(f"checked {report.checked} message(s): {verdict}")
    raise typer.Exit(0 if report.ok else 1)


def main() -> None:
    """Console entry point: user errors print one line and exit non-zero, never a traceback."""
    from dispatcher.cli import campaign, monitor, rate, services  # noqa: F401  (registration)

    try:
        app()
    except DispatcherError as exc:
        err.print(f"error: {exc}", markup=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
