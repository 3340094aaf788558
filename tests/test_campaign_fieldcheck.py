"""Per-row validation of the templated parts only gives the full model's verdict.

For templates of every kind of field (limits, spaces, URLs, literals, ids unique across
buttons/rows/items, the flow's cross-field rules, media sources), random and boundary values
are rendered and the row is checked both ways: ``FieldChecks`` (the parts) against the whole
``OutboundMessage``; and ``RowChecker.check`` against a reference that validates every message
whole, comparing accept/reject, the problems and the stored payload.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher.campaign.fieldcheck import WHOLE, FieldChecks, scope_of
from dispatcher.campaign.readers import Row
from dispatcher.campaign.rows import PROBE_TO, Accepted, RowChecker, _validate_block
from dispatcher.campaign.template import MessageTemplate, RenderError
from dispatcher.checking import Problem
from dispatcher.messages.button import ButtonAction
from dispatcher.messages.common import Body
from dispatcher.messages.flow import FlowParameters

REPLY = "reply"
TEMPLATES: dict[str, dict[str, Any]] = {
    "bench button": {
        "type": "button", "header": {"type": "text", "text": "Select your plan"},
        "body": {"text": "Hi {{ a }}, choose a subscription model to get started:"},
        "footer": {"text": "Reply STOP to opt out"},
        "action": {"buttons": [
            {"type": REPLY, "reply": {"id": "btn_growth", "title": "{{ b }} Plan"}},
            {"type": REPLY, "reply": {"id": "btn_scale", "title": "Scale Plan"}}]}},
    "button ids and titles": {
        "type": "button", "header": {"type": "text", "text": "{{ a }}"},
        "body": {"text": "{{ a }}{{ b }}"}, "footer": {"text": "{{ b }}"},
        "action": {"buttons": [
            {"type": REPLY, "reply": {"id": "{{ a }}", "title": "{{ b }}"}},
            {"type": REPLY, "reply": {"id": "{{ b }}", "title": "x {{ a }}"}},
            {"type": REPLY, "reply": {"id": "btn_scale", "title": "Scale Plan"}}]}},
    "button media header": {
        "type": "button", "header": {"type": "image", "image": {"link": "https://cdn.io/{{ a }}"}},
        "body": {"text": "Hi"},
        "action": {"buttons": [{"type": REPLY, "reply": {"id": "x", "title": "{{ b | upper }}"}}]}},
    "list": {
        "type": "list", "header": {"type": "text", "text": "Support {{ a }}"},
        "body": {"text": "How can we help?"},
        "action": {"button": "{{ a }}", "sections": [
            {"title": "{{ b }}", "rows": [
                {"id": "{{ a }}", "title": "{{ b }}", "description": "{{ a }}{{ b }}"},
                {"id": "row_tech", "title": "Technical Setup"}]},
            {"title": "Other", "rows": [{"id": "{{ b }}", "title": "Agent"}]}]}},
    "cta_url": {
        "type": "cta_url",
        "header": {"type": "document", "document": {"link": "https://x.io/{{ a }}"}},
        "body": {"text": "See {{ b }}"},
        "action": {"name": "cta_url",
                   "parameters": {"display_text": "{{ b }}", "url": "{{ a }}"}}},
    "product_list": {
        "type": "product_list", "header": {"type": "text", "text": "Range"},
        "body": {"text": "Pick {{ a }}"},
        "action": {"catalog_id": "{{ b }}", "sections": [
            {"title": "{{ a }}", "product_items": [{"product_retailer_id": "{{ b }}"}]},
            {"title": "Coffee", "product_items": [{"product_retailer_id": "sku_2"}]}]}},
    "flow": {
        "type": "flow", "body": {"text": "Pick a slot"},
        "action": {"name": "flow", "parameters": {
            "flow_message_version": "3", "flow_token": "{{ a }}", "flow_id": "1197715005513101",
            "flow_cta": "{{ b }}", "flow_action": "navigate",
            "flow_action_payload": {"screen": "{{ b }}", "data": {"k": "{{ a }}"}}}}},
    "flow literals": {
        "type": "flow", "body": {"text": "Pick a slot"},
        "action": {"name": "flow", "parameters": {
            "flow_message_version": "3", "flow_token": "t", "flow_name": "{{ b }}",
            "flow_cta": "Go", "flow_action": "{{ a }}",
            "flow_action_payload": {"screen": "{{ b }}"}, "mode": "{{ b }}"}}},
}
# values a template's literals (flow_action, mode) can take, mixed with others
LITERALS = st.sampled_from(["navigate", "data_exchange", "draft", "published", "", "x"])
SPECIAL = ["", " ", "x", "Scale", "Scale Plan", "btn_scale", "row_tech", "Agent", "sku_2", "Coffee",
           "navigate", "data_exchange", "draft", "published", " lead", "trail ", "GROWTH",
           "https://example.com/x", "http://example.com/a", "ftp://x.io", "https://", "a b",
           "1197715005513101", "BOOKING", "\n", "Growth", "é" * 20, "😀" * 10]
SPECIAL += ["a" * n for n in (15, 16, 19, 20, 21, 23, 24, 25, 55, 56, 59, 60, 61, 72, 73, 199,
                              200, 201, 255, 256, 257, 1000, 1019, 1020, 1024, 1025)]
VALUES = st.one_of(st.sampled_from(SPECIAL), st.text(max_size=25), st.integers(-5, 10**6))


def reference(template: MessageTemplate, row: Row) -> Accepted | list[Problem]:
    """What a row gives when every message is validated whole (no parts, no caches)."""
    try:
        block = template.render(row.values)
    except RenderError as exc:
        return [Problem(row.line, f"interactive.{exc.path}", exc.reason)]
    errors = _validate_block(block, None)
    if errors:
        return [Problem(row.line, path, reason) for path, reason in errors]
    return Accepted(row.line, PROBE_TO, orjson.dumps(row.values).decode())


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_the_parts_verdict_is_the_whole_messages(name: str) -> None:
    template = MessageTemplate(copy.deepcopy(TEMPLATES[name]))
    checker = RowChecker(template, None)
    verdicts = set()
    values = LITERALS if name == "flow literals" else VALUES
    pairs = st.one_of(st.lists(values, min_size=2, max_size=2), values.map(lambda v: [v, v]))

    @settings(max_examples=300, deadline=None)
    @given(pairs)
    def check(values: list[Any]) -> None:
        row = Row(7, PROBE_TO, values)
        try:
            strings = template.rendered_strings(values)
        except RenderError:
            strings = None
        if strings is not None:
            whole = not _validate_block(template.build(strings), None)
            assert FieldChecks(*_envelope(template)).valid(strings) == whole, strings
            assert checker._parts.valid(strings) == whole, strings  # with its remembered verdicts
            verdicts.add(whole)
        assert checker.check(row) == reference(template, row)

    check()
    assert verdicts == {True, False}  # both kinds of rows were tried


def _envelope(template: MessageTemplate) -> tuple[dict[str, Any], list[Any], None]:
    message = {"to": PROBE_TO, "type": "interactive", "interactive": template.block}
    return message, [("interactive", *p) for p in template.field_paths], None


def test_scopes_are_the_holding_model_or_the_one_with_a_rule_across_fields() -> None:
    message, paths, _ = _envelope(MessageTemplate(copy.deepcopy(TEMPLATES["bench button"])))
    assert [scope_of(message, p) for p in paths] == [
        (("interactive", "body"), Body), (("interactive", "action"), ButtonAction)]
    message, paths, _ = _envelope(MessageTemplate(copy.deepcopy(TEMPLATES["flow literals"])))
    assert {scope_of(message, p) for p in paths} == {
        (("interactive", "action", "parameters"), FlowParameters)}
    assert scope_of(message, ("interactive", "nope", "text")) == WHOLE


def test_a_part_is_validated_once_per_distinct_value() -> None:
    template = MessageTemplate(copy.deepcopy(TEMPLATES["bench button"]))
    checks = FieldChecks(*_envelope(template))
    for i in range(100):
        assert checks.valid(template.rendered_strings([f"Name{i}", "Growth"]))
    body, action = checks.parts
    assert len(body._seen) == 100 and len(action._seen) == 1
