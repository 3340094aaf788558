"""Message validation: every rule of interactive-limits.md, the seed examples, error paths."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from pydantic import ValidationError

from dispatcher.messages import (
    NOT_SUPPORTED_TYPES,
    SUPPORTED_TYPES,
    ButtonMessage,
    OutboundMessage,
    error_paths,
    json_path,
)

# --- the seed page's two examples, exactly as published -----------------------------------------

SEED_BUTTON: dict[str, Any] = {
    "to": "918856879188",
    "type": "interactive",
    "interactive": {
        "type": "button",
        "header": {"type": "text", "text": "Select your plan"},
        "body": {"text": "Choose a subscription model to get started:"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": "btn_growth", "title": "Growth Plan"}},
                {"type": "reply", "reply": {"id": "btn_scale", "title": "Scale Plan"}},
            ]
        },
    },
}

SEED_LIST: dict[str, Any] = {
    "to": "918856879188",
    "type": "interactive",
    "interactive": {
        "type": "list",
        "header": {"type": "text", "text": "Support Hub"},
        "body": {"text": "How can we assist you today? Please choose an option from the menu."},
        "action": {
            "button": "Select Topic",
            "sections": [
                {
                    "title": "Help Categories",
                    "rows": [
                        {
                            "id": "row_billing",
                            "title": "Billing & Invoices",
                            "description": "Queries related to plans and payments",
                        },
                        {
                            "id": "row_tech",
                            "title": "Technical Setup",
                            "description": "Webhooks, API keys, and integrations support",
                        },
                        {
                            "id": "row_other",
                            "title": "Speak to Agent",
                            "description": "Transfer directly to a live agent",
                        },
                    ],
                }
            ],
        },
    },
}

# --- one valid message of every other type (keys in the models' declaration order) -------------


def _message(interactive: dict[str, Any]) -> dict[str, Any]:
    return {"to": "918856879188", "type": "interactive", "interactive": interactive}


CTA_URL = _message(
    {
        "type": "cta_url",
        "header": {"type": "image", "image": {"link": "https://example.com/plan.png"}},
        "body": {"text": "See our plans"},
        "footer": {"text": "Prices include tax"},
        "action": {
            "name": "cta_url",
            "parameters": {"display_text": "Open plans", "url": "https://example.com/plans"},
        },
    }
)
PRODUCT = _message(
    {
        "type": "product",
        "body": {"text": "Our best seller"},
        "action": {"catalog_id": "cat_1", "product_retailer_id": "sku_1"},
    }
)
PRODUCT_LIST = _message(
    {
        "type": "product_list",
        "header": {"type": "text", "text": "Our range"},
        "body": {"text": "Pick a product"},
        "action": {
            "catalog_id": "cat_1",
            "sections": [
                {"title": "Tea", "product_items": [{"product_retailer_id": "sku_1"}]},
                {"title": "Coffee", "product_items": [{"product_retailer_id": "sku_2"}]},
            ],
        },
    }
)
CATALOG = _message(
    {
        "type": "catalog_message",
        "body": {"text": "Browse the catalog"},
        "action": {
            "name": "catalog_message",
            "parameters": {"thumbnail_product_retailer_id": "sku_1"},
        },
    }
)
FLOW = _message(
    {
        "type": "flow",
        "header": {"type": "text", "text": "Book a visit"},
        "body": {"text": "Pick a slot"},
        "footer": {"text": "Takes a minute"},
        "action": {
            "name": "flow",
            "parameters": {
                "flow_message_version": "3",
                "flow_token": "tok_1",
                "flow_id": "1197715005513101",
                "flow_cta": "Book now",
                "flow_action": "navigate",
                "flow_action_payload": {"screen": "BOOKING", "data": {"slots": [1, 2]}},
                "mode": "published",
            },
        },
    }
)
LOCATION = _message(
    {
        "type": "location_request_message",
        "body": {"text": "Where should we deliver?"},
        "action": {"name": "send_location"},
    }
)

BASES: dict[str, dict[str, Any]] = {
    "button": SEED_BUTTON,
    "list": SEED_LIST,
    "cta_url": CTA_URL,
    "product": PRODUCT,
    "product_list": PRODUCT_LIST,
    "catalog_message": CATALOG,
    "flow": FLOW,
    "location_request_message": LOCATION,
}

DELETE = object()


def _segments(path: str) -> list[str | int]:
    out: list[str | int] = []
    for part in path.replace("]", "").replace("[", ".").split("."):
        out.append(int(part) if part.isdigit() else part)
    return out


def edited(base: str, *edits: tuple[str, Any]) -> dict[str, Any]:
    """A deep copy of ``BASES[base]`` with each ``(json_path, value)`` set (or DELETE'd)."""
    message = copy.deepcopy(BASES[base])
    for path, value in edits:
        *parents, last = _segments(path)
        node: Any = message
        for key in parents:
            node = node[key]
        if value is DELETE:
            del node[last]
        elif isinstance(node, list) and last == len(node):
            node.append(value)
        else:
            node[last] = value
    return message


def refusal(message: dict[str, Any], context: dict[str, Any] | None = None) -> dict[str, str]:
    """``{json_path: reason}`` of the errors; fails the test if the message passes."""
    with pytest.raises(ValidationError) as info:
        OutboundMessage.model_validate(message, context=context)
    return dict(error_paths(info.value))


def dumped(message: dict[str, Any]) -> str:
    model = OutboundMessage.model_validate(message)
    return json.dumps(model.model_dump(mode="json", exclude_none=True))


# --- the seed examples and valid messages --------------------------------------------------------


@pytest.mark.parametrize("seed", [SEED_BUTTON, SEED_LIST], ids=["button", "list"])
def test_seed_examples_pass_and_dump_to_identical_json(seed: dict[str, Any]) -> None:
    original = json.dumps(seed)
    assert dumped(seed) == original
    assert json.dumps(seed) == original  # validation did not touch the input


@pytest.mark.parametrize("seed", [SEED_BUTTON, SEED_LIST], ids=["button", "list"])
def test_seed_examples_round_trip_through_json_text(seed: dict[str, Any]) -> None:
    model = OutboundMessage.model_validate_json(json.dumps(seed))
    assert model.model_dump_json(exclude_none=True) == json.dumps(seed, separators=(",", ":"))


@pytest.mark.parametrize("kind", list(BASES))
def test_every_type_has_a_valid_message_that_round_trips(kind: str) -> None:
    assert dumped(BASES[kind]) == json.dumps(BASES[kind])


def test_supported_types_are_exactly_the_spec_list() -> None:
    assert set(SUPPORTED_TYPES) == set(BASES)


def test_validated_message_exposes_typed_parts() -> None:
    model = OutboundMessage.model_validate(SEED_BUTTON)
    assert isinstance(model.interactive, ButtonMessage)
    assert [b.reply.id for b in model.interactive.action.buttons] == ["btn_growth", "btn_scale"]


@pytest.mark.parametrize(
    ("base", "edits"),
    [
        ("product", [("interactive.body", DELETE)]),
        ("catalog_message", [("interactive.action.parameters", DELETE)]),
        (
            "product_list",
            [("interactive.action.sections", [{"product_items": [{"product_retailer_id": "a"}]}])],
        ),
        (
            "flow",
            [
                ("interactive.action.parameters.flow_action", "data_exchange"),
                ("interactive.action.parameters.flow_action_payload", DELETE),
            ],
        ),
        (
            "flow",
            [
                ("interactive.action.parameters.flow_id", DELETE),
                ("interactive.action.parameters.flow_name", "booking"),
            ],
        ),
        ("flow", [("interactive.action.parameters.mode", "draft")]),
        ("flow", [("interactive.action.parameters.flow_action_payload.data", DELETE)]),
        ("flow", [("interactive.action.parameters.flow_cta", "Réserver ④ स्वागत")]),
        ("button", [("interactive.header", {"type": "video", "video": {"id": "123"}})]),
        (
            "button",
            [
                (
                    "interactive.header",
                    {"type": "document", "document": {"link": "https://x.io/a.pdf"}},
                )
            ],
        ),
        ("cta_url", [("interactive.action.parameters.url", "http://example.com/x?a=1#f")]),
        ("list", [("interactive.action.sections[0].rows[0].description", DELETE)]),
        ("list", [("interactive.header", DELETE), ("interactive.footer", {"text": "f"})]),
        ("button", [("interactive.action.buttons[0].reply.id", "a b")]),  # inner spaces are fine
        ("location_request_message", [("interactive.footer", {"text": "Thanks"})]),
    ],
)
def test_optional_parts_and_allowed_variants_pass(base: str, edits: list[tuple[str, Any]]) -> None:
    OutboundMessage.model_validate(edited(base, *edits))


def test_lengths_count_code_points_not_bytes_or_utf16_units() -> None:
    title = "🚀" * 20  # 20 code points, 80 UTF-8 bytes, 40 UTF-16 units
    OutboundMessage.model_validate(
        edited("button", ("interactive.action.buttons[0].reply.title", title))
    )
    too_long = edited("button", ("interactive.action.buttons[0].reply.title", title + "🚀"))
    assert "interactive.action.buttons[0].reply.title" in refusal(too_long)


# --- every rule: a message breaking it is refused at the right path ------------------------------

IA = "interactive"
HEADER = "interactive.header"
ACTION = "interactive.action"
BUTTONS = "interactive.action.buttons"
SECTIONS = "interactive.action.sections"
ROWS = "interactive.action.sections[0].rows"
PARAMS = "interactive.action.parameters"
PAYLOAD = "interactive.action.parameters.flow_action_payload"
IMAGE = "interactive.header.image"


def rule(name: str, base: str, edits: list[tuple[str, Any]], where: str) -> Any:
    """One row of the rule table: ``edits`` applied to ``BASES[base]`` are refused at ``where``."""
    return pytest.param(base, edits, where, id=name)


def one(name: str, base: str, path: str, value: Any, where: str | None = None) -> Any:
    """A rule with a single edit, refused at the edited path unless ``where`` says otherwise."""
    return rule(name, base, [(path, value)], where or path)


def _rows(count: int, prefix: str) -> list[dict[str, str]]:
    return [{"id": f"{prefix}{i}", "title": "t"} for i in range(count)]


def _items(count: int) -> list[dict[str, str]]:
    return [{"product_retailer_id": f"p{i}"} for i in range(count)]


_REPLY = {"type": "reply", "reply": {"id": "b2", "title": "T2"}}
_REPLY_3 = {"type": "reply", "reply": {"id": "b3", "title": "T3"}}

RULES = [
    # envelope
    one("to not a number", "button", "to", "hello"),
    one("to invalid for region", "button", "to", "+91885687918"),
    one("to missing", "button", "to", DELETE),
    one("type not interactive", "button", "type", "text"),
    one("interactive missing", "button", IA, DELETE),
    one("interactive not an object", "button", IA, "x"),
    one("interactive.type unknown", "button", f"{IA}.type", "carousel"),
    one("interactive.type missing", "button", f"{IA}.type", DELETE),
    one("interactive.type not a string", "button", f"{IA}.type", 3),
    one("address_message", "button", f"{IA}.type", "address_message"),
    one("voice_call", "button", f"{IA}.type", "voice_call"),
    # body: 1..1024, required except for product
    one("body text empty", "button", f"{IA}.body.text", ""),
    one("body text 1025", "list", f"{IA}.body.text", "b" * 1025),
    one("body text 1025: product", "product", f"{IA}.body.text", "b" * 1025),
    one("body text missing", "button", f"{IA}.body", {}, f"{IA}.body.text"),
    *(
        one(f"body missing: {kind}", kind, f"{IA}.body", DELETE)
        for kind in (
            "button",
            "list",
            "cta_url",
            "product_list",
            "catalog_message",
            "flow",
            "location_request_message",
        )
    ),
    # footer: optional, 1..60
    one("footer text empty", "button", f"{IA}.footer", {"text": ""}, f"{IA}.footer.text"),
    one("footer text 61", "cta_url", f"{IA}.footer.text", "f" * 61),
    one("footer text 61: flow", "flow", f"{IA}.footer.text", "f" * 61),
    # header: text 1..60
    one("header text empty", "button", f"{HEADER}.text", ""),
    one("header text 61", "list", f"{HEADER}.text", "h" * 61),
    one("header text missing", "button", f"{HEADER}.text", DELETE),
    one("header type missing", "button", f"{HEADER}.type", DELETE),
    one("header not an object", "button", HEADER, "Hello"),
    # header: media, exactly one of id / link, link absolute https
    one("media id and link", "cta_url", f"{IMAGE}.id", "1", IMAGE),
    one("media neither", "cta_url", IMAGE, {}),
    one("media link http", "cta_url", f"{IMAGE}.link", "http://e.com/a.png"),
    one("media link relative", "cta_url", f"{IMAGE}.link", "/a.png"),
    one("media link no host", "cta_url", f"{IMAGE}.link", "https:///a.png"),
    one("media link with space", "cta_url", f"{IMAGE}.link", "https://e.com/a b.png"),
    one("media id empty", "cta_url", IMAGE, {"id": ""}, f"{IMAGE}.id"),
    one("video neither", "button", HEADER, {"type": "video", "video": {}}, f"{HEADER}.video"),
    one(
        "document link ftp",
        "button",
        HEADER,
        {"type": "document", "document": {"link": "ftp://e.com/a.pdf"}},
        f"{HEADER}.document.link",
    ),
    # unknown keys, at every level
    one("unknown top-level key", "button", "priority", "high"),
    one("unknown interactive key", "button", f"{IA}.bodyy", {"text": "x"}),
    one("unknown body key", "button", f"{IA}.body.txt", "x"),
    one("unknown header key", "button", f"{HEADER}.caption", "x"),
    one("unknown media key", "cta_url", f"{IMAGE}.caption", "x"),
    one("unknown action key", "button", f"{ACTION}.name", "x"),
    one("unknown reply key", "button", f"{BUTTONS}[1].reply.payload", "x"),
    one("unknown row key", "list", f"{ROWS}[2].image", "x"),
    one("unknown flow parameter", "flow", f"{PARAMS}.flow_version", "3"),
    one("unknown item key", "product_list", f"{SECTIONS}[0].product_items[0].qty", 1),
    one("odd unknown key", "button", f"{IA}.body.te xt", "x", f'{IA}.body["te xt"]'),
    # button
    one("button: header type location", "button", HEADER, {"type": "loc"}, f"{HEADER}.type"),
    one("buttons empty", "button", BUTTONS, []),
    rule("buttons 4", "button", [(f"{BUTTONS}[2]", _REPLY), (f"{BUTTONS}[3]", _REPLY_3)], BUTTONS),
    one("buttons missing", "button", BUTTONS, DELETE),
    one("button type not reply", "button", f"{BUTTONS}[1].type", "url"),
    one("button id empty", "button", f"{BUTTONS}[0].reply.id", ""),
    one("button id 257", "button", f"{BUTTONS}[1].reply.id", "i" * 257),
    one("button id leading space", "button", f"{BUTTONS}[0].reply.id", " btn"),
    one("button id trailing space", "button", f"{BUTTONS}[1].reply.id", "btn "),
    one("button id trailing newline", "button", f"{BUTTONS}[1].reply.id", "btn\n"),
    one("button id duplicate", "button", f"{BUTTONS}[1].reply.id", "btn_growth"),
    one("button title empty", "button", f"{BUTTONS}[0].reply.title", ""),
    one("button title 21", "button", f"{BUTTONS}[1].reply.title", "t" * 21),
    one("button title duplicate", "button", f"{BUTTONS}[1].reply.title", "Growth Plan"),
    # list
    one(
        "list header image",
        "list",
        HEADER,
        {"type": "image", "image": {"id": "1"}},
        f"{HEADER}.type",
    ),
    one("list button empty", "list", f"{ACTION}.button", ""),
    one("list button 21", "list", f"{ACTION}.button", "b" * 21),
    one("list button missing", "list", f"{ACTION}.button", DELETE),
    one("list sections empty", "list", SECTIONS, []),
    one(
        "list sections 11",
        "list",
        SECTIONS,
        [{"title": f"S{i}", "rows": _rows(1, f"r{i}-")} for i in range(11)],
    ),
    one(
        "list rows 11 in total",
        "list",
        f"{SECTIONS}[1]",
        {"title": "More", "rows": _rows(8, "x")},
        SECTIONS,
    ),
    one("list section without rows", "list", ROWS, []),
    one("list section title missing", "list", f"{SECTIONS}[0].title", DELETE),
    one("list section title empty", "list", f"{SECTIONS}[0].title", ""),
    one("list section title 25", "list", f"{SECTIONS}[0].title", "s" * 25),
    one("row id empty", "list", f"{ROWS}[0].id", ""),
    one("row id 201", "list", f"{ROWS}[1].id", "r" * 201),
    one("row id duplicate in section", "list", f"{ROWS}[2].id", "row_tech"),
    one(
        "row id duplicate across sections",
        "list",
        f"{SECTIONS}[1]",
        {"title": "More", "rows": [{"id": "row_billing", "title": "t"}]},
        f"{SECTIONS}[1].rows[0].id",
    ),
    one("row title empty", "list", f"{ROWS}[0].title", ""),
    one("row title 25", "list", f"{ROWS}[2].title", "t" * 25),
    one("row description 73", "list", f"{ROWS}[0].description", "d" * 73),
    # cta_url
    one("cta header location", "cta_url", HEADER, {"type": "location"}, f"{HEADER}.type"),
    one("cta display_text empty", "cta_url", f"{PARAMS}.display_text", ""),
    one("cta display_text 21", "cta_url", f"{PARAMS}.display_text", "d" * 21),
    one("cta url ftp", "cta_url", f"{PARAMS}.url", "ftp://example.com"),
    one("cta url relative", "cta_url", f"{PARAMS}.url", "example.com/plans"),
    one("cta url javascript", "cta_url", f"{PARAMS}.url", "javascript:alert(1)"),
    one("cta url missing", "cta_url", f"{PARAMS}.url", DELETE),
    one("cta name wrong", "cta_url", f"{ACTION}.name", "url"),
    # product
    one("product header", "product", HEADER, {"type": "text", "text": "x"}),
    one("product catalog_id empty", "product", f"{ACTION}.catalog_id", ""),
    one("product retailer id empty", "product", f"{ACTION}.product_retailer_id", ""),
    one("product retailer id missing", "product", f"{ACTION}.product_retailer_id", DELETE),
    # product_list
    one("product_list header missing", "product_list", HEADER, DELETE),
    one("product_list header image", "product_list", HEADER, {"type": "image"}, f"{HEADER}.type"),
    one("product_list catalog_id empty", "product_list", f"{ACTION}.catalog_id", ""),
    one("product_list sections empty", "product_list", SECTIONS, []),
    one(
        "product_list sections 11",
        "product_list",
        SECTIONS,
        [{"title": f"S{i}", "product_items": _items(1)} for i in range(11)],
    ),
    one("product_list section empty", "product_list", f"{SECTIONS}[0].product_items", []),
    one(
        "product_list 31 items",
        "product_list",
        f"{SECTIONS}[0].product_items",
        _items(30),
        SECTIONS,
    ),
    one("product_list untitled among several", "product_list", f"{SECTIONS}[1].title", DELETE),
    one("product_list section title 25", "product_list", f"{SECTIONS}[0].title", "s" * 25),
    one(
        "product_list retailer id empty",
        "product_list",
        f"{SECTIONS}[0].product_items[0].product_retailer_id",
        "",
    ),
    # catalog_message
    one("catalog header", "catalog_message", HEADER, {"type": "text", "text": "x"}),
    one("catalog header null", "catalog_message", HEADER, None),
    one("catalog name wrong", "catalog_message", f"{ACTION}.name", "catalog"),
    one(
        "catalog thumbnail empty", "catalog_message", f"{PARAMS}.thumbnail_product_retailer_id", ""
    ),
    # flow
    one(
        "flow header image",
        "flow",
        HEADER,
        {"type": "image", "image": {"id": "1"}},
        f"{HEADER}.type",
    ),
    one("flow id and name", "flow", f"{PARAMS}.flow_name", "booking"),
    one("flow neither id nor name", "flow", f"{PARAMS}.flow_id", DELETE, PARAMS),
    one("flow_cta missing", "flow", f"{PARAMS}.flow_cta", DELETE),
    one("flow_cta empty", "flow", f"{PARAMS}.flow_cta", ""),
    one("flow_cta 21", "flow", f"{PARAMS}.flow_cta", "c" * 21),
    one("flow_cta emoji", "flow", f"{PARAMS}.flow_cta", "Book 📅"),
    one("flow_cta emoji with selector", "flow", f"{PARAMS}.flow_cta", "Go ❤️"),
    one("flow_cta keycap", "flow", f"{PARAMS}.flow_cta", "Press 1\ufe0f\u20e3"),
    one("flow_cta emoji newer than python", "flow", f"{PARAMS}.flow_cta", "Go \U0001fa77"),
    one("flow_action unknown", "flow", f"{PARAMS}.flow_action", "open"),
    one("navigate without payload", "flow", PAYLOAD, DELETE),
    one("payload without screen", "flow", f"{PAYLOAD}.screen", DELETE),
    one("payload with data_exchange", "flow", f"{PARAMS}.flow_action", "data_exchange", PAYLOAD),
    one("payload data empty", "flow", f"{PAYLOAD}.data", {}),
    one("payload data not an object", "flow", f"{PAYLOAD}.data", [1]),
    one("flow mode unknown", "flow", f"{PARAMS}.mode", "live"),
    one("flow name wrong", "flow", f"{ACTION}.name", "flows"),
    # location_request_message
    one("location header", "location_request_message", HEADER, {"type": "text", "text": "x"}),
    one("location action name", "location_request_message", f"{ACTION}.name", "location"),
    one("location action missing", "location_request_message", ACTION, DELETE),
]


@pytest.mark.parametrize(("base", "edits", "path"), RULES)
def test_rule_is_enforced_at_its_json_path(
    base: str, edits: list[tuple[str, Any]], path: str
) -> None:
    errors = refusal(edited(base, *edits))
    assert list(errors) == [path], errors  # that path, and no collateral errors


def test_rule_ids_are_unique() -> None:
    names = [r.id for r in RULES]
    assert len(names) == len(set(names))


# --- messages -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edits", "path", "expected"),
    [
        (
            [("interactive.action.buttons[1].reply.title", "t" * 21)],
            "interactive.action.buttons[1].reply.title",
            "String should have at most 20 characters",
        ),
        (
            [("interactive.action.buttons[1].reply.id", "btn_growth")],
            "interactive.action.buttons[1].reply.id",
            "same id as buttons[0]",
        ),
        (
            [("interactive.header.text", DELETE)],
            "interactive.header.text",
            "required field is missing",
        ),
        ([("interactive.bodyy", {})], "interactive.bodyy", "unknown field"),
        (
            [("interactive.header", {"type": "image", "image": {"link": "http://e.com/a.png"}})],
            "interactive.header.image.link",
            "must be an absolute https URL",
        ),
        (
            [("interactive.header", {"type": "image", "image": {}})],
            "interactive.header.image",
            "give exactly one of 'id' or 'link'",
        ),
        (
            [("interactive.header", {"type": "sticker"})],
            "interactive.header.type",
            "header type must be one of: text, image, video, document",
        ),
        ([("interactive.header", 5)], "interactive.header", "must be an object"),
        ([("to", "08856879188")], "to", "national number needs a default region"),
    ],
)
def test_error_messages_are_short_and_clear(
    edits: list[tuple[str, Any]], path: str, expected: str
) -> None:
    assert refusal(edited("button", *edits))[path] == expected


