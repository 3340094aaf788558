"""Property tests: every length and count limit holds exactly at its boundary.

For each length-limited field, a string of exactly the limit (in code points, drawn from all of
Unicode) passes and one code point more is refused at that field's JSON path; for each count
limit, exactly the maximum passes and one more is refused.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from dispatcher.messages import OutboundMessage, error_paths
from dispatcher.messages.flow import is_emoji

LIMITS = settings(max_examples=25, deadline=None)


def _message(interactive: dict[str, Any]) -> dict[str, Any]:
    return {"to": "918856879188", "type": "interactive", "interactive": interactive}


BASES: dict[str, dict[str, Any]] = {
    "button": _message(
        {
            "type": "button",
            "header": {"type": "text", "text": "Select your plan"},
            "body": {"text": "Choose a plan"},
            "footer": {"text": "Cancel any time"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": "btn_growth", "title": "Growth Plan"}},
                    {"type": "reply", "reply": {"id": "btn_scale", "title": "Scale Plan"}},
                ]
            },
        }
    ),
    "list": _message(
        {
            "type": "list",
            "body": {"text": "Pick a topic"},
            "action": {
                "button": "Select Topic",
                "sections": [
                    {
                        "title": "Help",
                        "rows": [
                            {"id": "row_billing", "title": "Billing", "description": "Plans"},
                            {"id": "row_tech", "title": "Technical"},
                        ],
                    }
                ],
            },
        }
    ),
    "cta_url": _message(
        {
            "type": "cta_url",
            "body": {"text": "See our plans"},
            "action": {
                "name": "cta_url",
                "parameters": {"display_text": "Open", "url": "https://example.com"},
            },
        }
    ),
    "product_list": _message(
        {
            "type": "product_list",
            "header": {"type": "text", "text": "Our range"},
            "body": {"text": "Pick a product"},
            "action": {
                "catalog_id": "cat_1",
                "sections": [{"title": "Tea", "product_items": [{"product_retailer_id": "a"}]}],
            },
        }
    ),
    "flow": _message(
        {
            "type": "flow",
            "body": {"text": "Book a visit"},
            "action": {
                "name": "flow",
                "parameters": {
                    "flow_id": "123",
                    "flow_cta": "Book",
                    "flow_action_payload": {"screen": "START"},
                },
            },
        }
    ),
}


def _set(message: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``message`` with the value at dotted ``path`` (``a.b[0].c``) replaced."""
    message = copy.deepcopy(message)
    keys = [
        int(k) if k.isdigit() else k for k in path.replace("]", "").replace("[", ".").split(".")
    ]
    node: Any = message
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    return message


def _errors(message: dict[str, Any]) -> list[str]:
    """JSON paths of the message's errors; empty when it is valid."""
    try:
        OutboundMessage.model_validate(message)
    except ValidationError as exc:
        return [path for path, _ in error_paths(exc)]
    return []


# --- lengths ------------------------------------------------------------------------------------

# Any code point but surrogates and whitespace (ids refuse outer spaces; that rule has its own
# tests), so the strings stress the code point counting with astral and combining characters.
CHARS = st.characters(exclude_categories=("Cs", "Zs", "Zl", "Zp", "Cc"))
NO_EMOJI = CHARS.filter(lambda char: not is_emoji(char))

LENGTH_LIMITS = [
    # (base, JSON path, maximum, minimum)
    ("button", "interactive.body.text", 1024, 1),
    ("button", "interactive.footer.text", 60, 1),
    ("button", "interactive.header.text", 60, 1),
    ("button", "interactive.action.buttons[0].reply.id", 256, 1),
    ("button", "interactive.action.buttons[1].reply.title", 20, 1),
    ("list", "interactive.action.button", 20, 1),
    ("list", "interactive.action.sections[0].title", 24, 1),
    ("list", "interactive.action.sections[0].rows[1].id", 200, 1),
    ("list", "interactive.action.sections[0].rows[0].title", 24, 1),
    ("list", "interactive.action.sections[0].rows[0].description", 72, 0),
    ("cta_url", "interactive.action.parameters.display_text", 20, 1),
    ("product_list", "interactive.action.sections[0].title", 24, 1),
    ("flow", "interactive.action.parameters.flow_cta", 20, 1),
]


