"""Function logs: stdout/stderr, the root logger and error reports.

Matches awslambdaric: stdout and stderr are flushed on every write so each
line reaches the platform at once; the root logger writes
``[LEVEL]\\t<UTC time>Z\\t<request id>\\t<message>`` lines (or JSON objects
with ``AWS_LAMBDA_LOG_FORMAT=JSON``) at ``AWS_LAMBDA_LOG_LEVEL``; errors are
reported as one record whose lines are joined by ``\\r``. When the platform
hands over a telemetry fd (``_LAMBDA_TELEMETRY_LOG_FD``) records are framed
onto it instead.
"""

import json
import logging
import os
import sys
import time
import traceback

from .marshal import to_json

LAMBDA_WARNING = "LAMBDA_WARNING"
UNHANDLED_EXCEPTION_WARNING = (
    f"{LAMBDA_WARNING}: "
    "Unhandled exception. "
    "The most likely cause is an issue in the function code. "
    "However, in rare cases, a Lambda runtime update can cause unexpected "
    "function behavior. "
    "For functions using managed runtimes, runtime updates can be triggered "
    "by a function change, or can be applied automatically. "
    "To determine if the runtime has been updated, check the runtime version "
    "in the INIT_START log entry. "
    "If this error correlates with a change in the runtime version, you may "
    "be able to mitigate this error by temporarily rolling back to the "
    "previous runtime version. "
    "For more information, see "
    "https://docs.aws.amazon.com/lambda/latest/dg/runtimes-update.html\r"
)

ERROR_LOG_LINE_TERMINATE = "\r"
ERROR_LOG_IDENT = "\u00a0"  # NO-BREAK SPACE replaces leading spaces.
DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
TEXT_FORMAT = ("[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t"
               "%(aws_request_id)s\t%(message)s\n")
TEXT_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"

FORMAT_JSON = "JSON"
FORMAT_TEXT = "TEXT"


def log_format_from_env(value):
    """``AWS_LAMBDA_LOG_FORMAT``: JSON in any case, else text."""
    if value and value.upper() == "JSON":
        return FORMAT_JSON
    return FORMAT_TEXT


def log_level_from_env(value):
    """``AWS_LAMBDA_LOG_LEVEL`` as awslambdaric reads it.

    Only an exact ``TRACE`` means DEBUG; the result is upper-cased and is
    applied only if it names a logging level.
    """
    return {None: "", "TRACE": "DEBUG"}.get(value, value).upper()


# Telemetry frame types per level: 0xA55A0002.. for JSON, 0xA55A0003.. text.
JSON_FRAME_TYPES = {
    logging.NOTSET: 0xA55A0002.to_bytes(4, "big"),
    logging.DEBUG: 0xA55A000A.to_bytes(4, "big"),
    logging.INFO: 0xA55A000E.to_bytes(4, "big"),
    logging.WARNING: 0xA55A0012.to_bytes(4, "big"),
    logging.ERROR: 0xA55A0016.to_bytes(4, "big"),
    logging.CRITICAL: 0xA55A001A.to_bytes(4, "big"),
}
TEXT_FRAME_TYPES = {
    level: (int.from_bytes(frame, "big") + 1).to_bytes(4, "big")
    for level, frame in JSON_FRAME_TYPES.items()
}
DEFAULT_FRAME_TYPE = TEXT_FRAME_TYPES[logging.NOTSET]


class Unbuffered:
    """A stream wrapper that flushes after every write."""

    def __init__(self, stream):
        self.stream = stream

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, exc_tb):
        pass

    def __getattr__(self, attr):
        return getattr(self.stream, attr)

    def write(self, msg):
        self.stream.write(msg)
        self.stream.flush()

    def writelines(self, msgs):
        self.stream.writelines(msgs)
        self.stream.flush()