def test_unsupported_types_say_not_supported() -> None:
    for kind in sorted(NOT_SUPPORTED_TYPES):
        reason = refusal(edited("button", ("interactive.type", kind)))["interactive.type"]
        assert reason.startswith(f"'{kind}' messages are not supported")


def test_unknown_type_lists_the_supported_types() -> None:
    reason = refusal(edited("button", ("interactive.type", "carousel")))["interactive.type"]
    assert reason.startswith("unknown interactive type")
    for kind in SUPPORTED_TYPES:
        assert kind in reason


def test_wrong_type_reports_only_the_type_not_every_field() -> None:
    assert list(refusal(edited("list", ("interactive.type", "menu")))) == ["interactive.type"]


def test_media_header_key_must_match_its_type() -> None:
    errors = refusal(
        edited("button", ("interactive.header", {"type": "image", "video": {"id": "1"}}))
    )
    assert errors == {
        "interactive.header.image": "required field is missing",
        "interactive.header.video": "unknown field",
    }


def test_list_header_must_be_text() -> None:
    errors = refusal(
        edited("list", ("interactive.header", {"type": "video", "video": {"id": "1"}}))
    )
    assert errors == {"interactive.header.type": "header type must be 'text' for this message type"}


def test_not_allowed_header_names_the_type() -> None:
    errors = refusal(edited("product", ("interactive.header", {"type": "text", "text": "x"})))
    assert errors == {"interactive.header": "product messages take no header"}


