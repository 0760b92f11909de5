"""JSON read for configs, bounded: nesting (without recursion past the bound) and the digits of whole
numbers, each refused with a ConfigError naming the key. Files are read in core.config."""

from __future__ import annotations

import json
import re
from typing import Any

from core.settings import ConfigError, LongNumber, shown_key

# The deepest setting is two levels down (dataset.name); 8 leaves room for lists of objects, and keeps
# every walk of a config (the checks, repr, json.dumps) far from Python's recursion limit.
MAX_CONFIG_DEPTH = 8
# The longest whole number any setting takes is a seed (19 digits); int() of many more is slow, and of
# over 4,300 digits refused by Python.
MAX_INT_DIGITS = 100


class NotJsonError(ConfigError):
    """Text that is not JSON at all (a --set value is then taken as text)."""


def _long_int(text: str) -> int | LongNumber:
    digits = len(text.lstrip("-"))
    return LongNumber(digits) if digits > MAX_INT_DIGITS else int(text)


def loads(text: str, what: str, key: str | None = None) -> Any:
    """json.loads, bounded: a whole number of over MAX_INT_DIGITS digits becomes a LongNumber (which the
    checks name with its key), nesting deeper than MAX_CONFIG_DEPTH is a ConfigError naming where."""
    try:
        data = json.loads(text, parse_int=_long_int)
    except RecursionError:
        _check_text_depth(text, what, key)
        raise ConfigError(f"{what} nests lists or objects deeper than {MAX_CONFIG_DEPTH} levels", key) from None
    except json.JSONDecodeError as exc:
        raise NotJsonError(f"{what} is not valid JSON: {exc.msg} (line {exc.lineno})", key) from None
    check_depth(data, key)
    return data


_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\Z)|[\[\]{}:]')


def _check_text_depth(text: str, what: str, key: str | None) -> None:
    """Raise ConfigError naming the key under which JSON text nests too deep: for text that json itself
    cannot read for its depth. One pass over tokens, no recursion."""
    keys: list[str | None] = []  # for each open container, the key that holds it (None in a list or on top)
    current: list[str | None] = []  # for each open object, its key being read
    last = None
    for match in _JSON_TOKENS.finditer(text):
        token = match.group()
        if token[0] == '"':
            last = token
        elif token == ":" and current:
            try:
                current[-1] = json.loads(last) if last else None
            except ValueError:
                current[-1] = None
        elif token in "[{":
            keys.append(current[-1] if current else None)
            current.append(None)
            if len(keys) > MAX_CONFIG_DEPTH:
                _too_deep(what, [key] + keys if key else keys, key)
        elif keys:
            keys.pop()
            current.pop()


def check_depth(data: Any, key: str | None = None) -> None:
    """Raise ConfigError naming the key whose value nests lists or objects deeper than MAX_CONFIG_DEPTH."""
    todo = [(data, 1, [key] if key else [])]
    while todo:
        value, depth, path = todo.pop()
        if isinstance(value, dict):
            children = [(str(k), v) for k, v in value.items()]
        elif isinstance(value, (list, tuple)):
            children = [(None, v) for v in value]
        else:
            continue
        if depth > MAX_CONFIG_DEPTH:
            _too_deep("the config", path, key)
        todo.extend((v, depth + 1, path + [k] if k is not None else path) for k, v in children)


def _too_deep(what: str, path: list, key: str | None) -> None:
    dotted = ".".join(str(k) for k in path if k)
    where = f"{shown_key(dotted)}: " if dotted else f"{what} "
    raise ConfigError(f"{where}nests lists or objects deeper than {MAX_CONFIG_DEPTH} levels; no setting does", dotted or key)
