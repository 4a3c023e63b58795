"""Error objects the Runtime API receives, built as awslambdaric builds them.

An error body is ``{"errorMessage", "errorType", "requestId", "stackTrace"}``;
``stackTrace`` is ``traceback.format_list`` output without the runtime's own
leading frames, so users see their code first, as on AWS.
"""

import os
import resource
import traceback

MARSHAL_ERROR = "Runtime.MarshalError"
UNMARSHAL_ERROR = "Runtime.UnmarshalError"
USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
LAMBDA_CONTEXT_UNMARSHAL_ERROR = "Runtime.LambdaContextUnmarshalError"
OUT_OF_MEMORY = "Runtime.OutOfMemory"

# Frames in these files belong to the runtime, not to the user.
_RUNTIME_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_RUNTIME_PREFIX = _RUNTIME_DIR + os.sep


class FaultException(Exception):
    """A failure the runtime reports under a ``Runtime.*`` error type."""

    def __init__(self, exception_type, msg, trace=None):
        super().__init__(msg)
        self.exception_type = exception_type
        self.msg = msg
        self.trace = trace


def make_error(error_message, error_type, stack_trace, invoke_id=None):
    """The JSON object posted to ``init/error`` or ``invocation/{id}/error``.
    """
    return {
        "errorMessage": error_message if error_message else "",
        "errorType": error_type if error_type else "",
        "requestId": invoke_id if invoke_id is not None else "",
        "stackTrace": stack_trace if stack_trace else [],
    }


def memory_limit_mb():
    """The data limit this process runs under (the function's ``memory``), in
    MB; None when there is none."""
    soft, _ = resource.getrlimit(resource.RLIMIT_DATA)
    return None if soft == resource.RLIM_INFINITY else soft >> 20


def out_of_memory_error(invoke_id, limit_mb):
    """What Lambda reports for a function over its memory: the handler's
    MemoryError at the limit. The daemon then replaces this environment, as
    Lambda resets one (what the function holds would stay held)."""
    return make_error(
        "RequestId: {} Error: Runtime out of memory: MemoryError at the "
        "function's memory limit ({} MB)".format(invoke_id, limit_mb),
        OUT_OF_MEMORY, [], invoke_id)


def is_runtime_frame(filename):
    """True for frames of this runtime.

    awslambdaric drops leading frames whose file name contains
    ``/bootstrap.py``; we do the same and also drop our package's frames.
    """
    return "/bootstrap.py" in filename or filename.startswith(_RUNTIME_PREFIX)


def extract_user_frames(tb):
    """(filename, lineno, name, line) tuples, leading runtime frames removed.

    As in awslambdaric, if every frame is a runtime frame none are removed.
    """
    frames = [(f.filename, f.lineno, f.name, f.line)
              for f in traceback.extract_tb(tb)]
    for i, frame in enumerate(frames):
        if not is_runtime_frame(frame[0]):
            return frames[i:]
    return frames


def error_from_exception(exc, invoke_id=None, msg=None):
    """Error object for an exception raised by user code."""
    frames = extract_user_frames(exc.__traceback__)
    return make_error(
        msg if msg else str(exc),
        type(exc).__name__,
        traceback.format_list(frames),
        invoke_id,
    ), frames


def make_xray_fault(ex_type, ex_msg, working_dir, frames):
    """The X-Ray error cause AWS's client sends along with an error."""
    stack = []
    files = set()
    for tb_file, tb_line, tb_method, _ in frames:
        stack.append({"label": tb_method, "path": tb_file, "line": tb_line})
        files.add(tb_file)
    return {
        "working_directory": working_dir,
        "exceptions": [{"message": ex_msg, "type": ex_type, "stack": stack}],
        "paths": list(files),
    }
