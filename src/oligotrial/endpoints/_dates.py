"""ISO 8601 dates of SDTM text cells parsed by a compiled pass over the strings' bytes (numba; private).

The text reaches the kernel without a copy through the Arrow C stream interface (the PyCapsule protocol,
``Series.__arrow_c_stream__``), read with :mod:`ctypes`: polars hands its strings over as an Arrow string
view array (format ``vu``), whose 16-byte views hold strings of up to 12 bytes inline (every date, most
date-times) and point into data buffers for longer ones. Imported on first use (it loads numba). The typed
entry point is :func:`parse_iso_dates`; whenever it cannot decide every cell exactly as the polars
expressions of :mod:`oligotrial.endpoints.sdtm` would (another Arrow layout, a non-ASCII cell, a big-endian
machine), it returns ``None`` and the caller uses those expressions.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Final

import numpy as np
import polars as pl
from numba import types
from numpy.typing import NDArray

from oligotrial._compiled import kernel
from oligotrial._days import dates_of

__all__ = ["parse_iso_dates"]

Bytes = NDArray[np.uint8]
Words = NDArray[np.uint64]
Ints = NDArray[np.int64]
Codes = NDArray[np.int8]

#: Cell status written by the kernels.
NULL: Final = 0  # a null cell
DATE: Final = 1  # a date (its days since 1970 written)
NOT_A_DATE: Final = 2  # text that is not an ISO 8601 date (or date-time, as asked)
UNDECIDED: Final = 3  # non-ASCII text: left to the polars expressions
LONG: Final = 4  # longer than 12 bytes: its text is in a data buffer, read by a second pass

_INLINE = 12  # longest string held inside its view


class _ArrowSchema(ctypes.Structure):
    pass


class _ArrowArray(ctypes.Structure):
    pass


class _ArrowArrayStream(ctypes.Structure):
    pass


# the structs of the Arrow C data and C stream interfaces (ABI-stable, arrow.apache.org/docs/format)
_ArrowSchema._fields_ = [
    ("format", ctypes.c_char_p),
    ("name", ctypes.c_char_p),
    ("metadata", ctypes.c_void_p),
    ("flags", ctypes.c_int64),
    ("n_children", ctypes.c_int64),
    ("children", ctypes.c_void_p),
    ("dictionary", ctypes.c_void_p),
    ("release", ctypes.CFUNCTYPE(None, ctypes.POINTER(_ArrowSchema))),
    ("private_data", ctypes.c_void_p),
]
_ArrowArray._fields_ = [
    ("length", ctypes.c_int64),
    ("null_count", ctypes.c_int64),
    ("offset", ctypes.c_int64),
    ("n_buffers", ctypes.c_int64),
    ("n_children", ctypes.c_int64),
    ("buffers", ctypes.POINTER(ctypes.c_void_p)),
    ("children", ctypes.c_void_p),
    ("dictionary", ctypes.c_void_p),
    ("release", ctypes.CFUNCTYPE(None, ctypes.POINTER(_ArrowArray))),
    ("private_data", ctypes.c_void_p),
]
_ArrowArrayStream._fields_ = [
    (
        "get_schema",
        ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(_ArrowArrayStream), ctypes.POINTER(_ArrowSchema)),
    ),
    (
        "get_next",
        ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(_ArrowArrayStream), ctypes.POINTER(_ArrowArray)),
    ),
    ("get_last_error", ctypes.CFUNCTYPE(ctypes.c_char_p, ctypes.POINTER(_ArrowArrayStream))),
    ("release", ctypes.CFUNCTYPE(None, ctypes.POINTER(_ArrowArrayStream))),
    ("private_data", ctypes.c_void_p),
]
_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


_BYTE = np.uint64(0xFF)
_HIGH_BITS = np.uint64(0x8080808080808080)
_DATE_CHARS = np.uint64(0x2D30302D30303030)  # "0000-00-" as a little-endian word
_BELOW_TEN = np.uint64(0x7676767676767676)  # + a byte below 10 leaves its high bit clear


@kernel()
def _is_time_char(byte: int | np.int64) -> bool | np.bool_:
    """Whether ``byte`` may follow the ``T`` of a date-time: a digit, ``:`` or ``.``.

    Notes
    -----
    The class ``[\\d:.]`` of the ISO pattern of :func:`oligotrial.endpoints.sdtm._typed`, for ASCII bytes.
    """
    return 48 <= byte <= 58 or byte == 46  # '0'-'9', ':', '.'


@kernel()
def _date_of(
    head: np.uint64, tail: np.uint64, size: int | np.int64, whole: bool
) -> tuple[int, int | np.int64]:
    """The status and day (days since 1970) of a text of ``size`` bytes whose first twelve bytes are the
    little-endian words ``head`` (bytes 0-7) and ``tail`` (bytes 8-11 in its low half).

    Parameters
    ----------
    head, tail
        The text's first twelve bytes; bytes past its end may hold anything (then only ``UNDECIDED`` can
        come of them, never a date).
    size
        The text's length in bytes. Bytes past the twelfth are checked by the caller.
    whole
        ``True``: the whole text must be an ISO 8601 date ``YYYY-MM-DD`` or a date-time ``YYYY-MM-DDT``
        followed by digits, ``:`` and ``.`` (the date part is the day); ``False``: its first ten characters
        must be such a date, whatever follows.

    Returns
    -------
    tuple of int
        ``(DATE, day)``, ``(NOT_A_DATE, 0)`` or ``(UNDECIDED, 0)`` (a non-ASCII byte where it matters).

    Notes
    -----
    SDTM dates are ISO 8601 (SDTMIG 3.4 section 4.4.1). ``whole`` is the check of
    :func:`oligotrial.endpoints.sdtm._typed`, the pattern ``^\\d{4}-\\d{2}-\\d{2}(T[\\d:.]+)?$`` then a
    ``%Y-%m-%d`` parse of the first ten characters; otherwise the parse of the first ten characters
    (:func:`oligotrial.endpoints.sdtm._tr_dates`). A calendar date is a month 01-12 and a day of that month
    in the proleptic Gregorian calendar (a leap year divisible by 4, and by 400 when by 100). The pattern's
    ``\\d`` also matches non-ASCII digits (polars' regular expressions are Unicode-aware), so non-ASCII text
    is left undecided. The eight digits and two hyphens are checked at once on the word (each byte minus
    ``'0'`` below 10).
    """
    if (head | (tail if whole else tail & np.uint64(0xFFFF))) & _HIGH_BITS:
        return UNDECIDED, 0
    if size < 10:
        return NOT_A_DATE, 0
    date = head ^ _DATE_CHARS  # digits to 0-9, the hyphens to 0
    day_digits = (tail & np.uint64(0xFFFF)) ^ np.uint64(0x3030)
    if ((date + _BELOW_TEN) | date) & _HIGH_BITS or (
        (day_digits + np.uint64(0x7676)) | day_digits
    ) & np.uint64(0x8080):
        return NOT_A_DATE, 0
    if (date >> np.uint64(32)) & _BYTE or date >> np.uint64(56):  # the hyphens
        return NOT_A_DATE, 0
    if whole and size > 10:
        if size == 11 or (tail >> np.uint64(16)) & _BYTE != 84:  # 'T' and at least one character after it
            return NOT_A_DATE, 0
        if not _is_time_char(np.int64((tail >> np.uint64(24)) & _BYTE)):
            return NOT_A_DATE, 0
    year = (
        np.int64(date & _BYTE) * 1000
        + np.int64((date >> np.uint64(8)) & _BYTE) * 100
        + np.int64((date >> np.uint64(16)) & _BYTE) * 10
        + np.int64((date >> np.uint64(24)) & _BYTE)
    )
    month = np.int64((date >> np.uint64(40)) & _BYTE) * 10 + np.int64((date >> np.uint64(48)) & _BYTE)
    day = np.int64(day_digits & _BYTE) * 10 + np.int64(day_digits >> np.uint64(8))
    if month < 1 or month > 12 or day < 1:
        return NOT_A_DATE, 0
    if month == 2:
        last = 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    elif month == 4 or month == 6 or month == 9 or month == 11:
        last = 30
    else:
        last = 31
    if day > last:
        return NOT_A_DATE, 0
    # days since 1970-01-01 of a proleptic Gregorian date (the era arithmetic of H. Hinnant's days_from_civil)
    shifted = year - 1 if month <= 2 else year
    era = shifted // 400
    of_era = shifted - era * 400
    of_year = (153 * (month - 3 if month > 2 else month + 9) + 2) // 5 + day - 1
    of_cycle = of_era * 365 + of_era // 4 - of_era // 100 + of_year
    return DATE, era * 146097 + of_cycle - 719468


_U8 = types.Array(types.uint8, 1, "C")
_U64 = types.Array(types.uint64, 1, "C")
_I64 = types.Array(types.int64, 1, "C")
_I8 = types.Array(types.int8, 1, "C")
_SEEN_BITS = 12
_SEEN = 1 << _SEEN_BITS
_MIX = np.uint64(0x9E3779B97F4A7C15)  # an odd 64-bit constant (2**64 / golden ratio) to spread the hash
_SHORT = [(_U64, _U8, types.int64, types.boolean, _I64, _I8)]
_LONG = [(_U64, _I64, _U8, types.boolean, _I64, _I8)]


@kernel(_SHORT)
def parse_views(views: Words, validity: Bytes, offset: int, whole: bool, days: Ints, status: Codes) -> None:
    """First pass over one chunk of an Arrow string view array: every null cell and every inline string.

    Parameters
    ----------
    views
        The chunk's views, two little-endian 64-bit words each: the length in the low half of the first,
        then the inline bytes (strings of up to 12 bytes) or a prefix, the data buffer's index and the
        offset in it.
    validity
        The validity bitmap (bit ``offset + i`` for cell ``i``), or empty when no cell is null.
    offset
        The chunk's Arrow offset (its first cell is view ``offset``).
    whole
        As for :func:`_date_of`.
    days, status
        Written per cell of the chunk: the day (days since 1970) and the status (``NULL``, ``DATE``,
        ``NOT_A_DATE``, ``UNDECIDED``, or ``LONG`` for a string in a data buffer, left to
        :func:`parse_long`).

    Notes
    -----
    The rules are those of :func:`_date_of`; the layout is Arrow's string view (Arrow columnar format,
    "Variable-size Binary View Layout").
    """
    # the results of recent views (a view of an inline string is its whole text): a column holds few
    # distinct dates, so most cells are found here, by two comparisons, instead of parsed
    seen_first = np.zeros(_SEEN, dtype=np.uint64)
    seen_second = np.zeros(_SEEN, dtype=np.uint64)
    seen_status = np.full(_SEEN, -1, dtype=np.int8)
    seen_day = np.zeros(_SEEN, dtype=np.int64)
    for cell in range(status.shape[0]):
        at = offset + cell
        if validity.shape[0] and not (validity[at >> 3] >> (at & 7)) & 1:
            status[cell] = NULL
            continue
        first, second = views[2 * at], views[2 * at + 1]
        size = np.int64(first & np.uint64(0xFFFFFFFF))
        if size > _INLINE:
            status[cell] = LONG
            continue
        slot = np.int64(((first ^ (second * _MIX)) * _MIX) >> np.uint64(64 - _SEEN_BITS))
        if seen_status[slot] >= 0 and seen_first[slot] == first and seen_second[slot] == second:
            status[cell], days[cell] = seen_status[slot], seen_day[slot]
            continue
        head = (first >> np.uint64(32)) | (second << np.uint64(32))
        found, day = _date_of(head, second >> np.uint64(32), size, whole)
        status[cell], days[cell] = found, day
        seen_first[slot], seen_second[slot], seen_status[slot], seen_day[slot] = first, second, found, day


@kernel(_LONG)
def parse_long(views: Words, cells: Ints, data: Bytes, whole: bool, days: Ints, status: Codes) -> None:
    """Second pass: the strings of ``cells`` (indices into the chunk's views), all held in the data buffer
    ``data``.

    Parameters
    ----------
    views
        The chunk's views from its Arrow offset on (cell ``i`` is the words ``2i`` and ``2i + 1``).
    cells
        The cells to parse.
    data
        Their data buffer.
    whole, days, status
        As for :func:`parse_views` (``days[cell]`` and ``status[cell]`` written).

    Notes
    -----
    The rules are those of :func:`_date_of`, which checks the first twelve bytes; the bytes after them are
    checked here: ASCII (else undecided), and in a date-time (``whole``) digits, ``:`` and ``.``.
    """
    for cell in cells:
        size = np.int64(views[2 * cell] & np.uint64(0xFFFFFFFF))
        start = np.int64(views[2 * cell + 1] >> np.uint64(32))
        if start < 0 or start + size > data.shape[0]:
            status[cell] = UNDECIDED  # not where the layout says: left to the polars expressions
            continue
        head = np.uint64(0)
        for at in range(8):
            head |= np.uint64(data[start + at]) << np.uint64(8 * at)
        tail = np.uint64(0)
        for at in range(4):
            tail |= np.uint64(data[start + 8 + at]) << np.uint64(8 * at)
        found, day = _date_of(head, tail, size, whole)
        if found == DATE and whole:
            for at in range(start + _INLINE, start + size):
                if data[at] >= 128:
                    found = UNDECIDED
                    break
                if not _is_time_char(np.int64(data[at])):
                    found = NOT_A_DATE
                    break
        status[cell], days[cell] = found, day


def _bytes_at(address: int | None, size: int) -> Bytes:
    if not size:
        return np.zeros(0, dtype=np.uint8)
    assert address is not None
    return np.ctypeslib.as_array(ctypes.cast(address, ctypes.POINTER(ctypes.c_uint8)), shape=(size,))


def _parse_chunk(chunk: _ArrowArray, whole: bool, days: Ints, status: Codes) -> bool:
    """Parse one string view chunk into ``days``/``status`` (its slice of them); ``False`` when the chunk
    is not laid out as expected."""
    length, offset = chunk.length, chunk.offset
    if chunk.n_buffers < 3 or length != status.shape[0]:
        return False
    buffers = chunk.buffers
    if not length:
        return True
    if not buffers[1] or buffers[1] % 8:
        return False
    # no validity buffer: no null (a buffer may be given with a null count of 0, or of -1: not counted)
    validity = _bytes_at(buffers[0], (offset + length + 7) // 8 if buffers[0] and chunk.null_count else 0)
    words = np.ctypeslib.as_array(
        ctypes.cast(buffers[1], ctypes.POINTER(ctypes.c_uint64)), shape=(2 * (offset + length),)
    )
    parse_views(words, validity, offset, whole, days, status)
    long = np.flatnonzero(status == LONG)
    if not long.size:
        return True
    data_buffers = chunk.n_buffers - 3
    sizes = np.ctypeslib.as_array(
        ctypes.cast(buffers[chunk.n_buffers - 1], ctypes.POINTER(ctypes.c_int64)), shape=(data_buffers,)
    )
    own_views = words[2 * offset :]
    which = (own_views[2 * long + 1] & np.uint64(0xFFFFFFFF)).astype(np.int64)  # the data buffer's index
    for index in np.unique(which):
        if not 0 <= index < data_buffers:
            return False
        data = _bytes_at(buffers[2 + int(index)], int(sizes[index]))
        parse_long(own_views, long[which == index], data, whole, days, status)
    return True


def _parse_text(text: pl.Series, whole: bool) -> tuple[Ints, Codes] | None:
    """Days and status of every cell of ``text``; ``None`` when the Arrow export is not a string view."""
    days = np.zeros(text.len(), dtype=np.int64)
    status = np.zeros(text.len(), dtype=np.int8)
    capsule = text.__arrow_c_stream__()  # its destructor releases the stream
    stream = ctypes.cast(_capsule_pointer(capsule, b"arrow_array_stream"), ctypes.POINTER(_ArrowArrayStream))
    schema = _ArrowSchema()
    if stream.contents.get_schema(stream, ctypes.byref(schema)) != 0:
        return None
    try:
        if schema.format != b"vu":
            return None
    finally:
        if schema.release:
            schema.release(ctypes.byref(schema))
    done = 0
    while True:
        chunk = _ArrowArray()
        if stream.contents.get_next(stream, ctypes.byref(chunk)) != 0:
            return None
        if not chunk.release:  # the end of the stream
            break
        try:
            end = done + chunk.length
            if end > text.len() or not _parse_chunk(chunk, whole, days[done:end], status[done:end]):
                return None
            done = end
        finally:
            chunk.release(ctypes.byref(chunk))
    if done != text.len():
        return None
    return days, status


def parse_iso_dates(text: pl.Series, *, whole: bool) -> pl.Series | None:
    """The ISO 8601 dates of text cells as ``pl.Date`` (null where a cell is null or not such a date), or
    ``None`` when a cell cannot be decided here.

    Parameters
    ----------
    text
        Text cells (``pl.String``).
    whole
        ``True``: a cell is a date when it is ``YYYY-MM-DD`` or a date-time ``YYYY-MM-DDT`` followed by
        digits, ``:`` and ``.`` only, as :func:`oligotrial.endpoints.sdtm._typed` requires; ``False``: when
        its first ten characters are such a date (:func:`oligotrial.endpoints.sdtm._tr_dates`), and then
        ``None`` is returned unless every non-null cell is one.

    Notes
    -----
    The same dates as the polars expressions it replaces (``str.contains`` with the ISO pattern,
    ``str.slice(0, 10)``, ``str.strptime(pl.Date, "%Y-%m-%d")``; SDTMIG 3.4 section 4.4.1 for the format),
    from one compiled pass over the strings' bytes (:func:`parse_views`, :func:`parse_long`). ``None``
    whenever that could differ: non-ASCII text, a layout other than Arrow's string view, a big-endian machine.
    """
    if sys.byteorder != "little" or text.dtype != pl.String:
        return None
    parsed = _parse_text(text, whole)
    if parsed is None:
        return None
    days, status = parsed
    if (status == UNDECIDED).any() or (status == LONG).any():
        return None
    dated = status == DATE
    if not whole and (status == NOT_A_DATE).any():
        return None
    return dates_of(text.name, days, dated)
