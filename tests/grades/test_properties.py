"""Property-based tests: monotonicity and robustness of the classifier."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from app.grades import assess, check_input
from app.grades.catalogue import FAMILIES, get_catalogue
from tests.grades.conftest import examples

PLASTIC = get_catalogue("plastic_recyclate")
EXAMPLES = examples(PLASTIC)
NAMES = sorted(EXAMPLES)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(st.sets(st.sampled_from(NAMES)), st.sets(st.sampled_from(NAMES)))
def test_adding_valid_fields_never_lowers_the_level(base: set[str], extra: set[str]) -> None:
    small = {k: EXAMPLES[k] for k in base}
    large = {k: EXAMPLES[k] for k in base | extra}
    assert assess(large).level >= assess(small).level


@settings(max_examples=150, deadline=None)
@given(
    st.sets(st.sampled_from(NAMES)),
    st.dictionaries(st.sampled_from(NAMES), json_values, max_size=4),
)
def test_adding_any_value_never_lowers_below_the_valid_core(
    base: set[str], junk: dict[str, Any]
) -> None:
    core = {k: EXAMPLES[k] for k in base if k not in junk}
    level_core = assess(core).level
    a = assess({**core, **junk})
    # junk only replaces fields outside the core, so it can only keep or raise the level
    assert a.level >= level_core
    assert all(i.code for i in a.invalid)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(FAMILIES), st.dictionaries(st.text(max_size=30), json_values, max_size=6))
def test_arbitrary_json_never_crashes(family: str, attrs: dict[str, Any]) -> None:
    a = assess(attrs, family=family)
    assert 0 <= a.level <= a.max_level
    errors = check_input(attrs, family=family)
    assert all(e.pointer.startswith("/") for e in errors)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(NAMES), json_values)
def test_fuzzed_field_value_never_crashes(name: str, value: Any) -> None:
    a = assess({**EXAMPLES, name: value})
    assert (name in a.valid_fields) != any(
        i.field == name for i in a.invalid + a.missing_for_next_level
    ) or value is None
