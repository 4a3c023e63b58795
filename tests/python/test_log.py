"""Function logs: formats, levels, error reports and unbuffered output."""

import calendar
import io
import json
import logging
import os
import sys
import textwrap
import time
import unittest
from unittest import mock

from tests.python import support
from tests.python.support import invocation, run_child

from switchyard_runtime import log


class RecordingSink:
    def __init__(self):
        self.records = []
        self.errors = []

    def log(self, msg, frame_type=None):
        self.records.append((msg, frame_type))

    def log_error(self, lines, frame_type=None):
        self.errors.append((lines, frame_type))


def make_record(level=logging.INFO, msg="hello %s", args=("world",),
                exc_info=None, **extra):
    record = logging.LogRecord("app", level, "/var/task/app.py", 7, msg, args,
                               exc_info, func="handler")
    record.created = 0.0
    record.msecs = 5.0
    record.__dict__.update(extra)
    return record


class EnvParsingTest(unittest.TestCase):
    def test_format(self):
        self.assertEqual(log.log_format_from_env("json"), log.FORMAT_JSON)
        self.assertEqual(log.log_format_from_env("JSON"), log.FORMAT_JSON)
        self.assertEqual(log.log_format_from_env("Text"), log.FORMAT_TEXT)
        self.assertEqual(log.log_format_from_env(None), log.FORMAT_TEXT)

    def test_level(self):
        self.assertEqual(log.log_level_from_env(None), "")
        self.assertEqual(log.log_level_from_env("TRACE"), "DEBUG")
        self.assertEqual(log.log_level_from_env("warn"), "WARN")
        # Only an exact "TRACE" maps to DEBUG, as in awslambdaric.
        self.assertEqual(log.log_level_from_env("trace"), "TRACE")


class FormatTest(unittest.TestCase):
    def setUp(self):
        self.sink = RecordingSink()
        self.root = logging.getLogger("sy-test-format")
        self.root.propagate = False
        self.saved_converter = logging.Formatter.converter
        self.addCleanup(setattr, logging.Formatter, "converter",
                        self.saved_converter)

    def test_text_line(self):
        handler = log.LambdaLoggerHandler(self.sink)
        handler.setFormatter(logging.Formatter(log.TEXT_FORMAT,
                                               log.TEXT_DATE_FORMAT))
        handler.addFilter(log.RequestIdFilter())
        logging.Formatter.converter = time.gmtime
        log.RequestState.aws_request_id = "req-7"
        self.addCleanup(setattr, log.RequestState, "aws_request_id", None)
        handler.handle(make_record())
        self.assertEqual(self.sink.records, [
            ("[INFO]\t1970-01-01T00:00:00.005Z\treq-7\thello world\n",
             None)])

    def test_json_record(self):
        formatter = log.JsonFormatter()
        logging.Formatter.converter = time.gmtime
        record = make_record(level=logging.WARNING, extra_field=3)
        record.aws_request_id = "req-8"
        record.tenant_id = "t"
        self.assertEqual(json.loads(formatter.format(record)), {
            "timestamp": "1970-01-01T00:00:00Z",
            "level": "WARNING",
            "message": "hello world",
            "logger": "app",
            "requestId": "req-8",
            "tenantId": "t",
            "extra_field": 3,
        })
        self.assertEqual(record._frame_type, bytes.fromhex("a55a0012"))

    def test_json_record_with_exception(self):
        try:
            raise KeyError("k")
        except KeyError:
            record = make_record(level=logging.ERROR, msg="failed", args=(),
                                 exc_info=sys.exc_info())
        out = json.loads(log.JsonFormatter().format(record))
        self.assertEqual(out["errorType"], "KeyError")
        self.assertEqual(out["errorMessage"], "'k'")
        self.assertEqual(out["location"], "/var/task/app.py:handler:7")
        self.assertEqual(len(out["stackTrace"]), 1)
        self.assertNotIn("requestId", out)

    def test_levels_are_rounded_down_to_tens(self):
        out = json.loads(log.JsonFormatter().format(make_record(level=25)))
        self.assertEqual(out["level"], "INFO")

    def test_text_error_lines(self):
        lines = log.error_lines_text({
            "errorMessage": "boom", "errorType": "ValueError",
            "requestId": "r",
            "stackTrace": ['  File "/a.py", line 1, in h\n    x()\n']})
        self.assertEqual(lines, [
            "[ERROR] ValueError: boom",
            "Traceback (most recent call last):",
            '\u00a0\u00a0File "/a.py", line 1, in h',
            "\u00a0\u00a0\u00a0\u00a0x()"])

    def test_text_error_without_type(self):
        self.assertEqual(log.error_lines_text({"errorMessage": "m",
                                               "stackTrace": None}),
                         ["[ERROR] m"])

    def test_standard_sink_joins_error_lines_with_cr(self):
        out = io.StringIO()
        with mock.patch("sys.stdout", new=out):
            log.StandardLogSink().log_error(["a", "b"])
        self.assertEqual(out.getvalue(), "a\rb\n")

    def test_unbuffered_flushes_every_write(self):
        class Stream(io.StringIO):
            flushes = 0

            def flush(self):
                Stream.flushes += 1

        stream = Stream()
        wrapped = log.Unbuffered(stream)
        wrapped.write("x")
        wrapped.writelines(["y", "z"])
        self.assertEqual(Stream.flushes, 2)
        self.assertEqual(wrapped.getvalue(), "xyz")

    def test_framed_sink(self):
        read_fd, write_fd = os.pipe()
        with log.FramedTelemetryLogSink(write_fd) as sink:
            sink.log("hi", frame_type=b"\xa5\x5a\x00\x0f")
        with os.fdopen(read_fd, "rb") as reader:
            frame = reader.read()
        self.assertEqual(frame[:8], b"\xa5\x5a\x00\x0f\x00\x00\x00\x02")
        self.assertEqual(frame[16:], b"hi")


