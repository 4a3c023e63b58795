"""The runtime end to end: a real bootstrap.py child against a fake API."""

import json
import os
import textwrap
import unittest

from tests.python import support
from tests.python.support import invocation, run_child

ECHO = textwrap.dedent("""\
    import os
    def lambda_handler(event, context):
        return {"event": event, "id": context.aws_request_id}
    """)


def bodies(result, path):
    return [r for r in result.requests if r.path == path]


class InvocationTest(unittest.TestCase):
    def test_result_is_posted_as_json(self):
        result = run_child({"app.py": ECHO}, "app.lambda_handler",
                           [invocation("r1", b'{"a": [1, 2]}')])
        (post,) = bodies(result, support.response_path("r1"))
        self.assertEqual(post.body,
                         b'{"event": {"a": [1, 2]}, "id": "r1"}')
        self.assertEqual(post.headers["content-type"], "application/json")
        # The fake hung up on the second `next`: the runtime ends.
        self.assertEqual([r.path for r in result.requests],
                         [support.NEXT, support.response_path("r1"),
                          support.NEXT])
        self.assertNotEqual(result.returncode, 0)

    def test_memory_error_at_the_limit_is_runtime_out_of_memory(self):
        # As under the function's `memory`: the data limit the daemon sets.
        code = textwrap.dedent("""\
            import resource
            resource.setrlimit(resource.RLIMIT_DATA, (256 << 20, 256 << 20))
            def h(event, context):
                return len(bytearray(1 << 30))
            """)
        result = run_child({"app.py": code}, "app.h", [invocation("r1")])
        (post,) = bodies(result, support.error_path("r1"))
        error = json.loads(post.body)
        self.assertEqual(error["errorType"], "Runtime.OutOfMemory")
        self.assertEqual(post.headers["lambda-runtime-function-error-type"],
                         "Runtime.OutOfMemory")
        self.assertIn("RequestId: r1 Error: Runtime out of memory",
                      error["errorMessage"])
        self.assertIn("(256 MB)", error["errorMessage"])

    def test_memory_error_without_a_limit_is_the_handlers_own(self):
        code = "def h(e, c):\n    raise MemoryError('my own')\n"
        result = run_child({"app.py": code}, "app.h", [invocation("r2")])
        (post,) = bodies(result, support.error_path("r2"))
        error = json.loads(post.body)
        self.assertEqual(error["errorType"], "MemoryError")
        self.assertEqual(error["errorMessage"], "my own")

    def test_module_code_runs_once_per_process(self):
        code = textwrap.dedent("""\
            COUNT = [0]
            print("module loaded")
            def handler(event, context):
                COUNT[0] += 1
                return COUNT[0]
            """)
        result = run_child({"app.py": code}, "app.handler",
                           [invocation("a"), invocation("b"),
                            invocation("c")])
        posts = [r.body for r in result.posts()]
        self.assertEqual(posts, [b"1", b"2", b"3"])
        self.assertEqual(result.stdout.count("module loaded"), 1)

    def test_bytes_result_is_sent_unchanged(self):
        code = "def h(e, c):\n    return b'\\x00raw\\xff'\n"
        result = run_child({"app.py": code}, "app.h", [invocation("r")])
        (post,) = result.posts()
        self.assertEqual(post.body, b"\x00raw\xff")
        self.assertEqual(post.headers["content-type"], "application/unknown")

    def test_event_without_json_content_type_is_raw_bytes(self):
        code = "def h(e, c):\n    return repr(e)\n"
        result = run_child({"app.py": code}, "app.h",
                           [invocation("r", b'{"x": 1}', "text/plain"),
                            invocation("s", b'{"x": 1}', None)])
        self.assertEqual([p.body for p in result.posts()],
                         [b'"b\'{\\"x\\": 1}\'"', b'"b\'{\\"x\\": 1}\'"'])

    def test_handler_exception_posts_error_with_user_frames_only(self):
        code = textwrap.dedent("""\
            def inner():
                raise ValueError("bad input")
            def h(event, context):
                inner()
            """)
        result = run_child({"app.py": code}, "app.h", [invocation("r9")])
        (post,) = bodies(result, support.error_path("r9"))
        error = json.loads(post.body)
        self.assertEqual(error["errorType"], "ValueError")
        self.assertEqual(error["errorMessage"], "bad input")
        self.assertEqual(error["requestId"], "r9")
        self.assertEqual(list(error), ["errorMessage", "errorType",
                                       "requestId", "stackTrace"])
        self.assertEqual(len(error["stackTrace"]), 2)
        self.assertRegex(error["stackTrace"][0],
                         r'^  File "[^"]*/app\.py", line 4, in h\n'
                         r'    inner\(\)\n$')
        self.assertRegex(error["stackTrace"][1], r'line 2, in inner\n')
        self.assertEqual(post.headers["lambda-runtime-function-error-type"],
                         "ValueError")
        cause = json.loads(
            post.headers["lambda-runtime-function-xray-error-cause"])
        self.assertEqual(cause["exceptions"][0]["type"], "ValueError")
        self.assertEqual(cause["exceptions"][0]["stack"][1]["label"],
                         "inner")
        # The error is logged as one record whose lines are joined by \r.
        self.assertIn("[ERROR] ValueError: bad input\rTraceback (most recent "
                      "call last):\r\u00a0\u00a0File", result.stdout)

    def test_unserializable_result_is_marshal_error(self):
        code = "def h(e, c):\n    return {'x': object()}\n"
        result = run_child({"app.py": code}, "app.h", [invocation("r")])
        (post,) = result.posts()
        self.assertEqual(post.path, support.error_path("r"))
        self.assertEqual(json.loads(post.body), {
            "errorMessage": "Unable to marshal response: Object of type "
                            "object is not JSON serializable",
            "errorType": "Runtime.MarshalError",
            "requestId": "r",
            "stackTrace": [],
        })

    def test_bad_event_json_is_unmarshal_error(self):
        result = run_child({"app.py": ECHO}, "app.lambda_handler",
                           [invocation("r", b"{nope")])
        (post,) = result.posts()
        error = json.loads(post.body)
        self.assertEqual(error["errorType"], "Runtime.UnmarshalError")
        self.assertEqual(error["errorMessage"],
                         "Unable to unmarshal input: Expecting property name "
                         "enclosed in double quotes: line 1 column 2 (char 1)")

    def test_bad_client_context_is_context_unmarshal_error(self):
        result = run_child({"app.py": ECHO}, "app.lambda_handler",
                           [invocation("r", Client_Context="{")])
        error = json.loads(result.posts()[0].body)
        self.assertEqual(error["errorType"],
                         "Runtime.LambdaContextUnmarshalError")
        self.assertTrue(error["errorMessage"].startswith(
            "Unable to parse Client Context JSON: "))

    def test_context_from_headers(self):
        code = textwrap.dedent("""\
            def h(event, context):
                cc = context.client_context
                return {
                    "arn": context.invoked_function_arn,
                    "mem": context.memory_limit_in_mb,
                    "name": context.function_name,
                    "version": context.function_version,
                    "group": context.log_group_name,
                    "stream": context.log_stream_name,
                    "identity": context.identity.cognito_identity_id,
                    "pool": context.identity.cognito_identity_pool_id,
                    "custom": cc.custom,
                    "title": cc.client.app_title,
                    "tenant": context.tenant_id,
                    "left": 0 < context.get_remaining_time_in_millis()
                            <= 60000,
                }
            """)
        client_context = json.dumps({"custom": {"k": "v"},
                                     "client": {"app_title": "t"}})
        identity = json.dumps({"cognitoIdentityId": "i",
                               "cognitoIdentityPoolId": "p"})
        result = run_child({"app.py": code}, "app.h", [invocation(
            "r", Client_Context=client_context, Cognito_Identity=identity,
            Aws_Tenant_Id="tenant-1")])
        self.assertEqual(json.loads(result.posts()[0].body), {
            "arn": "arn:aws:lambda:us-east-1:123456789012:function:fn",
            "mem": "128", "name": "fn", "version": "$LATEST",
            "group": "/aws/lambda/fn", "stream": "2026/01/01/[$LATEST]abc",
            "identity": "i", "pool": "p", "custom": {"k": "v"}, "title": "t",
            "tenant": "tenant-1", "left": True,
        })

    def test_trace_id_is_set_per_invocation_and_removed(self):
        code = ("import os\ndef h(e, c):\n"
                "    return os.environ.get('_X_AMZN_TRACE_ID')\n")
        result = run_child({"app.py": code}, "app.h", [
            invocation("a", Trace_Id="Root=1-abc"),
            invocation("b"),
            invocation("c", Trace_Id="Root=1-def")])
        self.assertEqual([p.body for p in result.posts()],
                         [b'"Root=1-abc"', b"null", b'"Root=1-def"'])

    def test_response_too_large_ends_the_runtime(self):
        code = "def h(e, c):\n    return 'x' * 100\n"

        def status(request):
            return 413 if request.path.endswith("/response") else 202
        # On switchyard's socket the request for the next invocation goes in
        # the same write as the result (pipelined); over TCP, as on AWS, it
        # is never sent after a refused result. Either way nothing more runs.
        for tcp, expected in (
                (False, [support.NEXT, support.response_path("a"),
                         support.NEXT]),
                (True, [support.NEXT, support.response_path("a")])):
            with self.subTest(tcp=tcp):
                result = run_child({"app.py": code}, "app.h",
                                   [invocation("a"), invocation("b")],
                                   post_status=status, tcp=tcp)
                self.assertEqual([r.path for r in result.requests], expected)
                self.assertEqual(
                    [p.path for p in result.posts()],
                    [support.response_path("a")])
                self.assertEqual(result.returncode, 1)
                self.assertIn("Failed to post invocation response",
                              result.stderr)

    def test_output_reaches_the_pipe_before_the_result(self):
        code = textwrap.dedent("""\
            import sys
            def h(event, context):
                print("partial", end="")
                sys.stderr.write("err-line")
                return 1
            """)
        seen = {}

        def on_request(request, watcher):
            if request.method == "POST":
                seen["stdout"] = watcher.read_available(wait_s=2.0)
        result = run_child({"app.py": code}, "app.h", [invocation("a")],
                           on_request=on_request, watch_stdout=True)
        self.assertEqual(seen["stdout"], b"partial")
        self.assertIn("err-line", result.stderr)

    def test_api_fd_is_hidden_from_user_code(self):
        code = textwrap.dedent("""\
            import os, stat
            def h(event, context):
                sockets = []
                for name in os.listdir("/proc/self/fd"):
                    fd = int(name)
                    try:
                        if stat.S_ISSOCK(os.fstat(fd).st_mode):
                            sockets.append(os.get_inheritable(fd))
                    except OSError:
                        pass
                return {"env": "SWITCHYARD_RUNTIME_API_FD" in os.environ,
                        "socket_inheritable": sockets}
            """)
        result = run_child({"app.py": code}, "app.h", [invocation("a")])
        self.assertEqual(json.loads(result.posts()[0].body),
                         {"env": False, "socket_inheritable": [False]})

    def test_tcp_runtime_api(self):
        result = run_child({"app.py": ECHO}, "app.lambda_handler",
                           [invocation("t1", b"5")], tcp=True)
        self.assertEqual(result.posts()[0].body, b'{"event": 5, "id": "t1"}')


