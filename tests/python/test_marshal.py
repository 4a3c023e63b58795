"""JSON in and out with awslambdaric's (simplejson's) rules."""

import collections
import decimal
import unittest

from tests.python import support  # noqa: F401  (puts the runtime on sys.path)

from switchyard_runtime import marshal
from switchyard_runtime.errors import FaultException

D = decimal.Decimal
Point = collections.namedtuple("Point", "x y")


class MarshalResponseTest(unittest.TestCase):
    def body(self, value):
        body, content_type = marshal.marshal_response(value)
        self.assertEqual(content_type, "application/json")
        return body

    def test_separators_as_simplejson(self):
        self.assertEqual(self.body({"a": [1, 2.5, None, True, "s"]}),
                         b'{"a": [1, 2.5, null, true, "s"]}')

    def test_ascii_escaped_on_python_3_11(self):
        self.assertEqual(self.body({"k": "\u00e9\u4e2d"}),
                         b'{"k": "\\u00e9\\u4e2d"}')

    def test_not_ascii_escaped_when_asked(self):
        self.assertEqual(marshal.to_json({"k": "\u00e9"}, ensure_ascii=False),
                         '{"k": "\u00e9"}')

    def test_nan_and_infinity_allowed(self):
        self.assertEqual(self.body([float("nan"), float("inf"),
                                    float("-inf")]),
                         b"[NaN, Infinity, -Infinity]")

    def test_decimal_written_as_its_digits(self):
        self.assertEqual(self.body({"price": D("1.10"), "big": D("1E+400"),
                                    "n": D("-0.000001")}),
                         b'{"price": 1.10, "big": 1E+400, "n": -0.000001}')

    def test_decimal_nan_is_nan(self):
        self.assertEqual(self.body([D("NaN"), D("-sNaN")]), b"[NaN, NaN]")

    def test_top_level_decimal(self):
        self.assertEqual(self.body(D("3.14159")), b"3.14159")

    def test_bytes_inside_a_value_are_decoded(self):
        self.assertEqual(self.body({b"key": b"value", "l": [b"x"]}),
                         b'{"key": "value", "l": ["x"]}')

    def test_named_tuple_is_an_object_on_the_decimal_path(self):
        self.assertEqual(self.body([Point(1, D("2.0"))]),
                         b'[{"x": 1, "y": 2.0}]')

    def test_named_tuple_is_an_object(self):
        self.assertEqual(self.body(Point(1, 2)), b'{"x": 1, "y": 2}')
        self.assertEqual(self.body({"p": [1, {"q": Point("a", [Point(3, 4)])}]}),
                         b'{"p": [1, {"q": {"x": "a", "y": [{"x": 3, '
                         b'"y": 4}]}}]}')
        self.assertEqual(
            self.body(collections.OrderedDict(p=[Point(None, True)])),
            b'{"p": [{"x": null, "y": true}]}')

    def test_plain_tuple_is_an_array(self):
        self.assertEqual(self.body({"t": (1, (2, "x"))}),
                         b'{"t": [1, [2, "x"]]}')

    def test_circular_reference_is_a_marshal_error(self):
        loop = [1]
        loop.append(loop)
        with self.assertRaises(FaultException) as caught:
            marshal.marshal_response({"l": loop})
        self.assertEqual(caught.exception.exception_type,
                         "Runtime.MarshalError")

    def test_bytes_result_is_unchanged(self):
        self.assertEqual(marshal.marshal_response(b"\x00\xff"),
                         (b"\x00\xff", "application/unknown"))

    def test_unserializable_is_marshal_error(self):
        with self.assertRaises(FaultException) as caught:
            marshal.marshal_response({"s": {1, 2}})
        self.assertEqual(caught.exception.exception_type,
                         "Runtime.MarshalError")
        self.assertEqual(caught.exception.msg,
                         "Unable to marshal response: Object of type set is "
                         "not JSON serializable")

    def test_unserializable_next_to_decimal(self):
        with self.assertRaises(FaultException) as caught:
            marshal.marshal_response([D("1"), object()])
        self.assertEqual(caught.exception.msg,
                         "Unable to marshal response: Object of type object "
                         "is not JSON serializable")

    def test_bad_key_is_marshal_error(self):
        with self.assertRaises(FaultException) as caught:
            marshal.marshal_response({(1,): 2})
        self.assertEqual(caught.exception.msg,
                         "Unable to marshal response: keys must be str, int, "
                         "float, bool or None, not tuple")

    def test_circular_reference(self):
        loop = []
        loop.append(loop)
        with self.assertRaises(FaultException) as caught:
            marshal.marshal_response([D("1"), loop])
        self.assertEqual(caught.exception.msg,
                         "Unable to marshal response: Circular reference "
                         "detected")

    def test_invalid_utf8_bytes_value(self):
        with self.assertRaises(FaultException) as caught:
            marshal.marshal_response({"b": b"\xff"})
        self.assertTrue(caught.exception.msg.startswith(
            "Unable to marshal response: 'utf-8' codec can't decode"))


class UnmarshalEventTest(unittest.TestCase):
    def test_json_content_type_is_parsed(self):
        self.assertEqual(marshal.unmarshal_event(b'{"a": 1.5}',
                                                 "application/json"),
                         {"a": 1.5})

    def test_other_content_types_give_the_raw_body(self):
        for content_type in (None, "text/plain",
                             "application/json; charset=utf-8"):
            self.assertEqual(marshal.unmarshal_event(b"{bad", content_type),
                             b"{bad")

    def test_bad_json_is_unmarshal_error(self):
        with self.assertRaises(FaultException) as caught:
            marshal.unmarshal_event(b"", "application/json")
        self.assertEqual(caught.exception.exception_type,
                         "Runtime.UnmarshalError")
        self.assertEqual(caught.exception.msg,
                         "Unable to unmarshal input: Expecting value: line 1 "
                         "column 1 (char 0)")
        self.assertIsNone(caught.exception.trace)


if __name__ == "__main__":
    unittest.main()
