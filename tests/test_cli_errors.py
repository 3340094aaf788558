"""One-line errors from the CLI for inputs that are not files or rows: report paths, settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dispatcher.errors import ConfigError
from dispatcher.settings import load_settings

EXAMPLE = Path(__file__).resolve().parent.parent / "config" / "examples" / "button-campaign.yaml"


def test_unwritable_report_path_is_one_line_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dispatcher", "enqueue", str(EXAMPLE), "--dry-run", "--report",
         str(tmp_path / "missing-dir" / "report.jsonl")],
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--report" in lines[0] and "No such file" in lines[0]


def test_pair_interval_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="pair_interval_s"):
        load_settings(pair_interval_s=0)
