"""The fast accept path never accepts what jsonschema refuses (property test)."""

from __future__ import annotations

from typing import Any

import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

from callisto.tools._fast_accept import compile_fast_accept

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(-5, 5, allow_nan=False)
    | st.sampled_from(["", "a", "abc", "celsius", "x" * 6]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["a", "b", "c", "city"]), inner, max_size=3
    ),
    max_leaves=8,
)  # fmt: skip

leaf_schemas = st.one_of(
    st.builds(lambda t: {"type": t}, st.sampled_from(
        ["string", "integer", "number", "boolean", "null", "object", "array"])),
    st.just({"type": ["string", "null"]}),
    st.just({"enum": ["a", "celsius"]}),
    st.just({"type": "integer", "minimum": 0, "maximum": 3}),
    st.just({"type": "number", "exclusiveMinimum": -1, "exclusiveMaximum": 1}),
    st.just({"type": "string", "minLength": 1, "maxLength": 3}),
    st.just({}),
    st.just({"description": "anything"}),
)  # fmt: skip

schemas = st.recursive(
    leaf_schemas,
    lambda inner: (
        st.builds(
            lambda props, req, extra: {
                "type": "object",
                "properties": props,
                "required": [k for k in props if k in req],
                "additionalProperties": extra,
            },
            st.dictionaries(st.sampled_from(["a", "b", "city"]), inner, max_size=3),
            st.sets(st.sampled_from(["a", "b", "city"])),
            st.booleans() | inner,
        )
        | st.builds(
            lambda items, n: {"type": "array", "items": items, "maxItems": n},
            inner,
            st.integers(0, 3),
        )
    ),
    max_leaves=6,
)


@settings(max_examples=400, deadline=None)
@given(schema=schemas, value=json_values)
def test_fast_accept_is_sound(schema: dict[str, Any], value: Any) -> None:
    check = compile_fast_accept(schema)
    assert check is not None  # every generated schema is within the subset
    valid = jsonschema.Draft202012Validator(schema).is_valid(value)
    assert check(value) == valid


def test_unsupported_keywords_fall_back() -> None:
    assert compile_fast_accept({"type": "string", "pattern": "^a"}) is None
    assert compile_fast_accept({"anyOf": [{"type": "string"}]}) is None
    assert compile_fast_accept({"enum": [1, True]}) is None
    assert compile_fast_accept({"type": "object", "properties": {"a": {"$ref": "#/x"}}}) is None