@pytest.mark.parametrize(("base", "path", "maximum", "minimum"), LENGTH_LIMITS)
@LIMITS
@given(data=st.data())
def test_length_limit_is_exact(
    base: str, path: str, maximum: int, minimum: int, data: st.DataObject
) -> None:
    alphabet = NO_EMOJI if path.endswith("flow_cta") else CHARS
    text = data.draw(st.text(alphabet, min_size=maximum, max_size=maximum), label="at limit")
    assert _errors(_set(BASES[base], path, text)) == []
    longer = text + data.draw(alphabet, label="one more")
    assert _errors(_set(BASES[base], path, longer)) == [path]


@pytest.mark.parametrize(("base", "path", "maximum", "minimum"), LENGTH_LIMITS)
def test_length_minimum(base: str, path: str, maximum: int, minimum: int) -> None:
    assert _errors(_set(BASES[base], path, "x" * minimum)) == []
    if minimum:
        assert _errors(_set(BASES[base], path, "")) == [path]


# --- counts -------------------------------------------------------------------------------------

BUTTONS = "interactive.action.buttons"
SECTIONS = "interactive.action.sections"


def _reply(i: int) -> dict[str, Any]:
    return {"type": "reply", "reply": {"id": f"b{i}", "title": f"T{i}"}}


def _split(total: int, parts: int, cuts: list[int]) -> list[int]:
    """Sizes of ``parts`` non-empty groups adding up to ``total``, cut at ``cuts``."""
    bounds = [0, *sorted(cuts), total]
    return [bounds[i + 1] - bounds[i] for i in range(parts)]


@st.composite
def partitions(draw: st.DrawFn, max_total: int, max_parts: int, limit: int) -> list[int]:
    """Group sizes (each at least 1, at most ``max_parts`` groups) of a total up to max_total.

    Half the totals are ``limit`` or ``limit + 1``, so every run crosses the boundary.
    """
    total = draw(st.sampled_from([limit, limit + 1]) | st.integers(1, max_total))
    parts = draw(st.integers(1, min(total, max_parts)))
    cuts = draw(st.lists(st.integers(1, total - 1), min_size=parts - 1, max_size=parts - 1,
                         unique=True)) if parts > 1 else []  # fmt: skip
    return _split(total, parts, cuts)


@pytest.mark.parametrize("count", [0, 1, 2, 3, 4, 5])
def test_buttons_one_to_three(count: int) -> None:
    message = _set(BASES["button"], BUTTONS, [_reply(i) for i in range(count)])
    assert _errors(message) == ([] if 1 <= count <= 3 else [BUTTONS])


@pytest.mark.parametrize("count", [0, 1, 9, 10, 11, 12])
def test_list_sections_one_to_ten(count: int) -> None:
    sections = [{"title": f"S{i}", "rows": [{"id": f"r{i}", "title": "t"}]} for i in range(count)]
    message = _set(BASES["list"], SECTIONS, sections)
    assert _errors(message) == ([] if 1 <= count <= 10 else [SECTIONS])


@LIMITS
@given(sizes=partitions(max_total=14, max_parts=10, limit=10))
def test_list_rows_at_most_ten_in_total_across_sections(sizes: list[int]) -> None:
    rows = iter(range(sum(sizes)))
    sections = [
        {"title": f"S{s}", "rows": [{"id": f"r{next(rows)}", "title": "t"} for _ in range(n)]}
        for s, n in enumerate(sizes)
    ]
    message = _set(BASES["list"], SECTIONS, sections)
    assert _errors(message) == ([] if sum(sizes) <= 10 else [SECTIONS])


