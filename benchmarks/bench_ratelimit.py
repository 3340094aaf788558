"""The shared rate limit under load: 4 worker processes against a sandbox enforcing the limit.

For each rate (80/s, then 1,000/s): 4 `dispatcher worker` processes, the dispatcher's limit at
that rate, the sandbox enforcing the same rate with a burst of 5, `--seconds` of sending. Prints
the highest and mean messages/s the sandbox accepted, utilisation (mean / limit) and its 429s.
In the same run, the comparison: Celery's built-in `rate_limit` at 80/s with the same worker
count (4 `celery worker` instances, one task per message, benchmarks/naive_celery.py).

    python benchmarks/bench_ratelimit.py [--seconds 60] [--rates 80,1000]

From 500/s up it also runs the same load with the sandbox not enforcing any limit: what this
machine can carry at all (and how busy its CPUs are), to tell a limiter problem from a machine
that runs out first.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from redis import Redis

from dispatcher.localstack import LocalStack
from dispatcher.sandbox import SandboxConfig
from dispatcher.testing import BUTTON_EXAMPLE, button_messages, enqueue, recipient, wait_until

HERE = Path(__file__).resolve().parent
WORKERS = 4
BURST = 5


def window_figures(stats: dict[str, Any], limit: float) -> dict[str, Any]:
    """Highest and mean accepted/s over the full seconds of sending (first and last cut)."""
    seconds = sorted((int(s), n) for s, n in stats["per_second"].items())
    full = [n for _, n in seconds[1:-1]] or [n for _, n in seconds]
    mean = sum(full) / len(full)
    first = seconds[0][0]
    throttled_at = {int(s) - first: n for s, n in stats.get("throttled_per_second", {}).items()}
    return {"series": [n for _, n in seconds], "throttled_at": throttled_at,
            "highest": max(n for _, n in seconds), "mean": mean, "utilisation": mean / limit,
            "throttled": stats["rejected"].get("429", 0), "seconds": len(full),
            "accepted": stats["accepted"],
            "bunched": stats.get("arrivals_bunched", 0) / max(1, stats["received"]),
            "loop_clock_429s": stats.get("throttled_by_loop_clock", 0)}


def cpu_busy() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine so far, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and its waited-for children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def stack_cpu(stack: LocalStack) -> dict[str, float]:
    """CPU seconds so far of the workers (every process of their groups), sandbox and Redis."""
    workers = 0.0
    for worker in stack.worker_processes:
        listed = subprocess.run(["pgrep", "-g", str(worker.pid)], capture_output=True,
                                text=True, check=False).stdout.split()
        workers += sum(cpu_seconds(int(pid)) for pid in listed)
    sandbox = stack.sandbox_process.proc if stack.sandbox_process else None
    redis = stack.redis_server.process if stack.redis_server else None
    return {"workers": workers, "sandbox": cpu_seconds(sandbox.pid) if sandbox else 0.0,
            "redis": cpu_seconds(redis.pid) if redis else 0.0}


def slots_missed(stack: LocalStack) -> int:
    """Rate-limit slots the workers gave up (a request that could not leave in time for its
    slot takes a new one): dispatcher_rate_slots_missed_total, from the metrics in Redis."""
    time.sleep(1.5)  # workers flush their metrics once a second
    client = Redis.from_url(stack.redis_url or "")
    try:
        fields = client.hgetall("dispatcher:metrics")
    finally:
        client.close()
    return int(sum(float(v) for k, v in fields.items() if k.startswith(b"missed|")))


def run_dispatcher(rate: float, seconds: float, enforce: bool = True) -> dict[str, Any]:
    """The dispatcher at ``rate``; with ``enforce=False`` the sandbox takes everything, which
    measures how much of the rate this machine can carry at all."""
    count = int(rate * seconds)
    sandbox = SandboxConfig(latency_ms=20, rate=rate if enforce else None, burst=BURST,
                            keep_messages=0)
    env = {"DISPATCHER_RATE_LIMIT": str(rate), "DISPATCHER_PAIR_INTERVAL_S": "6"}
    with LocalStack(workers=WORKERS, concurrency=4, sandbox=sandbox, settings_env=env,
                    worker_nice=5) as stack:
        stack.wait_workers_ready()
        result = enqueue(stack, button_messages(count), name=f"rate {rate}")
        busy_0, total_0 = cpu_busy()
        cpu_0 = stack_cpu(stack)
        wait_until(stack, result.campaign_id, {"done"}, timeout_s=seconds * 4 + 60)
        busy_1, total_1 = cpu_busy()
        cpu_1 = stack_cpu(stack)
        figures = window_figures(stack.sandbox_process.stats(), rate)  # type: ignore[union-attr]
        figures["slots_missed"] = slots_missed(stack)
        figures["cpu_busy"] = (busy_1 - busy_0) / max(1, total_1 - total_0)
        figures["cpu_us_per_message"] = {
            part: (cpu_1[part] - cpu_0[part]) / count * 1e6 for part in cpu_0}
        return figures


def run_celery_rate_limit(rate: float, seconds: float) -> dict[str, Any]:
    count = int(rate * seconds)
    sandbox = SandboxConfig(latency_ms=20, rate=rate, burst=BURST, keep_messages=0)
    with LocalStack(workers=0, sandbox=sandbox) as stack:
        env = dict(os.environ, NAIVE_BROKER=stack.redis_url or "", PYTHONPATH=str(HERE),
                   NAIVE_SANDBOX=stack.sandbox_process.url,  # type: ignore[union-attr]
                   NAIVE_RATE=f"{rate:g}/s")
        workers = [subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "naive_celery", "worker", "-P", "prefork",
             "-c", "8", "-n", f"naive{i}@%h", "--loglevel", "ERROR", "--without-gossip",
             "--without-mingle"], env=env, cwd=HERE, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True) for i in range(WORKERS)]
        try:
            os.environ["NAIVE_BROKER"] = stack.redis_url or ""
            sys.path.insert(0, str(HERE))
            import naive_celery  # type: ignore[import-not-found]

            naive_celery.app.conf.broker_url = stack.redis_url
            time.sleep(4)
            for index in range(count):
                naive_celery.send_one.delay(dict(BUTTON_EXAMPLE, to=recipient(index)),
                                            f"naive-{index}")
            deadline = time.monotonic() + seconds * 4 + 60
            while stack.sandbox_process.stats()["accepted"] < count:  # type: ignore[union-attr]
                if time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            return window_figures(stack.sandbox_process.stats(), rate)  # type: ignore[union-attr]
        finally:
            for worker in workers:
                os.killpg(worker.pid, 9)
                worker.wait()


def show(label: str, rate: float, figures: dict[str, Any]) -> None:
    print(f"{label}: limit {rate:g}/s, burst {BURST}: highest {figures['highest']:.0f}/s "
          f"(limit + burst = {rate + BURST:g}), mean {figures['mean']:.1f}/s over "
          f"{figures['seconds']:.0f} s, utilisation {figures['utilisation']:.1%}, "
          f"429s {figures['throttled']:.0f}, accepted {figures['accepted']:.0f}")
    if "cpu_busy" in figures:
        print(f"  machine CPU busy while sending: {figures['cpu_busy']:.0%} of "
              f"{os.cpu_count()} cores; CPU per message: " + ", ".join(
                  f"{part} {us:.0f} us" for part, us in figures["cpu_us_per_message"].items()))
    if "slots_missed" in figures:
        print(f"  slots given up by requests that could not leave in time: "
              f"{figures['slots_missed']} ({figures['slots_missed'] / figures['accepted']:.1%} "
              "of the messages)")
    print(f"  {figures['bunched']:.0%} of requests arrived within 0.1 ms of the one before; "
          f"judged by the sandbox loop's clock instead of the kernel's arrival stamps, the "
          f"limit would have answered {figures['loop_clock_429s']} 429s")
    print(f"  accepted per second: {figures['series']}")
    if figures["throttled_at"]:
        print(f"  429s by second from the first: {figures['throttled_at']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rates", default="80,1000")
    args = parser.parse_args()
    for rate in (float(r) for r in args.rates.split(",")):
        show(f"dispatcher ({WORKERS} workers)", rate, run_dispatcher(rate, args.seconds))
        if rate >= 500:
            show(f"  capacity check, sandbox not enforcing ({WORKERS} workers)", rate,
                 run_dispatcher(rate, args.seconds, enforce=False))
    base_rate = 80.0
    show(f"celery rate_limit ({WORKERS} workers)", base_rate,
         run_celery_rate_limit(base_rate, args.seconds))


if __name__ == "__main__":
    main()
