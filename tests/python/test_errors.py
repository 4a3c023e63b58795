"""Error objects and the removal of the runtime's own stack frames."""

import os
import unittest

from tests.python import support

from switchyard_runtime import errors

RUNTIME_FILE = os.path.join(support.RUNTIME_DIR, "switchyard_runtime",
                            "fake_frames.py")


def _compile_as(filename, source):
    namespace = {}
    exec(compile(source, filename, "exec"), namespace)
    return namespace


# A "runtime" function that catches what the user function raises, as the
# loop does; and a "user" function raising from a nested call.
RUNTIME = _compile_as(RUNTIME_FILE, (
    "def call(fn):\n"
    "    try:\n"
    "        fn()\n"
    "    except Exception as e:\n"
    "        return e\n"
    "def via(fn):\n"
    "    fn()\n"))
USER = _compile_as("/var/task/app.py", (
    "def handler():\n"
    "    helper()\n"
    "def helper():\n"
    "    raise KeyError('k')\n"))
USER_BOOTSTRAP = _compile_as("/var/task/bootstrap.py", (
    "def handler(helper):\n"
    "    helper()\n"))


def _bound(fn, arg):
    """fn(arg) as a callable whose own frame is a runtime frame."""
    return _compile_as(RUNTIME_FILE.replace("fake_frames", "fake_bind"),
                       "def bind(fn, arg):\n"
                       "    return lambda: fn(arg)\n")["bind"](fn, arg)


class MakeErrorTest(unittest.TestCase):
    def test_fields_and_defaults(self):
        self.assertEqual(errors.make_error(None, None, None), {
            "errorMessage": "", "errorType": "", "requestId": "",
            "stackTrace": []})
        self.assertEqual(errors.make_error("m", "T", ["s"], "id"), {
            "errorMessage": "m", "errorType": "T", "requestId": "id",
            "stackTrace": ["s"]})


class UserFramesTest(unittest.TestCase):
    def test_leading_runtime_frames_are_removed(self):
        exc = RUNTIME["call"](lambda: RUNTIME["via"](USER["handler"]))
        result, frames = errors.error_from_exception(exc, "req")
        # call (runtime) dropped; the test's lambda is user code, so it and
        # everything after it stays, including the runtime's `via`.
        self.assertEqual([f[2] for f in frames],
                         ["<lambda>", "via", "handler", "helper"])
        self.assertEqual(result["errorType"], "KeyError")
        self.assertEqual(result["errorMessage"], "'k'")
        self.assertEqual(result["requestId"], "req")

    def test_format_list_lines(self):
        exc = RUNTIME["call"](USER["handler"])
        result, _ = errors.error_from_exception(exc)
        self.assertEqual(result["stackTrace"], [
            '  File "/var/task/app.py", line 2, in handler\n',
            '  File "/var/task/app.py", line 4, in helper\n',
        ])

    def test_leading_bootstrap_py_frames_are_dropped(self):
        # awslambdaric recognises its frames by "/bootstrap.py" in the name,
        # so a user's leading bootstrap.py frame goes too.
        exc = RUNTIME["call"](_bound(USER_BOOTSTRAP["handler"],
                                     USER["helper"]))
        frames = errors.extract_user_frames(exc.__traceback__)
        self.assertEqual([f[2] for f in frames], ["helper"])

    def test_all_runtime_frames_are_kept(self):
        exc = RUNTIME["call"](
            _compile_as(RUNTIME_FILE, "def f():\n    raise OSError()\n")["f"])
        frames = errors.extract_user_frames(exc.__traceback__)
        self.assertEqual([f[2] for f in frames], ["call", "f"])

    def test_xray_fault(self):
        fault = errors.make_xray_fault(
            "KeyError", "'k'", "/var/task",
            [("/var/task/app.py", 2, "handler", "helper()")])
        self.assertEqual(fault, {
            "working_directory": "/var/task",
            "exceptions": [{"message": "'k'", "type": "KeyError", "stack": [
                {"label": "handler", "path": "/var/task/app.py",
                 "line": 2}]}],
            "paths": ["/var/task/app.py"],
        })


if __name__ == "__main__":
    unittest.main()