@pytest.mark.parametrize("count", [0, 1, 9, 10, 11])
def test_product_sections_one_to_ten(count: int) -> None:
    sections = [
        {"title": f"S{i}", "product_items": [{"product_retailer_id": f"p{i}"}]}
        for i in range(count)
    ]
    message = _set(BASES["product_list"], SECTIONS, sections)
    assert _errors(message) == ([] if 1 <= count <= 10 else [SECTIONS])


@LIMITS
@given(sizes=partitions(max_total=36, max_parts=10, limit=30))
def test_product_items_at_most_thirty_in_total(sizes: list[int]) -> None:
    sections = [
        {"title": f"S{s}", "product_items": [{"product_retailer_id": f"p{i}"} for i in range(n)]}
        for s, n in enumerate(sizes)
    ]
    message = _set(BASES["product_list"], SECTIONS, sections)
    assert _errors(message) == ([] if sum(sizes) <= 30 else [SECTIONS])


@pytest.mark.parametrize(("total", "ok"), [(10, True), (11, False)])
def test_rows_boundary_spread_over_sections(total: int, ok: bool) -> None:
    sizes = _split(total, 3, [3, 7])
    rows = iter(range(total))
    sections = [
        {"title": f"S{s}", "rows": [{"id": f"r{next(rows)}", "title": "t"} for _ in range(n)]}
        for s, n in enumerate(sizes)
    ]
    assert _errors(_set(BASES["list"], SECTIONS, sections)) == ([] if ok else [SECTIONS])


@pytest.mark.parametrize(("total", "ok"), [(30, True), (31, False)])
def test_items_boundary_spread_over_sections(total: int, ok: bool) -> None:
    sizes = _split(total, 4, [5, 12, 29])
    sections = [
        {"title": f"S{s}", "product_items": [{"product_retailer_id": "p"}] * n}
        for s, n in enumerate(sizes)
    ]
    assert _errors(_set(BASES["product_list"], SECTIONS, sections)) == ([] if ok else [SECTIONS])


# --- uniqueness ---------------------------------------------------------------------------------


@LIMITS
@given(ids=st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3))
def test_button_ids_refused_exactly_where_repeated(ids: list[str]) -> None:
    buttons = [
        {"type": "reply", "reply": {"id": id_, "title": f"T{i}"}} for i, id_ in enumerate(ids)
    ]
    repeats = [f"{BUTTONS}[{i}].reply.id" for i, id_ in enumerate(ids) if id_ in ids[:i]]
    assert _errors(_set(BASES["button"], BUTTONS, buttons)) == repeats


@LIMITS
@given(
    titles=st.lists(st.sampled_from(["Yes", "No", "Maybe"]), min_size=1, max_size=3),
)
def test_button_titles_refused_exactly_where_repeated(titles: list[str]) -> None:
    buttons = [
        {"type": "reply", "reply": {"id": f"b{i}", "title": title}}
        for i, title in enumerate(titles)
    ]
    repeats = [f"{BUTTONS}[{i}].reply.title" for i, t in enumerate(titles) if t in titles[:i]]
    assert _errors(_set(BASES["button"], BUTTONS, buttons)) == repeats


@LIMITS
@given(
    sizes=partitions(max_total=10, max_parts=4, limit=9),
    data=st.data(),
)
def test_row_ids_unique_across_sections(sizes: list[int], data: st.DataObject) -> None:
    ids = data.draw(st.lists(st.sampled_from("abcdef"), min_size=sum(sizes), max_size=sum(sizes)))
    it = iter(ids)
    sections = [
        {"title": f"S{s}", "rows": [{"id": next(it), "title": "t"} for _ in range(n)]}
        for s, n in enumerate(sizes)
    ]
    expected = []
    seen: set[str] = set()
    for s, section in enumerate(sections):
        for r, row in enumerate(section["rows"]):
            if row["id"] in seen:
                expected.append(f"{SECTIONS}[{s}].rows[{r}].id")
            seen.add(row["id"])
    assert _errors(_set(BASES["list"], SECTIONS, sections)) == expected
