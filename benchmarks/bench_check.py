"""`dispatcher check` on a JSONL file of 10,000 messages, end to end (process start included).

Baseline in the same run: `python -c pass` (the interpreter's start) and a plain JSON parse of
the same file, so the figure can be read on a noisy machine.

    python benchmarks/bench_check.py [--messages 10000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dispatcher.demo import LIST_EXAMPLE
from dispatcher.testing import BUTTON_EXAMPLE, recipient


def timed(args: list[str]) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run(args, check=False, capture_output=True)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=10_000)
    count = parser.parse_args().messages
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "messages.jsonl"
        with path.open("w") as handle:
            for index in range(count):
                example = LIST_EXAMPLE if index % 2 else BUTTON_EXAMPLE
                handle.write(json.dumps(dict(example, to=recipient(index))) + "\n")
        check = timed([sys.executable, "-m", "dispatcher", "check", str(path)])
        start = timed([sys.executable, "-c", "pass"])
        parse = timed([sys.executable, "-c",
                       f"import json; [json.loads(l) for l in open({str(path)!r})]"])
    print(f"dispatcher check, {count} messages: {check:.2f} s "
          f"({count / check:,.0f} messages/s including process start)")
    print(f"baseline: python start {start:.2f} s, json.loads of the file {parse:.2f} s; "
          f"check / json.loads = {check / parse:.1f}x")


if __name__ == "__main__":
    main()