def test_total_limits_report_the_count() -> None:
    errors = refusal(edited("list", (f"{SECTIONS}[1]", {"title": "More", "rows": _rows(8, "x")})))
    assert errors[SECTIONS] == "at most 10 rows in total across all sections, got 11"
    errors = refusal(edited("product_list", (f"{SECTIONS}[0].product_items", _items(30))))
    assert errors[SECTIONS] == "at most 30 product items in total, got 31"


def test_several_errors_are_all_reported() -> None:
    errors = refusal(
        edited(
            "button",
            ("to", "abc"),
            ("interactive.body.text", ""),
            ("interactive.action.buttons[0].reply.title", "t" * 30),
        )
    )
    assert set(errors) == {
        "to",
        "interactive.body.text",
        "interactive.action.buttons[0].reply.title",
    }


def test_messages_are_one_line_and_do_not_echo_the_number() -> None:
    with pytest.raises(ValidationError) as info:
        OutboundMessage.model_validate(edited("button", ("to", "+91885687918")))
    assert "885687918" not in str(info.value)  # inputs are hidden in the error string
    for _, message in error_paths(info.value):
        assert "\n" not in message and message


def test_json_and_python_inputs_give_the_same_paths() -> None:
    message = edited("list", ("interactive.action.sections[0].rows[1].title", "t" * 25))
    with pytest.raises(ValidationError) as info:
        OutboundMessage.model_validate_json(json.dumps(message))
    assert error_paths(info.value) == list(refusal(message).items())


