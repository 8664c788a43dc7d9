"""Shared hypothesis strategies (DESIGN.md convention 8)."""

from hypothesis import strategies as st

#: Any JSON value, nested a little.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=True)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)

iso_dates = st.dates().map(lambda d: d.isoformat())


def maybe(strategy):
    """The strategy, or any JSON value in its place (to fuzz types)."""
    return st.one_of(strategy, json_values)
