"""Message templates: per-field rendering, sandboxed and strict, fast path equal to Jinja."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from dispatcher.campaign.template import MessageTemplate, RenderError
from dispatcher.errors import InputError


def block(body: str, title: str = "Growth Plan") -> dict[str, Any]:
    return {"type": "button", "body": {"text": body},
            "action": {"buttons": [{"type": "reply", "reply": {"id": "a", "title": title}}]}}


def test_renders_each_string_field_with_the_row_values() -> None:
    template = MessageTemplate(block("Hi {{ name }}, {{ plan }}?", "{{ plan }} Plan"))
    assert template.variables == ("name", "plan")
    out = template.render(["Asha", "Growth"])
    assert out["body"]["text"] == "Hi Asha, Growth?"
    assert out["action"]["buttons"][0]["reply"]["title"] == "Growth Plan"
    assert template.templated_paths == {"body.text", "action.buttons[0].reply.title"}


def test_values_cannot_break_the_json_or_add_keys() -> None:
    template = MessageTemplate(block("{{ x }}"))
    evil = '", "extra": {"a": 1}, "y": "'
    out = template.render([evil])
    assert out["body"] == {"text": evil}
    assert set(out) == {"type", "body", "action"}


@pytest.mark.parametrize("message", [
    {"type": "button", "{{ k }}": "x"},
    {"type": "{{ kind }}", "body": {"text": "x"}},
    {"type": "button", "header": {"type": "{{ t }}", "text": "x"}},
])
def test_placeholders_in_keys_or_type_are_refused(message: dict[str, Any]) -> None:
    with pytest.raises(InputError, match="placeholders are not allowed"):
        MessageTemplate(message)


def test_template_syntax_error_names_the_field() -> None:
    with pytest.raises(InputError, match=r"message\.body\.text: template syntax error"):
        MessageTemplate(block("Hi {{ name "))


def test_sandbox_refuses_internals() -> None:
    template = MessageTemplate(block("{{ name.__class__.__mro__ }}"))
    with pytest.raises(RenderError) as caught:
        template.render(["x"])
    assert caught.value.path == "body.text"


def test_filters_and_logic_go_through_jinja() -> None:
    template = MessageTemplate(block("{% if vip == 'yes' %}Dear {% endif %}{{ name | upper }}"))
    assert template.render(["Asha", "yes"])["body"]["text"] == "Dear ASHA"
    assert template.render(["Ravi", "no"])["body"]["text"] == "RAVI"


def test_round_trip_through_json_keeps_the_template() -> None:
    template = MessageTemplate(block("Hi {{ name }}"))
    again = MessageTemplate.from_json(template.source_json())
    assert again.render(["Z"]) == template.render(["Z"])


_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_text = st.text(st.characters(blacklist_characters="{}%#"), max_size=12)


@given(st.lists(_text, min_size=1, max_size=4), st.lists(
    st.one_of(_text, st.integers(), st.booleans(), st.floats(allow_nan=False)),
    min_size=3, max_size=3))
def test_fast_path_gives_exactly_what_jinja_gives(literals: list[str], values: list[Any]) -> None:
    names = ["a", "b", "c"]
    source = "".join(lit + "{{ " + names[i % 3] + " }}" for i, lit in enumerate(literals))
    template = MessageTemplate({"type": "button", "body": {"text": source}})
    expected = _ENV.from_string(source).render(dict(zip(names, values, strict=True)))
    ordered = [dict(zip(names, values, strict=True))[n] for n in template.variables]
    assert template.render(ordered)["body"]["text"] == expected
