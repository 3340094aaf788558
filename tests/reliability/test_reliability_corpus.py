"""Issue 7, scenario e: a corpus of malformed campaign files and rows, run end to end through
``dispatcher enqueue`` (a subprocess, as an operator runs it) against a running stack.

tests/test_campaign_files.py checks each rule in-process; this runs the whole corpus
(tests/reliability/corpus/) through the CLI: a fatal file error is one line, exit code 2, no
traceback and no campaign written; bad rows are one line each with their line number, and the
good rows around them are sent by the workers exactly once.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from dispatcher.localstack import LocalStack
from dispatcher.testing import wait_until

from .conftest import Outcome, record_result, redis_client

pytestmark = pytest.mark.slow

CORPUS = Path(__file__).parent / "corpus"
HUGE_LINE_BYTES = 10 * 1024 * 1024

# Every fatal case of the corpus and a fragment of the one line it must print.
FATAL = {
    "empty.yaml": "the file is empty",
    "blank.yaml": "the file is empty",
    "bad-yaml.yaml": "line 3: expected ',' or '}'",
    "bad-json.json": "line 1: not valid JSON",
    "not-a-mapping.yaml": "expected a mapping with name, sender, message, recipients",
    "non-utf8.yaml": "not UTF-8 (byte 0xe9",
    "gzip-bytes.yaml": "not UTF-8 (byte 0x8b",
    "unknown-key.yaml": "colour: unknown key 'colour'",
    "missing-message.yaml": "message: required key is missing",
    "name-not-a-string.yaml": "name: Input should be a valid string",
    "unknown-message-type.yaml": "message.type: unknown interactive type",
    "no-buttons.yaml": "message.action.buttons: List should have at least 1 item",
    "template-syntax.yaml": "message.body.text: template syntax error",
    "placeholder-in-key.yaml": "message.body: placeholders are not allowed in keys",
    "send-at-past.yaml": "send_at: 2001-01-01T00:00:00+00:00 is in the past",
    "send-at-not-a-date.yaml": "send_at: not an ISO 8601 date and time: 'next tuesday'",
    "send-at-no-timezone.yaml": "send_at: needs a timezone",
    "send-at-impossible-date.yaml": "send_at: not an ISO 8601 date and time",
    "unknown-sender.yaml": "unknown sender 'nobody'",
    "bad-region.yaml": "region: String should match pattern",
    "bad-auto-pause.yaml": "failure_rate: Input should be less than or equal to 1",
    "alias-bomb.yaml": "line 10: aliases (*name) are not allowed in a campaign file",
    "nested-yaml.yaml": "nested more than the YAML reader can follow",
    "nested-json.json": "nested more than 32 levels deep",
    "recipients-missing.yaml": "nowhere.csv: cannot read: No such file or directory",
    "recipients-is-a-directory.yaml": "cannot read: Is a directory",
    "recipients-empty.yaml": "r-empty.csv: the file is empty",
    "recipients-header-only.yaml": "no recipient rows",
    "recipients-no-to-column.yaml": "r-no-to.csv: line 1: no 'to' column",
    "recipients-header-non-utf8.yaml": "r-header-non-utf8.csv: line 1: header: not UTF-8",
    "recipients-duplicate-column.yaml": "line 1: column 'name' appears more than once",
    "recipients-empty-column-name.yaml": "line 1: column 2 has no name",
    "recipients-missing-variable-column.yaml": "no column 'plan' for the template's {{ plan }}",
    "too-large.yaml": "larger than 1048576 bytes",  # written by the test (over 1 MB)
}

# mixed.csv: line -> fragment of its reason (line 32 is blank, line 30 a duplicate of line 2).
CSV_PROBLEMS = {
    22: "to: not a phone number",
    23: "to: too short",
    24: "to: not a phone number",
    25: "expected 3 columns, found 4",
    26: "expected 3 columns, found 2",
    27: "not UTF-8 (byte 0xe9 at column 16)",
    28: "interactive.action.buttons[0].reply.title: String should have at most 20 characters",
    29: "interactive.body.text: String should have at most 1024 characters",
    45: f"line longer than {1 << 20} bytes",  # the 10 MB line the test appends
}
CSV_GOOD = {f"9198765{91000 + i}" for i in range(1, 31)} | {
    "919876591106", "919876591107", "919876591108", "919876591109"}

JSONL_PROBLEMS = {
    11: "not valid JSON",
    12: "expected a JSON object, got list",
    13: "plan: missing variable",
    14: "name: must be a string, number or boolean",
    15: "to: required field is missing",
    16: "expected a JSON object, got str",
    18: "to: not a phone number",
}
JSONL_GOOD = {f"9198765{92000 + i}" for i in range(1, 16)}

PROBLEM_LINE = re.compile(r"^(?P<file>[\w.-]+):line (?P<line>\d+): (?P<reason>.+)$")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the corpus (enqueue writes its rejected-rows report next to the file), plus
    the cases too big to keep in git: a campaign file over 1 MB and a 10 MB recipient line."""
    where = tmp_path_factory.mktemp("corpus")
    shutil.copytree(CORPUS, where, dirs_exist_ok=True)
    big = (CORPUS / "fatal" / "unknown-key.yaml").read_text().replace("colour: blue", "")
    (where / "fatal" / "too-large.yaml").write_text(big + "# " + "x" * (1 << 20) + "\n")
    with (where / "rows" / "mixed.csv").open("ab") as handle:
        handle.write(b"+919876591110,Huge," + b"x" * HUGE_LINE_BYTES + b",Growth\n")
        handle.write(b"+919876591109,After,Scale\n")
    return where


