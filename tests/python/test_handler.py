"""Handler resolution and the init errors AWS reports for it."""

import json
import os
import sys
import tempfile
import textwrap
import unittest

from tests.python import support
from tests.python.support import invocation, run_child

from switchyard_runtime import errors
from switchyard_runtime.handler import resolve_handler


class ResolveHandlerTest(unittest.TestCase):
    """resolve_handler in this process, on modules in a temporary dir."""

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        sys.path.insert(0, self.dir.name)
        self.addCleanup(self.dir.cleanup)
        self.addCleanup(sys.path.remove, self.dir.name)

    def write(self, name, text):
        support.write_files(self.dir.name, {name: text})

    def fault(self, handler):
        with self.assertRaises(errors.FaultException) as caught:
            resolve_handler(handler)
        return caught.exception

    def test_function_is_returned(self):
        self.write("sy_mod_ok.py", "def f(e, c):\n    return 'ok'\n")
        self.assertEqual(resolve_handler("sy_mod_ok.f")(None, None), "ok")

    def test_slash_path_and_dotted_module(self):
        self.write("sy_pkg/__init__.py", "")
        self.write("sy_pkg/inner.py", "def f(e, c):\n    return 'deep'\n")
        self.assertEqual(resolve_handler("sy_pkg/inner.f")(None, None), "deep")
        self.assertEqual(resolve_handler("sy_pkg.inner.f")(None, None), "deep")

    def test_malformed_name(self):
        fault = self.fault("nodot")
        self.assertEqual(fault.exception_type,
                         "Runtime.MalformedHandlerName")
        self.assertEqual(fault.msg, "Bad handler 'nodot': not enough values "
                                    "to unpack (expected 2, got 1)")

    def test_builtin_module_conflict(self):
        fault = self.fault("sys.handler")
        self.assertEqual(fault.exception_type,
                         "Runtime.BuiltInModuleConflict")
        self.assertEqual(fault.msg,
                         "Cannot use built-in module sys as a handler module")

    def test_missing_module(self):
        fault = self.fault("sy_absent.handler")
        self.assertEqual(fault.exception_type, "Runtime.ImportModuleError")
        self.assertEqual(fault.msg, "Unable to import module 'sy_absent': "
                                    "No module named 'sy_absent'")

    def test_import_error_inside_module(self):
        self.write("sy_mod_imp.py", "import sy_not_there\n")
        fault = self.fault("sy_mod_imp.handler")
        self.assertEqual(fault.msg, "Unable to import module 'sy_mod_imp': "
                                    "No module named 'sy_not_there'")

    def test_syntax_error(self):
        self.write("sy_mod_syn.py", "def f(:\n    pass\n")
        fault = self.fault("sy_mod_syn.f")
        self.assertEqual(fault.exception_type, "Runtime.UserCodeSyntaxError")
        path = os.path.join(self.dir.name, "sy_mod_syn.py")
        self.assertEqual(fault.msg, "Syntax error in module 'sy_mod_syn': "
                                    "invalid syntax (sy_mod_syn.py, line 1)")
        self.assertEqual(fault.trace,
                         ['  File "{}" Line 1\n    def f(:\n'.format(path)])

    def test_handler_missing(self):
        self.write("sy_mod_nf.py", "x = 1\n")
        fault = self.fault("sy_mod_nf.nope")
        self.assertEqual(fault.exception_type, "Runtime.HandlerNotFound")
        self.assertEqual(fault.msg, "Handler 'nope' missing on module "
                                    "'sy_mod_nf'")
        self.assertIsNone(fault.trace)

    def test_other_exceptions_propagate(self):
        self.write("sy_mod_zero.py", "1 / 0\n")
        with self.assertRaises(ZeroDivisionError):
            resolve_handler("sy_mod_zero.f")


class InitErrorTest(unittest.TestCase):
    """A real child posts init/error once and exits with status 1."""

    def init_error(self, files, handler):
        result = run_child(files, handler, [invocation("never")])
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertEqual([(r.method, r.path) for r in result.requests],
                         [("POST", support.INIT_ERROR)])
        request = result.requests[0]
        body = json.loads(request.body)
        self.assertEqual(list(body), ["errorMessage", "errorType",
                                      "requestId", "stackTrace"])
        self.assertEqual(body["requestId"], "")
        self.assertEqual(
            request.headers["lambda-runtime-function-error-type"],
            body["errorType"])
        self.assertIn("LAMBDA_WARNING: Unhandled exception.", result.stdout)
        self.assertIn("[ERROR] " + body["errorType"], result.stdout)
        return body, result

    def test_malformed_handler_name(self):
        body, _ = self.init_error({"app.py": ""}, "app")
        self.assertEqual(body, {
            "errorMessage": "Bad handler 'app': not enough values to unpack "
                            "(expected 2, got 1)",
            "errorType": "Runtime.MalformedHandlerName",
            "requestId": "", "stackTrace": []})

    def test_built_in_module_conflict(self):
        body, _ = self.init_error({}, "sys.handler")
        self.assertEqual(body["errorType"], "Runtime.BuiltInModuleConflict")

    def test_import_module_error(self):
        body, _ = self.init_error({}, "missing.handler")
        self.assertEqual(body["errorType"], "Runtime.ImportModuleError")
        self.assertEqual(body["errorMessage"], "Unable to import module "
                         "'missing': No module named 'missing'")

    def test_user_code_syntax_error(self):
        body, _ = self.init_error({"app.py": "def f(:\n"}, "app.f")
        self.assertEqual(body["errorType"], "Runtime.UserCodeSyntaxError")
        self.assertEqual(len(body["stackTrace"]), 1)
        self.assertRegex(body["stackTrace"][0],
                         r'^  File "/.*/app\.py" Line 1\n    def f\(:\n$')

    def test_handler_not_found(self):
        body, _ = self.init_error({"app.py": "x = 1\n"}, "app.handler")
        self.assertEqual(body["errorType"], "Runtime.HandlerNotFound")
        self.assertEqual(body["errorMessage"],
                         "Handler 'handler' missing on module 'app'")

    def test_module_level_exception_keeps_import_frames(self):
        code = textwrap.dedent("""\
            def boom():
                return 1 / 0
            boom()
            """)
        body, result = self.init_error({"app.py": code}, "app.h")
        self.assertEqual(body["errorType"], "ZeroDivisionError")
        self.assertEqual(body["errorMessage"], "division by zero")
        trace = body["stackTrace"]
        # As on AWS: importlib's frames first, the runtime's frames dropped.
        self.assertIn("importlib/__init__.py", trace[0])
        self.assertTrue(all("switchyard_runtime" not in t for t in trace))
        self.assertRegex(trace[-2], r'app\.py", line 3, in <module>')
        self.assertRegex(trace[-1], r'app\.py", line 2, in boom')

    def test_empty_handler_setting(self):
        body, _ = self.init_error({}, "")
        self.assertEqual(body["errorMessage"], "Bad handler '': not enough "
                         "values to unpack (expected 2, got 1)")


if __name__ == "__main__":
    unittest.main()
