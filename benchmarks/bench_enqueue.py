"""How fast is a campaign file enqueued, in how much memory?

``python benchmarks/bench_enqueue.py [--sizes 100000,1000000] [--baseline-sizes 100000]
[--repeat 1] [--check]``

For each size: writes a CSV of that many unique recipients with two template variables (a
name and a plan, both rendered into the message), starts a private redis-server, and runs
``enqueue_campaign_file`` in a fresh subprocess (so peak RSS is that process's own
``ru_maxrss``; the producer has no child processes), publishing the batch tasks to the Redis
broker as for real. The same run measures a **baseline** at ``--baseline-sizes``: the same
producer with the fast paths switched off, i.e. every number through ``phonenumbers.parse`` +
``is_valid_number`` and every rendered message through the whole ``OutboundMessage`` model
(how rows were checked before; the rest of the producer is the same, and both give the same
results: tests/test_phone_fast.py, tests/test_campaign_fieldcheck.py). With ``--repeat N`` each
measurement is run N times and the best is kept (the machine is shared). Prints:

- rows/s: rows divided by the producer's wall time (read, check, write, publish);
- peak RSS of the producer process;
- Redis bytes per queued job: ``used_memory`` after minus before, divided by the jobs (job
  records, campaign, Celery messages on the queue).

Targets (issue 5): >= 20,000 rows/s, peak RSS <= 200 MB and flat between sizes (within 10%),
<= 512 bytes per job. ``--check`` exits 1 when one is missed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import redis

from dispatcher.localredis import LocalRedis

TARGET_ROWS_S = 20_000
TARGET_RSS_MB = 200
TARGET_BYTES_PER_JOB = 512
CAMPAIGN = """\
name: bench
sender: default
message:
  type: button
  header: {type: text, text: "Select your plan"}
  body: {text: "Hi {{ name }}, choose a subscription model to get started:"}
  footer: {text: "Reply STOP to opt out"}
  action:
    buttons:
      - {type: reply, reply: {id: btn_growth, title: "{{ plan }} Plan"}}
      - {type: reply, reply: {id: btn_scale, title: "Scale Plan"}}
recipients: recipients.csv
"""
PLANS = ("Growth", "Starter", "Pro", "Team")

CHILD = r"""
import asyncio, json, resource, sys, time
from pathlib import Path
import redis.asyncio as aioredis
from dispatcher.campaign import enqueue_campaign_file
from dispatcher.settings import load_settings
from dispatcher.store import JobStore
from dispatcher.worker.app import make_celery

settings = load_settings(redis_url=sys.argv[1])
if sys.argv[3] == "baseline":
    import dispatcher.campaign.fieldcheck
    import dispatcher.phone
    dispatcher.phone._fast_international = lambda digits: None
    dispatcher.phone._fast_national = lambda digits, region: None
    dispatcher.campaign.fieldcheck.FieldChecks.valid = lambda self, strings: False
celery_app = make_celery(settings)

async def main():
    client = aioredis.Redis.from_url(settings.redis_url)
    started = time.perf_counter()
    summary = await enqueue_campaign_file(JobStore(client, settings.key_prefix), celery_app,
                                          settings, Path(sys.argv[2]))
    elapsed = time.perf_counter() - started
    await client.aclose()
    return summary, elapsed

summary, elapsed = asyncio.run(main())
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rows": summary.rows, "accepted": summary.accepted, "elapsed_s": elapsed,
                  "peak_rss_mb": rss, "campaign_id": summary.campaign_id}))
"""


def write_files(folder: Path, rows: int) -> Path:
    with (folder / "recipients.csv").open("w") as handle:
        handle.write("to,name,plan\n")
        for i in range(rows):
            handle.write(f"+9198{i:08d},Customer {i},{PLANS[i % len(PLANS)]}\n")
    campaign = folder / "campaign.yaml"
    campaign.write_text(CAMPAIGN)
    return campaign


def run_size(rows: int, mode: str = "fast") -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, LocalRedis() as server:
        campaign = write_files(Path(tmp), rows)
        client = redis.Redis.from_url(server.url)
        before = int(client.info("memory")["used_memory"])
        done = subprocess.run([sys.executable, "-c", CHILD, server.url, str(campaign), mode],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(done.stderr[-2000:])
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        after = int(client.info("memory")["used_memory"])
        client.close()
    result["rows_per_s"] = result["rows"] / result["elapsed_s"]
    result["redis_bytes_per_job"] = (after - before) / max(1, result["accepted"])
    result["mode"] = mode
    return result


def show(r: dict[str, Any]) -> None:
    print(f"{r['mode']:>8} {r['rows']:>9,} rows: {r['rows_per_s']:>8,.0f} rows/s "
          f"({r['elapsed_s']:.1f} s), peak RSS {r['peak_rss_mb']:.0f} MB, Redis "
          f"{r['redis_bytes_per_job']:.0f} bytes/job", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--baseline-sizes", default="100000",
                        help="sizes also run as the baseline ('' for none)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    baseline_sizes = [int(size) for size in args.baseline_sizes.split(",") if size]
    results = []
    for size in sizes:
        modes = ("baseline", "fast") if size in baseline_sizes else ("fast",)
        runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
        for _ in range(args.repeat):  # interleaved, so a noisy minute hits both alike
            for mode in modes:
                runs[mode].append(run_size(size, mode))
        best = {mode: max(found, key=lambda r: float(r["rows_per_s"]))
                for mode, found in runs.items()}
        for mode in modes:
            show(best[mode])
        results.append(best["fast"])
        if "baseline" in best:
            ratio = best["fast"]["rows_per_s"] / best["baseline"]["rows_per_s"]
            print(f"{'':>8} {size:>9,} rows: {ratio:.2f}x the baseline's rows/s", flush=True)
    ok = True
    for r in results:
        ok &= r["rows_per_s"] >= TARGET_ROWS_S and r["peak_rss_mb"] <= TARGET_RSS_MB \
            and r["redis_bytes_per_job"] <= TARGET_BYTES_PER_JOB
    if len(results) > 1:
        low, high = results[0]["peak_rss_mb"], results[-1]["peak_rss_mb"]
        growth = high / low - 1
        print(f"peak RSS {results[0]['rows']:,} -> {results[-1]['rows']:,} rows: "
              f"{growth:+.1%} (target within 10%)")
        ok &= abs(growth) <= 0.10
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