HANDLER = textwrap.dedent("""\
    import logging
    logger = logging.getLogger("mine")
    def h(event, context):
        logger.debug("dbg")
        logger.info("inf %d", 1)
        logger.error("err")
        return 0
    """)


class ChildLogTest(unittest.TestCase):
    def test_default_text_format_in_utc(self):
        result = run_child({"app.py": HANDLER}, "app.h", [invocation("r1")],
                           env={"TZ": "Asia/Tokyo"})
        self.assertRegex(
            result.stdout,
            r"^\[ERROR\]\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\tr1\terr\n$")
        # The timestamp is UTC whatever TZ says.
        stamp = result.stdout.split("\t")[1]
        logged = calendar.timegm(
            time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
        self.assertLess(abs(logged - time.time()), 120)

    def test_log_level_from_environment(self):
        result = run_child({"app.py": HANDLER}, "app.h", [invocation("r1")],
                           env={"AWS_LAMBDA_LOG_LEVEL": "DEBUG"})
        levels = [line.split("\t")[0] for line in result.stdout.splitlines()]
        self.assertEqual(levels, ["[DEBUG]", "[INFO]", "[ERROR]"])

    def test_json_format(self):
        result = run_child({"app.py": HANDLER}, "app.h", [invocation("r2")],
                           env={"AWS_LAMBDA_LOG_FORMAT": "JSON",
                                "AWS_LAMBDA_LOG_LEVEL": "INFO"})
        records = [json.loads(line) for line in result.stdout.splitlines()]
        self.assertEqual([(r["level"], r["message"], r["logger"],
                           r["requestId"]) for r in records],
                         [("INFO", "inf 1", "mine", "r2"),
                          ("ERROR", "err", "mine", "r2")])

    def test_json_error_report(self):
        code = "def h(e, c):\n    raise KeyError('gone')\n"
        result = run_child({"app.py": code}, "app.h", [invocation("r3")],
                           env={"AWS_LAMBDA_LOG_FORMAT": "JSON"})
        (line,) = result.stdout.splitlines()
        report = json.loads(line)
        self.assertEqual(list(report)[:3],
                         ["timestamp", "log_level", "errorMessage"])
        self.assertEqual(report["log_level"], "ERROR")
        self.assertEqual(report["errorType"], "KeyError")
        self.assertEqual(report["requestId"], "r3")

    def test_print_goes_to_stdout_as_is(self):
        code = "def h(e, c):\n    print('a', 'b')\n    return 1\n"
        result = run_child({"app.py": code}, "app.h", [invocation("r4")])
        self.assertEqual(result.stdout, "a b\n")


if __name__ == "__main__":
    unittest.main()
