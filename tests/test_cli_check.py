"""`dispatcher check`: every problem on its own line with line number and field path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from dispatcher.testing import BUTTON_EXAMPLE, recipient

EXAMPLES = Path(__file__).resolve().parent.parent / "config" / "examples"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dispatcher", "check", *args],
                          capture_output=True, text=True, check=False, timeout=60)


def test_valid_single_message_file(tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_text(json.dumps(BUTTON_EXAMPLE))
    done = run(str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "checked 1 message(s): all valid" in done.stderr


def test_jsonl_with_problems_lists_each_with_line_and_path(tmp_path: Path) -> None:
    long_title = json.loads(json.dumps(BUTTON_EXAMPLE))
    long_title["interactive"]["action"]["buttons"][1]["reply"]["title"] = "x" * 21
    lines = [json.dumps(BUTTON_EXAMPLE), json.dumps(long_title), "{not json", "",
             json.dumps(dict(BUTTON_EXAMPLE, to="12"))]
    path = tmp_path / "many.jsonl"
    path.write_bytes(("\n".join(lines) + "\n").encode() + b"\xff\xfe\n")
    done = run(str(path))
    assert done.returncode == 1
    out = done.stdout.splitlines()
    assert f"{path}:line 2: interactive.action.buttons[1].reply.title: " in out[0]
    assert out[1].startswith(f"{path}:line 3: not valid JSON")
    assert out[2].startswith(f"{path}:line 5: to: ")
    assert out[3].startswith(f"{path}:line 6: not UTF-8")
    assert "Traceback" not in done.stderr
    as_json = json.loads(run(str(path), "--json").stdout)
    assert as_json["checked"] == 5 and as_json["invalid"] == 4
    first = as_json["problems"][0]
    assert first["line"] == 2 and first["path"] == "interactive.action.buttons[1].reply.title"


def test_missing_and_empty_files_are_one_line_errors(tmp_path: Path) -> None:
    missing = run(str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    empty = tmp_path / "empty.json"
    empty.write_text("")
    done = run(str(empty))
    assert done.returncode == 2 and "empty" in done.stderr and "Traceback" not in done.stderr


def test_ten_thousand_messages(tmp_path: Path) -> None:
    """The time it takes is measured by benchmarks/bench_check.py, not here."""
    path = tmp_path / "big.jsonl"
    with path.open("w") as handle:
        for index in range(10_000):
            handle.write(json.dumps(dict(BUTTON_EXAMPLE, to=recipient(index))) + "\n")
    done = run(str(path))
    assert done.returncode == 0, done.stdout[:500]
    assert "checked 10000 message(s): all valid" in done.stderr
