"""The runtime's main loop: init once, then one invocation after another.

Init resolves the handler (running the module's top-level code once); an
init failure is logged, posted to ``init/error`` and ends the process with
status 1. Each invocation sets ``_X_AMZN_TRACE_ID``, builds the context,
decodes the event, calls the handler and posts its result or error, exactly
as awslambdaric's ``bootstrap.run`` does.
"""

import logging
import os
import sys

from . import errors, log, marshal
from .context import create_context
from .handler import resolve_handler
from .runtime_api import RuntimeApiClient, RuntimeApiError

_environ = os.environ
_TRACE_ENV = "_X_AMZN_TRACE_ID"


def update_xray_env_variable(trace_id):
    """Expose the invocation's trace id, or none if it carried none."""
    if trace_id is not None:
        _environ[_TRACE_ENV] = trace_id
    elif _TRACE_ENV in _environ:
        del _environ[_TRACE_ENV]


def init(handler_name, client, log_sink, log_format, log_level):
    """Set up logging and resolve the handler; exit 1 on failure."""
    try:
        log.setup_logging(log_format, log_level, log_sink)
        return resolve_handler(handler_name)
    except errors.FaultException as e:
        error_result = errors.make_error(e.msg, e.exception_type, e.trace)
    except Exception as e:
        error_result, _ = errors.error_from_exception(e)

    logging.warning(log.UNHANDLED_EXCEPTION_WARNING)
    log.log_error(error_result, log_sink, log_format)
    client.post_init_error(marshal.to_json(error_result),
                           error_result["errorType"])
    sys.exit(1)


def handle_invocation(client, request_handler, inv, log_sink, log_format):
    """Run one invocation, post its outcome and return the next one."""
    try:
        context = create_context(
            inv.invoke_id, inv.client_context, inv.cognito_identity,
            inv.deadline_time_in_ms, inv.invoked_function_arn, inv.tenant_id)
        event = marshal.unmarshal_event(inv.event_body, inv.content_type)
        response = request_handler(event, context)
        body, content_type = marshal.marshal_response(response)
    except errors.FaultException as e:
        xray_fault = errors.make_xray_fault(
            "LambdaValidationError", e.msg, os.getcwd(), [])
        error_result = errors.make_error(
            e.msg, e.exception_type, e.trace, inv.invoke_id)
    except Exception as e:
        limit_mb = (errors.memory_limit_mb()
                    if isinstance(e, MemoryError) else None)
        if limit_mb is not None:
            error_result = errors.out_of_memory_error(inv.invoke_id, limit_mb)
            xray_fault = errors.make_xray_fault(
                errors.OUT_OF_MEMORY, error_result["errorMessage"],
                os.getcwd(), [])
        else:
            error_result, frames = errors.error_from_exception(
                e, inv.invoke_id)
            xray_fault = errors.make_xray_fault(
                type(e).__name__, str(e), os.getcwd(), frames)
    else:
        return client.post_invocation_result_and_wait_next(
            inv.invoke_id, body, content_type)

    log.log_error(error_result, log_sink, log_format)
    client.post_invocation_error(
        inv.invoke_id, error_result["errorType"],
        marshal.to_json(error_result), marshal.to_json(xray_fault))
    return client.wait_next_invocation()


def run(handler_name, client, environ=os.environ):
    """Serve invocations forever (until the Runtime API goes away)."""
    sys.stdout = log.Unbuffered(sys.stdout)
    sys.stderr = log.Unbuffered(sys.stderr)
    log_format = log.log_format_from_env(environ.get("AWS_LAMBDA_LOG_FORMAT"))
    log_level = log.log_level_from_env(environ.get("AWS_LAMBDA_LOG_LEVEL"))

    with log.create_log_sink() as log_sink:
        request_handler = init(handler_name, client, log_sink, log_format,
                               log_level)
        state = log.RequestState
        inv = client.wait_next_invocation()
        while True:
            state.aws_request_id = inv.invoke_id
            state.tenant_id = inv.tenant_id
            update_xray_env_variable(inv.x_amzn_trace_id)
            inv = handle_invocation(client, request_handler, inv, log_sink,
                                    log_format)


def main():
    """Entry point used by bootstrap.py once sys.path is in place.

    Losing the Runtime API (refused request, closed connection) ends the
    process with status 1 as in awslambdaric, but with a one-line message
    instead of a traceback in the function's log.
    """
    try:
        client = RuntimeApiClient.from_environment()
        run(os.environ.get("_HANDLER", ""), client)
    except RuntimeApiError as e:
        sys.stderr.write("switchyard runtime: {}\n".format(e))
        sys.exit(1)