def run_enqueue(stack: LocalStack, where: Path, name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dispatcher", "enqueue", name], cwd=where,
                          env=stack.env, capture_output=True, text=True, timeout=120,
                          check=False)


def written(stack: LocalStack) -> tuple[int, int, int, int]:
    """Campaign records, job records, the campaigns index and the broker queue."""
    client = redis_client(stack)
    try:
        return (sum(1 for _ in client.scan_iter("dispatcher:campaign:*", count=1000)),
                sum(1 for _ in client.scan_iter("dispatcher:job:*", count=1000)),
                int(client.zcard("dispatcher:campaigns")),
                int(client.llen("dispatcher.send")))
    finally:
        client.close()


def test_the_corpus_covers_every_fatal_file() -> None:
    cases = {p.name for p in (CORPUS / "fatal").iterdir() if p.suffix in (".yaml", ".json")}
    assert cases | {"too-large.yaml"} == set(FATAL)


@pytest.mark.parametrize("name", sorted(FATAL))
def test_fatal_file_is_one_line_and_creates_nothing(stack: LocalStack, corpus: Path,
                                                    name: str) -> None:
    before = written(stack)
    done = run_enqueue(stack, corpus / "fatal", name)
    assert "Traceback" not in done.stdout + done.stderr
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ") and FATAL[name] in lines[0], lines[0]
    assert written(stack) == before


@pytest.mark.parametrize(("campaign", "problems", "good"), [
    ("mixed.yaml", CSV_PROBLEMS, CSV_GOOD),
    ("mixed-jsonl.yaml", JSONL_PROBLEMS, JSONL_GOOD),
])
def test_bad_rows_are_reported_and_good_rows_sent_once(
        stack: LocalStack, corpus: Path, campaign: str, problems: dict[int, str],
        good: set[str]) -> None:
    sandbox = stack.sandbox_process
    assert sandbox is not None
    began = time.monotonic()
    done = run_enqueue(stack, corpus / "rows", campaign)
    assert "Traceback" not in done.stdout + done.stderr
    assert done.returncode == 0, done.stderr
    campaign_id = done.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{12}", campaign_id), done.stdout
    reported = {}
    for line in done.stderr.splitlines():
        match = PROBLEM_LINE.match(line)
        if match:
            reported[int(match["line"])] = match["reason"]
    assert set(reported) == set(problems), done.stderr
    for number, fragment in problems.items():
        assert fragment in reported[number], (number, reported[number])
    report = corpus / "rows" / f"{Path(campaign).stem}.rejected.jsonl"
    assert sorted(orjson.loads(x)["line"] for x in report.read_bytes().splitlines()) == sorted(
        problems)

    final = wait_until(stack, campaign_id, {"done"}, timeout_s=60)
    seconds = time.monotonic() - began
    counts = final["counts"]
    assert counts["sent"] == len(good) and counts["rejected"] == len(problems), counts
    assert final["duplicates"] == 1
    assert final["total"] == len(good) + len(problems) + 1
    assert all(counts[s] == 0 for s in ("queued", "sending", "retrying", "failed", "unknown"))
    received = Counter(m["to"] for m in sandbox.messages())
    assert set(received) == good and set(received.values()) == {1}, received
    stats = sandbox.stats()
    assert stats["duplicates_by_key"] == 0 and stats["duplicates_by_recipient"] == 0
    outcome = Outcome(jobs=final["total"], sent=counts["sent"], received_twice=0,
                      lost=len(good - set(received)), deduplicated=0, counts=counts,
                      records=[])
    record_result(f"e. bad rows ({Path(campaign).stem})",
                  f"{final['total']} rows, {len(problems)} bad, 1 duplicate, via `dispatcher "
                  "enqueue`", outcome, seconds, rejected_with_line=len(reported))

