"""The ``context`` argument of a handler, as awslambdaric builds it.

Function facts come from the environment (``memory_limit_in_mb`` stays the
string the environment holds); per-invocation facts come from the
Runtime API's ``next`` headers. ``identity`` is always present,
``client_context`` is None unless the invocation carried one.
"""

import json
import logging
import os
import sys
import time

from .errors import LAMBDA_CONTEXT_UNMARSHAL_ERROR, FaultException


class CognitoIdentity:
    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]

    def __repr__(self):
        return ("CognitoIdentity(["
                f"cognito_identity_id={self.cognito_identity_id},"
                f"cognito_identity_pool_id={self.cognito_identity_pool_id}"
                "])")


class Client:
    __slots__ = ["installation_id", "app_title", "app_version_name",
                 "app_version_code", "app_package_name"]

    def __repr__(self):
        return ("Client(["
                f"installation_id={self.installation_id},"
                f"app_title={self.app_title},"
                f"app_version_name={self.app_version_name},"
                f"app_version_code={self.app_version_code},"
                f"app_package_name={self.app_package_name}"
                "])")


class ClientContext:
    __slots__ = ["custom", "env", "client"]

    def __repr__(self):
        return ("ClientContext(["
                f"custom={self.custom},"
                f"env={self.env},"
                f"client={self.client}"
                "])")


def _from_dict(cls, values):
    if values is None:
        return None
    obj = cls()
    for field in cls.__slots__:
        setattr(obj, field, values.get(field, None))
    return obj


def parse_json_header(header, name):
    """Parse a JSON header, failing as awslambdaric does."""
    try:
        return json.loads(header)
    except Exception as e:
        raise FaultException(
            LAMBDA_CONTEXT_UNMARSHAL_ERROR,
            "Unable to parse {} JSON: {}".format(name, str(e)),
            None,
        )


class LambdaContext:
    """What a handler learns about its function and its invocation."""

    def __init__(self, invoke_id, client_context, cognito_identity,
                 epoch_deadline_time_in_ms, invoked_function_arn=None,
                 tenant_id=None):
        environ = os.environ
        self.aws_request_id = invoke_id
        self.log_group_name = environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = environ.get(
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.tenant_id = tenant_id

        self.client_context = _from_dict(ClientContext, client_context)
        if self.client_context is not None:
            self.client_context.client = _from_dict(
                Client, self.client_context.client)

        self.identity = _from_dict(CognitoIdentity, {})
        if cognito_identity is not None:
            self.identity.cognito_identity_id = cognito_identity.get(
                "cognitoIdentityId")
            self.identity.cognito_identity_pool_id = cognito_identity.get(
                "cognitoIdentityPoolId")

        self._epoch_deadline_time_in_ms = epoch_deadline_time_in_ms

    def get_remaining_time_in_millis(self):
        delta_ms = self._epoch_deadline_time_in_ms - int(time.time() * 1000)
        return delta_ms if delta_ms > 0 else 0

    def log(self, msg):
        """Write ``msg`` to the function's log as it is (no newline added)."""
        for handler in logging.getLogger().handlers:
            if hasattr(handler, "log_sink"):
                handler.log_sink.log(str(msg))
                return
        sys.stdout.write(str(msg))

    def __repr__(self):
        return ("LambdaContext(["
                f"aws_request_id={self.aws_request_id},"
                f"log_group_name={self.log_group_name},"
                f"log_stream_name={self.log_stream_name},"
                f"function_name={self.function_name},"
                f"memory_limit_in_mb={self.memory_limit_in_mb},"
                f"function_version={self.function_version},"
                f"invoked_function_arn={self.invoked_function_arn},"
                f"client_context={self.client_context},"
                f"identity={self.identity},"
                f"tenant_id={self.tenant_id}"
                "])")


def create_context(invoke_id, client_context_json, cognito_identity_json,
                   deadline_ms, invoked_function_arn, tenant_id):
    """Build the context from the raw ``next`` headers."""
    client_context = None
    if client_context_json:
        client_context = parse_json_header(client_context_json,
                                           "Client Context")
    cognito_identity = None
    if cognito_identity_json:
        cognito_identity = parse_json_header(cognito_identity_json,
                                             "Cognito Identity")
    return LambdaContext(invoke_id, client_context, cognito_identity,
                         deadline_ms, invoked_function_arn, tenant_id)
