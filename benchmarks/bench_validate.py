"""How fast are messages validated? ``python benchmarks/bench_validate.py [--count N] [--check]``.

Builds N JSON lines (default 50,000) of mixed interactive types (the two seed examples plus one
of every other type), each to a different recipient written in one of the accepted spellings,
then times, best of three runs:

- baseline: ``json.loads`` of every line (and ``orjson.loads``, for reference);
- ``json.loads`` + ``OutboundMessage.model_validate`` with an empty number cache (every number
  new: the cost a fresh campaign pays);
- ``OutboundMessage.model_validate_json`` straight from the line;
- the same with a warm number cache (a campaign re-sent to the same list).

Target: at least 20,000 messages/s on the 2-core machine; ``--check`` exits 1 below it.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson
import phonenumbers

from dispatcher.messages import OutboundMessage
from dispatcher.phone import clear_normalize_cache

TARGET_PER_SECOND = 20_000
CONTEXT = {"default_region": "IN"}

BUTTON = {
    "type": "button",
    "header": {"type": "text", "text": "Select your plan"},
    "body": {"text": "Choose a subscription model to get started:"},
    "action": {
        "buttons": [
            {"type": "reply", "reply": {"id": "btn_growth", "title": "Growth Plan"}},
            {"type": "reply", "reply": {"id": "btn_scale", "title": "Scale Plan"}},
        ]
    },
}
LIST = {
    "type": "list",
    "header": {"type": "text", "text": "Support Hub"},
    "body": {"text": "How can we assist you today? Please choose an option from the menu."},
    "action": {
        "button": "Select Topic",
        "sections": [
            {
                "title": "Help Categories",
                "rows": [
                    {"id": "row_billing", "title": "Billing & Invoices", "description": "Plans"},
                    {"id": "row_tech", "title": "Technical Setup", "description": "Webhooks"},
                    {"id": "row_other", "title": "Speak to Agent", "description": "Live agent"},
                ],
            }
        ],
    },
}
CTA_URL = {
    "type": "cta_url",
    "header": {"type": "image", "image": {"link": "https://example.com/plan.png"}},
    "body": {"text": "See our plans"},
    "footer": {"text": "Prices include tax"},
    "action": {
        "name": "cta_url",
        "parameters": {"display_text": "Open plans", "url": "https://example.com/plans"},
    },
}
FLOW = {
    "type": "flow",
    "header": {"type": "text", "text": "Book a visit"},
    "body": {"text": "Pick a slot"},
    "action": {
        "name": "flow",
        "parameters": {
            "flow_message_version": "3",
            "flow_id": "1197715005513101",
            "flow_cta": "Book now",
            "flow_action": "navigate",
            "flow_action_payload": {"screen": "BOOKING", "data": {"slots": [1, 2]}},
        },
    },
}
PRODUCT_LIST = {
    "type": "product_list",
    "header": {"type": "text", "text": "Our range"},
    "body": {"text": "Pick a product"},
    "action": {
        "catalog_id": "cat_1",
        "sections": [
            {"title": "Tea", "product_items": [{"product_retailer_id": f"t{i}"} for i in range(5)]},
            {"title": "Coffee", "product_items": [{"product_retailer_id": "c1"}]},
        ],
    },
}
PRODUCT = {
    "type": "product",
    "body": {"text": "Our best seller"},
    "action": {"catalog_id": "cat_1", "product_retailer_id": "sku_1"},
}
CATALOG = {
    "type": "catalog_message",
    "body": {"text": "Browse the catalog"},
    "action": {"name": "catalog_message"},
}
LOCATION = {
    "type": "location_request_message",
    "body": {"text": "Where should we deliver?"},
    "action": {"name": "send_location"},
}
# The seed types dominate, as they would in real campaigns.
MIX = [BUTTON, BUTTON, BUTTON, LIST, LIST, LIST, CTA_URL, FLOW, PRODUCT_LIST, PRODUCT, CATALOG,
       LOCATION]  # fmt: skip


def _numbers(count: int, rng: random.Random) -> list[str]:
    """``count`` distinct valid Indian mobile numbers, national significant part only."""
    numbers: set[str] = set()
    while len(numbers) < count:
        national = f"{rng.choice('6789')}{rng.randrange(10**9):09d}"
        if phonenumbers.is_valid_number(phonenumbers.parse(national, "IN")):
            numbers.add(national)
    return sorted(numbers, key=lambda _: rng.random())


def _spelling(national: str, index: int) -> str:
    """The number in one of the accepted spellings."""
    spelling = index % 4
    if spelling == 0:
        return "91" + national  # BSP format, as in the seed
    if spelling == 1:
        return "+91" + national
    if spelling == 2:
        return f"+91 {national[:5]} {national[5:]}"
    return national  # national, needs the default region


def build_lines(count: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    lines = []
    for i, national in enumerate(_numbers(count, rng)):
        message = {
            "to": _spelling(national, i),
            "type": "interactive",
            "interactive": MIX[i % len(MIX)],
        }
        lines.append(json.dumps(message).encode())
    return lines


def best_rate(run: Callable[[], Any], count: int, repeat: int, before: Callable[[], Any]) -> float:
    """Messages per second of the fastest of ``repeat`` runs."""
    best = float("inf")
    for _ in range(repeat):
        before()
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return count / best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--check", action="store_true", help=f"exit 1 below {TARGET_PER_SECOND}/s")
    args = parser.parse_args()
    lines = build_lines(args.count)
    decoded = [json.loads(line) for line in lines]
    # Warm up (phonenumbers loads metadata lazily) and make sure every message is valid: a
    # benchmark that times refusals would measure the wrong thing.
    for payload in decoded[:2000]:
        OutboundMessage.model_validate(payload, context=CONTEXT)

    def nothing() -> None:
        return None

    def json_loads() -> None:
        for line in lines:
            json.loads(line)

    def orjson_loads() -> None:
        for line in lines:
            orjson.loads(line)

    def loads_and_validate() -> None:
        for line in lines:
            OutboundMessage.model_validate(json.loads(line), context=CONTEXT)

    def validate_json() -> None:
        for line in lines:
            OutboundMessage.model_validate_json(line, context=CONTEXT)

    cold = clear_normalize_cache

    def rate(run: Callable[[], Any], before: Callable[[], Any] = nothing) -> float:
        return best_rate(run, args.count, args.repeat, before)

    results = [
        ("baseline: json.loads", rate(json_loads)),
        ("reference: orjson.loads", rate(orjson_loads)),
        ("json.loads + model_validate, new numbers", rate(loads_and_validate, cold)),
        ("model_validate_json, new numbers", rate(validate_json, cold)),
        ("model_validate_json, cached numbers", rate(validate_json)),
    ]
    baseline = results[0][1]
    print(f"{args.count:,} messages, {len(MIX)} kinds mixed, best of {args.repeat}")
    for name, rate in results:
        print(f"  {name:<44} {rate:>12,.0f} msg/s   {baseline / rate:6.1f}x baseline time")
    validated = min(rate for name, rate in results if "new numbers" in name)
    verdict = "OK" if validated >= TARGET_PER_SECOND else "BELOW TARGET"
    print(f"slowest validation with new numbers: {validated:,.0f} msg/s "
          f"(target {TARGET_PER_SECOND:,}): {verdict}")  # fmt: skip
    return 1 if args.check and verdict != "OK" else 0


if __name__ == "__main__":
    sys.exit(main())
