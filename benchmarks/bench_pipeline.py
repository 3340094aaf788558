"""Throughput of the dispatch pipeline against the naive baseline, in the same run.

Starts a private redis-server, the sandbox answering after 50 ms, and 2 `dispatcher worker`
processes; sends 20,000 messages; prints messages/s, p50/p99 send latency (claim to recorded)
and CPU seconds per 1,000 messages (workers, and everything: workers + sandbox + Redis). Then
the same sandbox behind one-Celery-task-per-message with a blocking client and Celery's
`rate_limit` (benchmarks/naive_celery.py, prefork, 4 processes), and the ratio.

    python benchmarks/bench_pipeline.py [--messages 20000] [--baseline-messages 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import redis
import redis.asyncio as aioredis

from dispatcher.localstack import LocalStack
from dispatcher.sandbox import SandboxConfig
from dispatcher.testing import BUTTON_EXAMPLE, button_messages, enqueue, recipient, wait_until

TICKS = os.sysconf("SC_CLK_TCK")
HERE = Path(__file__).resolve().parent


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return total / TICKS


def latencies(redis_url: str, campaign_id: str, count: int) -> list[float]:
    async def run() -> list[float]:
        client = aioredis.Redis.from_url(redis_url)
        out: list[float] = []
        async with client.pipeline(transaction=False) as pipe:
            for index in range(1, count + 1):
                pipe.hmget(f"dispatcher:job:{campaign_id}.{index}", "tl", "ts")
            rows = await pipe.execute()
        await client.aclose()
        for claimed, sent in rows:
            if claimed and sent:
                out.append(float(sent) - float(claimed))
        return out

    return asyncio.run(run())


def run_dispatcher(count: int) -> dict[str, float]:
    env = {"DISPATCHER_RATE_LIMIT": "10000", "DISPATCHER_BATCH_SIZE": "100",
           "DISPATCHER_MAX_IN_FLIGHT": "256"}
    sandbox = SandboxConfig(latency_ms=50, keep_messages=0)
    with LocalStack(workers=2, concurrency=4, sandbox=sandbox, settings_env=env) as stack:
        stack.wait_workers_ready()
        warm = enqueue(stack, button_messages(200, start=90000), name="warm-up")
        wait_until(stack, warm.campaign_id, {"done"}, 60)
        pids = [w.pid for w in stack.worker_processes]
        others = [stack.sandbox_process.proc.pid]  # type: ignore[union-attr]
        others.append(stack.redis_server.process.pid)  # type: ignore[union-attr]
        t_enqueue = time.perf_counter()
        result = enqueue(stack, button_messages(count), name="bench")
        t_start = time.perf_counter()
        cpu_workers, cpu_others = cpu_seconds(pids), cpu_seconds(others)
        wait_until(stack, result.campaign_id, {"done"}, 600)
        elapsed = time.perf_counter() - t_start
        cpu_workers = cpu_seconds(pids) - cpu_workers
        cpu_others = cpu_seconds(others) - cpu_others
        lat = sorted(latencies(stack.redis_url or "", result.campaign_id, count))
        stats = stack.sandbox_process.stats()  # type: ignore[union-attr]
    return {"messages": count, "enqueue_s": t_start - t_enqueue, "elapsed_s": elapsed,
            "rate": count / elapsed, "p50_ms": statistics.median(lat) * 1000,
            "p99_ms": lat[int(len(lat) * 0.99) - 1] * 1000,
            "cpu_workers_per_1000": cpu_workers / count * 1000,
            "cpu_all_per_1000": (cpu_workers + cpu_others) / count * 1000,
            "duplicates": stats["duplicates_by_key"], "accepted": stats["accepted"]}


def run_baseline(count: int) -> dict[str, float]:
    sandbox = SandboxConfig(latency_ms=50, keep_messages=0)
    with LocalStack(workers=0, sandbox=sandbox) as stack:
        env = dict(os.environ, NAIVE_BROKER=stack.redis_url or "",
                   NAIVE_SANDBOX=stack.sandbox_process.url,  # type: ignore[union-attr]
                   PYTHONPATH=str(HERE))
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "naive_celery", "worker", "-P", "prefork",
             "-c", "4", "--loglevel", "WARNING", "--without-gossip", "--without-mingle"],
            env=env, cwd=HERE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        try:
            sys.path.insert(0, str(HERE))
            os.environ["NAIVE_BROKER"] = stack.redis_url or ""
            import naive_celery  # type: ignore[import-not-found]

            naive_celery.app.conf.broker_url = stack.redis_url
            time.sleep(3)  # let the prefork pool come up
            client = redis.Redis.from_url(stack.redis_url or "")
            t_start = time.perf_counter()
            for index in range(count):
                message = dict(BUTTON_EXAMPLE, to=recipient(index))
                naive_celery.send_one.delay(message, f"naive-{index}")
            while stack.sandbox_process.stats()["accepted"] < count:  # type: ignore[union-attr]
                if time.perf_counter() - t_start > 600:
                    raise TimeoutError("baseline did not finish")
                time.sleep(0.2)
            elapsed = time.perf_counter() - t_start
            client.close()
        finally:
            os.killpg(worker.pid, 9)
            worker.wait()
    return {"messages": count, "elapsed_s": elapsed, "rate": count / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--baseline-messages", type=int, default=1_000)
    args = parser.parse_args()
    ours = run_dispatcher(args.messages)
    print(f"dispatcher: {ours['messages']:.0f} messages in {ours['elapsed_s']:.1f} s = "
          f"{ours['rate']:.0f} messages/s (enqueue took {ours['enqueue_s']:.1f} s)")
    print(f"  send latency p50 {ours['p50_ms']:.0f} ms, p99 {ours['p99_ms']:.0f} ms "
          f"(sandbox answers after 50 ms)")
    print(f"  CPU per 1,000 messages: workers {ours['cpu_workers_per_1000']:.2f} s, "
          f"everything (workers + sandbox + redis) {ours['cpu_all_per_1000']:.2f} s")
    print(f"  sandbox accepted {ours['accepted']:.0f}, duplicates {ours['duplicates']:.0f}")
    base = run_baseline(args.baseline_messages)
    print(f"baseline (task per message, blocking httpx, rate_limit, prefork x4): "
          f"{base['messages']:.0f} messages in {base['elapsed_s']:.1f} s = "
          f"{base['rate']:.0f} messages/s")
    print(f"ratio: {ours['rate'] / base['rate']:.1f}x")


if __name__ == "__main__":
    main()
