"""JSON in and out, with the rules of awslambdaric's simplejson marshaller.

awslambdaric encodes with simplejson (``use_decimal=False, allow_nan=True``,
``Decimal`` written as its digits, ``bytes`` decoded as UTF-8, named tuples as
objects) and parses the event only when its content type is exactly
``application/json``. The standard library's C encoder handles the common
case; a value it cannot take (a ``Decimal``, a ``bytes`` key), or a named
tuple (which it would write as an array), sends the whole response through a
small pure-Python encoder with simplejson's rules.
"""

import decimal
import gc
import json
import math
import os
from itertools import compress

from .errors import MARSHAL_ERROR, UNMARSHAL_ERROR, FaultException

# awslambdaric turns ensure_ascii off on these runtimes only.
_NON_ASCII_ENVS = {
    "AWS_Lambda_python3.12",
    "AWS_Lambda_python3.13",
    "AWS_Lambda_python3.14",
    "AWS_Lambda_python3.15",
}
ENSURE_ASCII = os.environ.get("AWS_EXECUTION_ENV") not in _NON_ASCII_ENVS

_Decimal = decimal.Decimal


class _NeedsSlowPath(Exception):
    """The C encoder met a value only the slow path encodes."""


def _fast_default(obj):
    if isinstance(obj, bytes):
        return obj.decode("utf-8")
    if isinstance(obj, _Decimal):
        raise _NeedsSlowPath()
    raise TypeError(
        "Object of type {} is not JSON serializable".format(
            obj.__class__.__name__))


def _slow_default(obj):
    if isinstance(obj, _Decimal):
        if obj.is_nan():
            return math.nan
        return _Raw(str(obj))
    return _fast_default(obj)


class _Raw:
    """Text written into the output as it is (simplejson's RawJSON)."""

    __slots__ = ("text",)

    def __init__(self, text):
        self.text = text


def _float_str(value):
    if value != value:
        return "NaN"
    if value == math.inf:
        return "Infinity"
    if value == -math.inf:
        return "-Infinity"
    return float.__repr__(float(value))


class _SlowEncoder:
    """simplejson's encoding rules, in plain Python, for the rare values."""

    def __init__(self, ensure_ascii):
        self.encode_str = (json.encoder.encode_basestring_ascii
                           if ensure_ascii else json.encoder.encode_basestring)
        self.markers = {}

    def encode(self, obj):
        self.markers.clear()
        out = []
        self._value(obj, out)
        return "".join(out)

    def _key(self, key):
        if isinstance(key, str):
            return key
        if isinstance(key, bytes):
            return key.decode("utf-8")
        if isinstance(key, float):
            return _float_str(key)
        if key is True:
            return "true"
        if key is False:
            return "false"
        if key is None:
            return "null"
        if isinstance(key, int):
            return int.__repr__(int(key))
        raise TypeError(
            "keys must be str, int, float, bool or None, not {}".format(
                key.__class__.__name__))

    def _enter(self, obj):
        marker = id(obj)
        if marker in self.markers:
            raise ValueError("Circular reference detected")
        self.markers[marker] = obj
        return marker

    def _value(self, o, out):
        if isinstance(o, str):
            out.append(self.encode_str(o))
        elif isinstance(o, bytes):
            out.append(self.encode_str(o.decode("utf-8")))
        elif isinstance(o, _Raw):
            out.append(o.text)
        elif o is None:
            out.append("null")
        elif o is True:
            out.append("true")
        elif o is False:
            out.append("false")
        elif isinstance(o, int):
            out.append(int.__repr__(int(o)))
        elif isinstance(o, float):
            out.append(_float_str(o))
        elif isinstance(o, list):
            self._list(o, out)
        elif callable(getattr(o, "_asdict", None)):
            self._dict(o._asdict(), out)
        elif isinstance(o, tuple):
            self._list(o, out)
        elif isinstance(o, dict):
            self._dict(o, out)
        else:
            marker = self._enter(o)
            self._value(_slow_default(o), out)
            del self.markers[marker]

    def _list(self, items, out):
        if not items:
            out.append("[]")
            return
        marker = self._enter(items)
        out.append("[")
        first = True
        for item in items:
            if not first:
                out.append(", ")
            first = False
            self._value(item, out)
        out.append("]")
        del self.markers[marker]

    def _dict(self, dct, out):
        if not dct:
            out.append("{}")
            return
        marker = self._enter(dct)
        out.append("{")
        first = True
        for key, value in dct.items():
            if not first:
                out.append(", ")
            first = False
            out.append(self.encode_str(self._key(key)))
            out.append(": ")
            self._value(value, out)
        out.append("}")
        del self.markers[marker]


_CONTAINERS = frozenset((dict, list, tuple))
_PLAIN = frozenset((str, int, float, bool, type(None), bytes, dict, list, tuple,
                    _Decimal))
# Deeper than either encoder can go (both stop at the recursion limit).
_MAX_DEPTH = 1000


def _holds_named_tuple(obj):
    """Whether a named tuple is anywhere in ``obj``.

    Walks a level at a time with C-level iteration (``gc.get_referents`` of
    the containers, ``map`` of ``type``): about a fifth of the C encoder's
    time on a large value, where a Python loop over every value would take
    most of it. ``to_json`` calls it only when the encoded text has an array.
    """
    level = [obj]
    containers = _CONTAINERS
    for _ in range(_MAX_DEPTH):
        unusual = set(map(type, level)) - _PLAIN
        for kind in unusual:
            if issubclass(kind, tuple):
                return True
            if issubclass(kind, (dict, list)):
                containers = containers | {kind}
        inside = list(compress(level, map(containers.__contains__,
                                          map(type, level))))
        if not inside:
            return False
        level = gc.get_referents(*inside)
    return False


_fast_encode = json.JSONEncoder(
    ensure_ascii=ENSURE_ASCII, allow_nan=True, default=_fast_default).encode


def to_json(obj, ensure_ascii=ENSURE_ASCII):
    """Encode ``obj`` as awslambdaric's ``to_json`` does."""
    if ensure_ascii == ENSURE_ASCII:
        try:
            text = _fast_encode(obj)
        except (_NeedsSlowPath, TypeError, ValueError):
            # The slow path gives the authoritative result or error.
            pass
        else:
            # The C encoder writes a named tuple as an array: without a "[" in its output
            # there is none, and the walk is spared (most responses have no list at all).
            if "[" not in text or not _holds_named_tuple(obj):
                return text
    return _SlowEncoder(ensure_ascii).encode(obj)


def unmarshal_event(body, content_type):
    """The event a handler receives: parsed JSON, or the raw body bytes."""
    if content_type != "application/json":
        return body
    try:
        return json.loads(body)
    except Exception as e:
        raise FaultException(
            UNMARSHAL_ERROR,
            "Unable to unmarshal input: {}".format(str(e)),
            None,
        )


def marshal_response(response):
    """(body, content type) to post for a handler's return value."""
    if isinstance(response, bytes):
        return response, "application/unknown"
    try:
        return to_json(response).encode("utf-8"), "application/json"
    except Exception as e:
        raise FaultException(
            MARSHAL_ERROR,
            "Unable to marshal response: {}".format(str(e)),
            None,
        )