def test_invalid_json_text_is_reported_at_the_root() -> None:
    with pytest.raises(ValidationError) as info:
        OutboundMessage.model_validate_json("{not json")
    assert error_paths(info.value)[0][0] == "$"


def test_non_object_message_is_reported_at_the_root() -> None:
    with pytest.raises(ValidationError) as info:
        OutboundMessage.model_validate(["to"])
    assert error_paths(info.value) == [("$", "must be an object")]


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        (
            ("interactive", "button", "action", "buttons", 1, "reply", "title"),
            "interactive.action.buttons[1].reply.title",
        ),
        (("interactive", "list", "header", "text", "text"), "interactive.header.text"),
        (
            ("interactive", "cta_url", "header", "image", "image", "link"),
            "interactive.header.image.link",
        ),
        (("interactive", "unsupported", "type"), "interactive.type"),
        (("interactive", "product", "header"), "interactive.header"),
        (("interactive",), "interactive"),
        (("to",), "to"),
        ((), "$"),
        (
            ("interactive", "flow", "action", "parameters", "flow_action_payload", "data", "a b"),
            'interactive.action.parameters.flow_action_payload.data["a b"]',
        ),
    ],
)
def test_json_path_drops_union_tags(loc: tuple[int | str, ...], path: str) -> None:
    assert json_path(loc) == path


# --- the recipient ------------------------------------------------------------------------------


@pytest.mark.parametrize("to", ["+918856879188", "918856879188", "+91 88568 79188"])
def test_to_is_normalised_to_digits(to: str) -> None:
    model = OutboundMessage.model_validate(edited("button", ("to", to)))
    assert model.to == "918856879188"


def test_national_number_needs_the_default_region_from_context() -> None:
    message = edited("button", ("to", "088568 79188"))
    assert refusal(message)["to"] == "national number needs a default region"
    assert refusal(message, context={"default_region": None})["to"]
    model = OutboundMessage.model_validate(message, context={"default_region": "IN"})
    assert model.to == "918856879188"


def test_number_invalid_for_its_region_is_refused_with_the_region() -> None:
    message = edited("button", ("to", "+91885687918"))
    assert refusal(message)["to"] == "not a valid number for region IN"


def test_to_must_be_a_string() -> None:
    assert "to" in refusal(edited("button", ("to", 918856879188)))


def test_repr_and_str_mask_the_recipient() -> None:
    model = OutboundMessage.model_validate(SEED_BUTTON)
    for text in (repr(model), str(model)):
        assert "918856879188" not in text
        assert "9188******88" in text
    assert model.to == "918856879188"
