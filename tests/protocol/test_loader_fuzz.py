"""A mutated protocol file gives a valid protocol or a ProtocolError with located problems, never a crash."""

import contextlib
import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from oligotrial.errors import ProtocolError
from oligotrial.protocol import parse_protocol
from oligotrial.protocol.loader import DEFAULT_PROTOCOL

TEXT = (Path(__file__).resolve().parents[2] / "src" / "oligotrial" / "protocol" / DEFAULT_PROTOCOL).read_text(
    encoding="utf-8"
)
SCALARS = [m for m in re.finditer(r"(?<=: )[^\s{}\[\],#][^,}\]\n#]*", TEXT)]
REPLACEMENTS = st.sampled_from(
    ["0", "-1", "999999", "1.5", "abc", "true", "null", "[]", "{}", "''", "[1, 2]", "3e400"]
)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(SCALARS) - 1), REPLACEMENTS), min_size=1, max_size=4))
def test_mutated_protocol_is_valid_or_refused_with_located_problems(mutations):
    text = TEXT
    for index, replacement in sorted(mutations, key=lambda m: -SCALARS[m[0]].start()):
        match = SCALARS[index]
        text = text[: match.start()] + replacement + text[match.end() :]
    try:
        parse_protocol(text)
    except ProtocolError as error:
        for problem in error.problems:
            assert re.fullmatch(r"PROTO-0\d\d", problem.code)
            assert problem.field and problem.message


@settings(max_examples=100, deadline=None)
@given(st.integers(0, len(TEXT) - 1), st.integers(1, 40))
def test_truncated_or_cut_protocol_never_crashes(start, length):
    with contextlib.suppress(ProtocolError):
        parse_protocol(TEXT[:start] + TEXT[start + length :])