class SysPathTest(unittest.TestCase):
    def test_code_dir_first_then_layers_runtime_last(self):
        code = "import sys\ndef h(e, c):\n    return sys.path\n"
        with support.tempfile.TemporaryDirectory() as layer:
            support.write_files(layer, {"python/shared.py": "VALUE = 7\n"})
            result = run_child({"app.py": code}, "app.h", [invocation("a")],
                               args=["--layer", layer])
            path = json.loads(result.posts()[0].body)
        site = "python3.{}".format(support.sys.version_info[1])
        self.assertEqual(path[1:3], [
            os.path.join(layer, "python", "lib", site, "site-packages"),
            os.path.join(layer, "python")])
        self.assertTrue(path[0].startswith(support.tempfile.gettempdir()))
        self.assertEqual(path[-1], support.RUNTIME_DIR)
        self.assertEqual(path.count(support.RUNTIME_DIR), 1)

    def test_layer_module_is_importable(self):
        code = "import shared\ndef h(e, c):\n    return shared.VALUE\n"
        with support.tempfile.TemporaryDirectory() as layer:
            support.write_files(layer, {"python/shared.py": "VALUE = 7\n"})
            result = run_child({"app.py": code}, "app.h", [invocation("a")],
                               args=["--layer", layer])
        self.assertEqual(result.posts()[0].body, b"7")


if __name__ == "__main__":
    unittest.main()
