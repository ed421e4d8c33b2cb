"""Run-time helpers of the CEL programs that :mod:`.cel_py` compiles to Python.

A compiled rule works on plain JSON values (dict/list/str/int/float/bool/None) and must give, for
every value it does not refuse, exactly what cel-python's interpreter gives; only a ``True``
result is ever used (:func:`compiler.verify.crd_cel.evaluate`). So each helper either returns the
interpreter's value, returns :data:`ERR` where the interpreter has a ``CELEvalError`` *value*
(a missing map key, field selection on a non-map, an error operand), or raises :class:`Refuse`
for anything else: mixed-type comparisons, nulls, doubles, overflow, raw Python exceptions the
interpreter would not turn into an error value... The interpreter then decides.

The interpreter's own quirks are mirrored where a pass could depend on them: ``&&``/``||``
evaluate both operands and combine them like ``celtypes.logical_and``/``logical_or`` (an error
on one side is absorbed by ``false``/``true`` on the other); ``has(e.f)`` is "``e.f`` is not an
error"; macros refuse unless every iteration gives a plain bool.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

INT64 = (-(2**63), 2**63 - 1)


class Refuse(Exception):
    """The compiled program cannot tell what cel-python would: the interpreter decides."""


class _Err:
    """A CEL error value (cel-python's ``CELEvalError`` as a result, not an exception)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ERR"


ERR = _Err()


class Duration(int):
    """A ``duration()`` of whole seconds (cel-python: a ``timedelta``, compared the same way)."""

    __slots__ = ()


_SCALARS = (str, int, bool, Duration)


def get(x: Any, name: str) -> Any:
    """``x.name``: the map's value; an error for a missing key or a non-map (cel-python's member_dot)."""
    if type(x) is dict:
        return x.get(name, ERR)
    return ERR


def has(x: Any, name: str) -> bool:
    """``has(x.name)``: cel-python answers "``x.name`` is not an error"."""
    return type(x) is dict and name in x


def index(x: Any, i: Any) -> Any:
    if x is ERR or i is ERR:
        raise Refuse
    if type(x) is list and type(i) is int and i >= 0:
        return x[i] if i < len(x) else ERR  # IndexError: an error value
    if type(x) is dict and type(i) is str:
        return x.get(i, ERR)  # KeyError: an error value
    raise Refuse


def eq(a: Any, b: Any) -> Any:
    if a is ERR or b is ERR:
        return ERR
    if type(a) is type(b) and type(a) in _SCALARS:
        return a == b
    raise Refuse


def ne(a: Any, b: Any) -> Any:
    result = eq(a, b)
    return result if result is ERR else not result


def _ordered(a: Any, b: Any) -> bool:
    if type(a) is type(b) and type(a) in (str, int, Duration):
        return True
    raise Refuse


def lt(a: Any, b: Any) -> Any:
    return ERR if a is ERR or b is ERR else _ordered(a, b) and a < b


def le(a: Any, b: Any) -> Any:
    return ERR if a is ERR or b is ERR else _ordered(a, b) and a <= b


def gt(a: Any, b: Any) -> Any:
    return ERR if a is ERR or b is ERR else _ordered(a, b) and a > b


def ge(a: Any, b: Any) -> Any:
    return ERR if a is ERR or b is ERR else _ordered(a, b) and a >= b


def in_(item: Any, container: Any) -> Any:
    if item is ERR or container is ERR:
        return ERR
    if type(container) is list:
        found = False
        for element in container:  # every element compared: a mixed list refuses
            found = eq(item, element) or found
        return found
    if type(container) is dict and type(item) is str:
        return item in container
    raise Refuse


def and_(x: Any, y: Any) -> Any:
    """cel-python's ``logical_and`` on two evaluated operands."""
    xb, yb = type(x) is bool, type(y) is bool
    if xb and yb:
        return x and y
    if not xb and not yb:
        return ERR
    if not xb:
        return x if y else False
    return y if x else False


def or_(x: Any, y: Any) -> Any:
    """cel-python's ``logical_or`` on two evaluated operands."""
    xb, yb = type(x) is bool, type(y) is bool
    if xb and yb:
        return x or y
    if not xb and not yb:
        return ERR
    if not xb:
        return True if y else x
    return True if x else y


def not_(x: Any) -> Any:
    if x is ERR:
        return ERR
    if type(x) is bool:
        return not x
    raise Refuse


def cond(c: Any) -> bool:
    """The condition of ``c ? a : b``: only a plain bool chooses a branch here."""
    if type(c) is bool:
        return c
    raise Refuse


def _int64(value: int) -> int:
    if INT64[0] <= value <= INT64[1]:
        return value
    raise Refuse


def add(a: Any, b: Any) -> Any:
    ta = type(a)
    if ta is type(b):
        if ta is int:
            return _int64(a + b)
        if ta in (str, list):
            return a + b
    raise Refuse


def sub(a: Any, b: Any) -> Any:
    if type(a) is int and type(b) is int:
        return _int64(a - b)
    raise Refuse


def neg(a: Any) -> Any:
    if type(a) is int:
        return _int64(-a)
    raise Refuse


def lst(*items: Any) -> list[Any]:
    if any(i is ERR for i in items):
        raise Refuse
    return list(items)


def _each(receiver: Any) -> list[Any]:
    if type(receiver) is list:
        return receiver
    if type(receiver) is dict:
        return list(receiver)
    raise Refuse


def _bools(receiver: Any, body: Callable[[Any], Any]) -> list[tuple[Any, bool]]:
    out = []
    for item in _each(receiver):
        result = body(item)
        if type(result) is not bool:
            raise Refuse
        out.append((item, result))
    return out


def all_(receiver: Any, body: Callable[[Any], Any]) -> Any:
    """The macros give an error receiver back (cel-python's member_dot_arg)."""
    return ERR if receiver is ERR else all(r for _, r in _bools(receiver, body))


def exists(receiver: Any, body: Callable[[Any], Any]) -> Any:
    return ERR if receiver is ERR else any(r for _, r in _bools(receiver, body))


def exists_one(receiver: Any, body: Callable[[Any], Any]) -> Any:
    return ERR if receiver is ERR else sum(1 for _, r in _bools(receiver, body) if r) == 1


def filter_(receiver: Any, body: Callable[[Any], Any]) -> Any:
    return ERR if receiver is ERR else [item for item, r in _bools(receiver, body) if r]


def map_(receiver: Any, body: Callable[[Any], Any]) -> Any:
    return ERR if receiver is ERR else lst(*(body(item) for item in _each(receiver)))


# --- functions and methods: ``call`` gives an error operand back (cel-python's method_eval and
# function_eval do so before calling); the functions themselves refuse anything irregular.

def call(function: Callable[..., Any], *args: Any) -> Any:
    if any(a is ERR for a in args):
        return ERR
    return function(*args)


def _str(*values: Any) -> None:
    if any(type(v) is not str for v in values):
        raise Refuse


def size(x: Any) -> int:
    if type(x) in (str, list, dict):
        return len(x)
    raise Refuse


def contains(s: Any, t: Any) -> bool:
    _str(s, t)
    return t in s


def starts_with(s: Any, t: Any) -> bool:
    _str(s, t)
    return bool(s.startswith(t))


def ends_with(s: Any, t: Any) -> bool:
    _str(s, t)
    return bool(s.endswith(t))


def matches(s: Any, pattern: Any) -> bool:
    """cel-python's ``matches``: an RE2 search (the same library, imported when first needed)."""
    _str(s, pattern)
    import re2

    try:
        return re2.search(pattern, s) is not None
    except re2.error as exc:
        raise Refuse from exc


def find(s: Any, pattern: Any) -> str:
    """:func:`compiler.verify.cel_ext._find` on strings."""
    _str(s, pattern)
    try:
        match = re.search(pattern, s)
    except re.error as exc:
        raise Refuse from exc
    return match.group(0) if match else ""


def split(s: Any, sep: Any, limit: Any = -1) -> list[str]:
    """:func:`compiler.verify.cel_ext._split` on strings."""
    _str(s, sep)
    if type(limit) is not int:
        raise Refuse
    from compiler.verify.cel_ext import split_parts

    return split_parts(s, sep, limit)


def substring(s: Any, start: Any, end: Any = None) -> str:
    _str(s)
    stop = len(s) if end is None else end
    if type(start) is not int or type(stop) is not int or not 0 <= start <= stop <= len(s):
        raise Refuse
    return str(s[start:stop])


def lower_ascii(s: Any) -> str:
    _str(s)
    return str(s.lower())


def upper_ascii(s: Any) -> str:
    _str(s)
    return str(s.upper())


_DECIMAL = re.compile(r"-?[0-9]+\Z")


def to_int(x: Any) -> int:
    """``int(x)`` for an int or a plain decimal string (cel-python: Python's ``int``, int64)."""
    if type(x) is int:
        return x
    if type(x) is str and _DECIMAL.match(x):
        return _int64(int(x))
    raise Refuse


_DURATION = re.compile(r"(?:[0-9]+[hms])+\Z")
_SECONDS = {"h": 3600, "m": 60, "s": 1}


def to_duration(x: Any) -> Duration:
    """``duration(s)`` for whole hours, minutes and seconds (``1h30m``, ``15s``): cel-python sums
    the parts as floats, exact for these; fractions, ``ms``, signs and the rest refuse."""
    if type(x) is not str or not _DURATION.match(x):
        raise Refuse
    total = sum(int(n) * _SECONDS[u] for n, u in re.findall(r"([0-9]+)([hms])", x))
    if total >= 10**9:
        raise Refuse
    return Duration(total)


#: Method names -> helper names (``recv.name(args)``), and global functions (``name(args)``).
METHODS = {
    "size": "size", "contains": "contains", "startsWith": "starts_with", "endsWith": "ends_with",
    "matches": "matches", "find": "find", "split": "split", "substring": "substring",
    "lowerAscii": "lower_ascii", "upperAscii": "upper_ascii",
}
FUNCTIONS = {"size": "size", "int": "to_int", "duration": "to_duration"}
