"""``dispatcher demo`` as a user runs it: a subprocess that must reach its summary, show the
dashboard, get delivery receipts through the HTTP service, and leave no process behind (also
when stopped by Ctrl-C or SIGTERM half way).

Every process the demo starts inherits a marker variable, so a scan of ``/proc`` finds them
all, whoever their parent is by then; ``TMPDIR`` points at the test's directory, so the private
Redis's data directory and the logs must be gone from it too.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")]

MARK = "DEMO_TEST_MARK"


def _stat(pid: int | str) -> tuple[int, str, int] | None:
    """(parent pid, state, start time) from ``/proc/PID/stat``; None when gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), fields[0], int(fields[19])


def marked(mark: str) -> list[int]:
    """Live processes (not zombies) whose environment carries ``MARK=mark``.

    (Celery rewrites its process title over the environment, so workers are found by
    ``descendants`` instead.)
    """
    needle = f"{MARK}={mark}".encode()
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            environ = Path(entry.path, "environ").read_bytes()
        except OSError:
            continue
        stat = _stat(entry.name)
        if stat is not None and stat[1] != "Z" and needle in environ.split(b"\0"):
            pids.append(int(entry.name))
    return pids


def descendants(root: int) -> set[tuple[int, int]]:
    """(pid, start time) of every live process below ``root``."""
    children: dict[int, list[tuple[int, int]]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (stat := _stat(entry.name)) and stat[1] != "Z":
            children.setdefault(stat[0], []).append((int(entry.name), stat[2]))
    found: set[tuple[int, int]] = set()
    todo = [root]
    while todo:
        for pid, started in children.get(todo.pop(), []):
            found.add((pid, started))
            todo.append(pid)
    return found


def still_running(processes: set[tuple[int, int]]) -> list[int]:
    """The ones still alive: same pid and start time (not a reused pid), not a zombie."""
    return [pid for pid, started in processes
            if (stat := _stat(pid)) and stat[2] == started and stat[1] != "Z"]


class Demo:
    """``python -m dispatcher demo ARGS`` in its own session, its output collected by a thread."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.mark = uuid.uuid4().hex
        self.tmp = tmp_path / "tmp"
        self.tmp.mkdir()
        env = {**os.environ, MARK: self.mark, "TMPDIR": str(self.tmp), "COLUMNS": "200"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dispatcher", "demo", *args], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.seen: set[tuple[int, int]] = set()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout_s: float) -> re.Match[str]:
        """The first output line matching ``pattern``; notes the marked processes meanwhile."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.seen.update(descendants(self.proc.pid))
            for line in list(self.lines):
                if found := re.search(pattern, line):
                    return found
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"no line matching {pattern!r}:\n{self.output}")

    def wait(self, timeout_s: float) -> int:
        try:
            code = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"demo still running after {timeout_s} s:\n{self.output}") from None
        self.reader.join(5)
        return code

    def kill(self) -> None:
        """Last resort, so a failing test leaves nothing either."""
        for pid in [self.proc.pid, *marked(self.mark), *still_running(self.seen)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait()

    def assert_nothing_left(self, at_least: int = 4) -> None:
        # redis-server, sandbox, HTTP service and at least one worker were seen running
        assert len(self.seen) >= at_least, (self.seen, self.output)
        left = sorted(set(marked(self.mark)) | set(still_running(self.seen)))
        assert left == [], f"left running: {left}\n{self.output}"
        assert list(self.tmp.iterdir()) == [], "temporary files left behind"


@pytest.fixture()
def demos(tmp_path: Path) -> list[Demo]:
    started: list[Demo] = []
    yield started
    for demo in started:
        if demo.proc.poll() is None or marked(demo.mark) or still_running(demo.seen):
            demo.kill()


def test_demo_reaches_its_summary_with_receipts_and_leaves_nothing(
        tmp_path: Path, demos: list[Demo]) -> None:
    demo = Demo(tmp_path, "--messages", "300", "--workers", "1")
    demos.append(demo)
    demo.wait_for(r"^sending \d+/294 ", 60)
    assert demo.wait(90) == 0, demo.output
    out = demo.output
    counts = re.search(r"receipts: sent (\d+), delivered (\d+), read (\d+), failed (\d+)", out)
    assert counts is not None, out
    sent, delivered, read, failed = map(int, counts.groups())
    assert sent + failed == 294, out  # every accepted message got its receipts
    assert delivered > 250 and read > 100, out
    assert re.search(r"campaign \w+ done: 300 rows -> .*'rejected': 6", out), out
    assert re.search(r"\b[1-9]\d* answered 429 with Retry-After", out), out
    assert re.search(r"\b[1-9]\d* answered 503", out), out
    assert re.search(r"dashboard: http://127\.0\.0\.1:\d+/#token=[\w-]+&campaign=\w+$", out,
                     re.MULTILINE), out
    demo.assert_nothing_left()


def test_keep_serves_the_dashboard_and_api_until_ctrl_c(
        tmp_path: Path, demos: list[Demo]) -> None:
    demo = Demo(tmp_path, "--messages", "200", "--workers", "1", "--keep")
    demos.append(demo)
    found = demo.wait_for(r"dashboard: (http://127\.0\.0\.1:\d+)/#token=([\w-]+)&campaign=(\w+)",
                          90)
    url, token, campaign = found.groups()
    demo.wait_for(r"^--keep: everything stays up", 10)
    assert httpx.get(url + "/", timeout=5).status_code == 200  # the dashboard page
    answer = httpx.get(f"{url}/v1/campaigns/{campaign}", timeout=5,
                       headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["counts"]["read"] > 0
    assert httpx.get(f"{url}/v1/campaigns/{campaign}", timeout=5).status_code == 401
    time.sleep(1)
    assert demo.proc.poll() is None, "--keep should keep running"
    os.killpg(demo.proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    started = time.monotonic()
    assert demo.wait(20) == 130, demo.output
    assert time.monotonic() - started < 15
    demo.assert_nothing_left()


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
@pytest.mark.parametrize("when", ["starting", "sending"])
def test_stopped_early_or_half_way_leaves_nothing(
        tmp_path: Path, demos: list[Demo], when: str, how: str) -> None:
    demo = Demo(tmp_path, "--messages", "3000", "--workers", "1")
    demos.append(demo)
    # "starting": while the stack starts (redis-server, service, sandbox, workers spawning)
    demo.wait_for(r"^starting " if when == "starting" else r"^sending [1-9]\d*/", 60)
    if how == "ctrl-c":  # the terminal signals the whole foreground process group
        os.killpg(demo.proc.pid, signal.SIGINT)
    else:  # a service manager signals the demo alone
        demo.proc.send_signal(signal.SIGTERM)
    started = time.monotonic()
    code = demo.wait(30)
    assert time.monotonic() - started < 15, demo.output
    assert code == 128 + (signal.SIGINT if how == "ctrl-c" else signal.SIGTERM), demo.output
    assert "stopped everything the demo started" in demo.output
    assert "Traceback" not in demo.output, demo.output
    demo.assert_nothing_left(at_least=0 if when == "starting" else 4)
