"""The context object handlers receive."""

import io
import logging
import os
import time
import unittest
from unittest import mock

from tests.python import support  # noqa: F401  (puts the runtime on sys.path)

from switchyard_runtime import context as ctx
from switchyard_runtime.errors import FaultException

ENV = {
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/fn",
    "AWS_LAMBDA_LOG_STREAM_NAME": "stream",
    "AWS_LAMBDA_FUNCTION_NAME": "fn",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_LAMBDA_FUNCTION_VERSION": "7",
}


class ContextTest(unittest.TestCase):
    def make(self, client_context=None, identity=None, deadline=None,
             tenant=None):
        if deadline is None:
            deadline = int(time.time() * 1000) + 5000
        with mock.patch.dict(os.environ, ENV):
            return ctx.create_context("req-1", client_context, identity,
                                      deadline, "arn:fn", tenant)

    def test_function_facts_from_the_environment(self):
        c = self.make()
        self.assertEqual(
            (c.aws_request_id, c.log_group_name, c.log_stream_name,
             c.function_name, c.memory_limit_in_mb, c.function_version,
             c.invoked_function_arn, c.tenant_id),
            ("req-1", "/aws/lambda/fn", "stream", "fn", "256", "7",
             "arn:fn", None))

    def test_memory_limit_is_the_environment_string(self):
        self.assertIsInstance(self.make().memory_limit_in_mb, str)

    def test_remaining_time_counts_down_and_never_below_zero(self):
        c = self.make()
        self.assertTrue(4000 < c.get_remaining_time_in_millis() <= 5000)
        past = self.make(deadline=int(time.time() * 1000) - 10000)
        self.assertEqual(past.get_remaining_time_in_millis(), 0)
        self.assertEqual(self.make(deadline=0).get_remaining_time_in_millis(),
                         0)

    def test_identity_is_always_present(self):
        c = self.make()
        self.assertIsNone(c.identity.cognito_identity_id)
        self.assertIsNone(c.identity.cognito_identity_pool_id)
        c = self.make(identity='{"cognitoIdentityId": "id", '
                               '"cognitoIdentityPoolId": "pool"}')
        self.assertEqual((c.identity.cognito_identity_id,
                          c.identity.cognito_identity_pool_id),
                         ("id", "pool"))

    def test_client_context(self):
        self.assertIsNone(self.make().client_context)
        c = self.make(client_context='{"custom": {"a": 1}, "env": {"b": 2}, '
                                     '"client": {"installation_id": "i"}}')
        self.assertEqual(c.client_context.custom, {"a": 1})
        self.assertEqual(c.client_context.env, {"b": 2})
        self.assertEqual(c.client_context.client.installation_id, "i")
        self.assertIsNone(c.client_context.client.app_title)
        c = self.make(client_context='{"custom": null}')
        self.assertIsNone(c.client_context.client)

    def test_bad_headers(self):
        for header, name in ((dict(client_context="{"), "Client Context"),
                             (dict(identity="nope"), "Cognito Identity")):
            with self.assertRaises(FaultException) as caught:
                self.make(**header)
            self.assertEqual(caught.exception.exception_type,
                             "Runtime.LambdaContextUnmarshalError")
            self.assertTrue(caught.exception.msg.startswith(
                "Unable to parse {} JSON: ".format(name)))

    def test_tenant_id(self):
        self.assertEqual(self.make(tenant="t-1").tenant_id, "t-1")

    def test_repr(self):
        c = self.make()
        self.assertEqual(
            repr(c),
            "LambdaContext([aws_request_id=req-1,log_group_name=/aws/lambda/"
            "fn,log_stream_name=stream,function_name=fn,memory_limit_in_mb="
            "256,function_version=7,invoked_function_arn=arn:fn,"
            "client_context=None,identity=CognitoIdentity([cognito_identity_"
            "id=None,cognito_identity_pool_id=None]),tenant_id=None])")

    def test_log_writes_to_the_root_handlers_sink(self):
        class Sink:
            def __init__(self):
                self.lines = []

            def log(self, msg, frame_type=None):
                self.lines.append(msg)

        handler = logging.Handler()
        handler.log_sink = Sink()
        root = logging.getLogger()
        root.addHandler(handler)
        self.addCleanup(root.removeHandler, handler)
        self.make().log(12)
        self.assertEqual(handler.log_sink.lines, ["12"])

    def test_log_without_sink_writes_stdout(self):
        with mock.patch("sys.stdout", new=io.StringIO()) as out:
            self.make().log("plain")
        self.assertEqual(out.getvalue(), "plain")


if __name__ == "__main__":
    unittest.main()
