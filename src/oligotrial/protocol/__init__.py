"""The trial as data: a YAML protocol file loaded into frozen, typed, validated models."""

from oligotrial.protocol.loader import DEFAULT_PROTOCOL, load_protocol, parse_protocol
from oligotrial.protocol.models import CANDIDATE_FIELDS, Protocol

__all__ = ["CANDIDATE_FIELDS", "DEFAULT_PROTOCOL", "Protocol", "load_protocol", "parse_protocol"]
