"""Stratum levels of a subject from the protocol's stratification factors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from oligotrial.errors import InputError, Problem
from oligotrial.protocol.models import Stratum

__all__ = ["derive_strata", "parse_stratum_key", "stratum_key"]

_SEPARATOR = "|"


def _level_of(stratum: Stratum, value: object) -> str | None:
    if stratum.levels is None:
        text = str(value).strip()
        return text or None
    for label, members in stratum.levels.items():
        if any(str(member) == str(value) for member in members):
            return label
    return None


def derive_strata(strata: Sequence[Stratum], covariates: Mapping[str, object]) -> dict[str, str]:
    """The level of each stratification factor for one subject.

    Parameters
    ----------
    strata
        The protocol's factors (``randomization.strata``), in protocol order.
    covariates
        The subject's values by factor *source* (``site``, ``induction_response``,
        ``metastatic_organ_count``, ``histology``).

    Returns
    -------
    dict
        Factor id -> level label, in protocol order (e.g. ``{"site": "CN01", "induction_response": "CR/PR",
        "metastatic_organs": "1"}``).

    Notes
    -----
    A factor without ``levels`` uses the value itself (the site code); a factor with ``levels`` maps the value
    to the level whose members contain it (compared as text, so ``2`` and ``"2"`` are the same member).

    Raises
    ------
    InputError
        ``RAND-005`` per factor whose value is missing or belongs to no level.
    """
    problems = []
    levels: dict[str, str] = {}
    for stratum in strata:
        value = covariates.get(stratum.source)
        level = None if value is None else _level_of(stratum, value)
        if level is None:
            expected = (
                "a non-empty value"
                if stratum.levels is None
                else "one of "
                + "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in stratum.levels.items())
            )
            problems.append(
                Problem(
                    "RAND-005",
                    stratum.source,
                    f"stratification factor {stratum.id!r} needs {expected}",
                    value=value,
                )
            )
        else:
            levels[stratum.id] = level
    if problems:
        raise InputError(problems)
    return levels


def stratum_key(levels: Mapping[str, str]) -> str:
    """The text key of a stratum: ``factor=level`` pairs joined by ``|`` in the given (protocol) order."""
    return _SEPARATOR.join(f"{factor}={level}" for factor, level in levels.items())


def parse_stratum_key(key: str) -> dict[str, str]:
    """Inverse of :func:`stratum_key` (an empty key is the single stratum of an unstratified design)."""
    if not key:
        return {}
    pairs = [part.split("=", 1) for part in key.split(_SEPARATOR)]
    return {factor: level for factor, level in pairs}