class StandardLogSink:
    """Log records go to stdout, which the platform collects."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, exc_tb):
        pass

    def log(self, msg, frame_type=None):
        sys.stdout.write(msg)

    def log_error(self, message_lines, frame_type=None):
        sys.stdout.write(ERROR_LOG_LINE_TERMINATE.join(message_lines) + "\n")


class FramedTelemetryLogSink:
    """Records framed as type, length, timestamp (us), message; big-endian."""

    def __init__(self, fd):
        self.fd = int(fd)
        self.file = None

    def __enter__(self):
        self.file = os.fdopen(self.fd, "wb", 0)
        return self

    def __exit__(self, exc_type, exc_value, exc_tb):
        self.file.close()

    def log(self, msg, frame_type=None):
        data = msg.encode("utf8")
        self.file.write((frame_type or DEFAULT_FRAME_TYPE)
                        + len(data).to_bytes(4, "big")
                        + (time.time_ns() // 1000).to_bytes(8, "big")
                        + data)

    def log_error(self, message_lines, frame_type=None):
        self.log("\n".join(message_lines), frame_type=frame_type)


def create_log_sink():
    """The telemetry sink if the platform gave us its fd, else stdout."""
    fd = os.environ.pop("_LAMBDA_TELEMETRY_LOG_FD", None)
    if fd is not None:
        return FramedTelemetryLogSink(fd)
    return StandardLogSink()


class RequestState:
    """The invocation whose request id and tenant log records carry."""

    aws_request_id = None
    tenant_id = None


def _format_log_level(record):
    return min(50, max(0, record.levelno)) // 10 * 10


class RequestIdFilter(logging.Filter):
    def filter(self, record):
        record.aws_request_id = RequestState.aws_request_id or ""
        record.tenant_id = RequestState.tenant_id
        return True


class LambdaLoggerHandler(logging.Handler):
    """Root handler writing formatted records to the log sink.

    ``frame_types`` is None when awslambdaric would use its plain handler
    (text format, no level set), which frames every record as NOTSET.
    """

    def __init__(self, log_sink, frame_types=None):
        super().__init__()
        self.log_sink = log_sink
        self.frame_types = frame_types

    def emit(self, record):
        msg = self.format(record)
        frame_type = None
        if self.frame_types is not None:
            frame_type = (getattr(record, "_frame_type", None)
                          or self.frame_types.get(_format_log_level(record)))
        self.log_sink.log(msg, frame_type=frame_type)


# LogRecord attributes the JSON format does not copy into its output.
_RESERVED_FIELDS = {
    "name", "msg", "args", "levelname", "levelno", "pathname", "filename",
    "module", "exc_info", "exc_text", "stack_info", "lineno", "funcName",
    "created", "msecs", "relativeCreated", "thread", "threadName",
    "processName", "process", "aws_request_id", "tenant_id", "_frame_type",
}

_encode_log_json = json.JSONEncoder(ensure_ascii=False).encode


class JsonFormatter(logging.Formatter):
    """One JSON object per record, with awslambdaric's field names."""

    def __init__(self):
        super().__init__(datefmt=DATETIME_FORMAT)

    def format(self, record):
        record.levelno = _format_log_level(record)
        record.levelname = logging.getLevelName(record.levelno)
        record._frame_type = JSON_FRAME_TYPES.get(
            record.levelno, JSON_FRAME_TYPES[logging.NOTSET])
        exc_info = record.exc_info
        result = {
            "timestamp": self.formatTime(record, self.datefmt),
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            "stackTrace": (traceback.format_tb(exc_info[2])
                           if exc_info else None),
            "errorType": exc_info[0].__name__ if exc_info else None,
            "errorMessage": str(exc_info[1]) if exc_info else None,
            "requestId": getattr(record, "aws_request_id", None),
            "location": (f"{record.pathname}:{record.funcName}:"
                         f"{record.lineno}" if exc_info else None),
        }
        if getattr(record, "tenant_id", None) is not None:
            result["tenantId"] = record.tenant_id
        result.update(
            (key, value) for key, value in record.__dict__.items()
            if key not in _RESERVED_FIELDS and key not in result)
        result = {k: v for k, v in result.items() if v is not None}
        return _encode_log_json(result) + "\n"


def setup_logging(log_format, log_level, log_sink):
    """Install the root handler as awslambdaric does (times in UTC)."""
    logging.Formatter.converter = time.gmtime
    logger = logging.getLogger()
    if log_format == FORMAT_JSON:
        handler = LambdaLoggerHandler(log_sink, TEXT_FRAME_TYPES)
        handler.setFormatter(JsonFormatter())
    else:
        handler = LambdaLoggerHandler(
            log_sink, TEXT_FRAME_TYPES if log_level else None)
        handler.setFormatter(logging.Formatter(TEXT_FORMAT, TEXT_DATE_FORMAT))
    if log_level in logging._nameToLevel:
        logger.setLevel(log_level)
    handler.addFilter(RequestIdFilter())
    logger.addHandler(handler)
    return handler


def _replace_line_indentation(line, indent_char, new_indent_char):
    count = len(line) - len(line.lstrip(indent_char))
    return new_indent_char * count + line[count:]


def error_lines_text(error_result):
    """The lines of an error report in the text format."""
    description = "[ERROR]"
    error_type = error_result.get("errorType")
    if error_type:
        description += " " + error_type
    error_message = error_result.get("errorMessage")
    if error_message:
        if error_type:
            description += ":"
        description += " " + error_message
    lines = [description]
    stack_trace = error_result.get("stackTrace")
    if stack_trace is not None:
        lines.append("Traceback (most recent call last):")
        for element in stack_trace:
            if element == "":
                lines.append("")
            else:
                for trace_line in element.splitlines():
                    lines.append(_replace_line_indentation(
                        trace_line, " ", ERROR_LOG_IDENT))
    return lines


def error_lines_json(error_result):
    """The single line of an error report in the JSON format."""
    return [to_json({
        "timestamp": time.strftime(DATETIME_FORMAT,
                                   logging.Formatter.converter(time.time())),
        "log_level": "ERROR",
        **error_result,
    })]


def log_error(error_result, log_sink, log_format):
    """Report an error in the function's log, as awslambdaric does."""
    if log_format == FORMAT_JSON:
        log_sink.log_error(error_lines_json(error_result),
                           JSON_FRAME_TYPES[logging.ERROR])
    else:
        log_sink.log_error(error_lines_text(error_result),
                           TEXT_FRAME_TYPES[logging.ERROR])
