"""PostgreSQL's metadata check (``pg_temp.ledger_metadata_object``) against Python's JSON reader.

The check has two ways through: a flat object (no ``[`` and no ``{`` after its first character) only has its
top-level keys counted; anything else has every node of the json and the jsonb value counted. Hypothesis
writes JSON texts (nested or flat, keys repeated or not, brackets and NULs inside strings), and the oracle is
``json.loads`` with a hook that sees every object's key list: the text is an object, every object in it
names each key once, and no string holds a NUL (jsonb cannot keep one). The canonical text must be jsonb's.
"""

from __future__ import annotations

import json

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger_pipeline.ledger.engines.postgres import _METADATA_OBJECT_FUNCTION
from tests.conftest import PG_URL

_KEYS = st.sampled_from(["a", "b", "k", "{", "[", "x]", "\\u0000", "é"])
_STRINGS = st.sampled_from(["", "v", "[", "{", "}", "]", "a,b", "\\\\", "\\u0000", "\\\"{\\\"", "ü"])
_SCALARS = st.one_of(st.integers(-5, 5).map(str), st.sampled_from(["true", "null", "1.50"]),
                     _STRINGS.map(lambda s: f'"{s}"'))


def _object(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pairs = st.lists(st.tuples(_KEYS, children), max_size=4)
    return pairs.map(lambda ps: "{" + ", ".join(f'"{k}": {v}' for k, v in ps) + "}")


_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    _object(inner), st.lists(inner, max_size=3).map(lambda xs: "[" + ",".join(xs) + "]")), max_leaves=8)
_TEXTS = st.one_of(_object(_VALUES), _object(_SCALARS), _VALUES, st.sampled_from(["{", "{}x", "", " {}"]))


class _Repeated(Exception):
    pass


def _no_repeats(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise _Repeated
    return dict(pairs)


def _holds_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


def _is_metadata(text: str) -> bool:
    try:
        value = json.loads(text, object_pairs_hook=_no_repeats)
    except (ValueError, _Repeated):
        return False
    return isinstance(value, dict) and not _holds_nul(value)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(_TEXTS, min_size=1, max_size=20))
def test_the_check_agrees_with_pythons_json_reader(texts):
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(_METADATA_OBJECT_FUNCTION)
        rows = conn.execute(
            "SELECT t, pg_temp.ledger_metadata_object(t), "
            "CASE WHEN pg_temp.ledger_metadata_object(t) IS NOT NULL THEN CAST(CAST(t AS jsonb) AS TEXT) END "
            "FROM unnest(CAST(%s AS TEXT[])) t", (texts,)).fetchall()
    for text, canonical, jsonb_text in rows:
        assert (canonical is not None) == _is_metadata(text), text
        assert canonical == jsonb_text, text
