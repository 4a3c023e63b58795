# A Lambda Python handler that reports what it sees and misbehaves on request, for
# tests/integration/python_test.cc. Module-level code runs once per environment.
import json
import logging
import os
import signal
import sys
import tempfile
import time
from decimal import Decimal

logger = logging.getLogger()
logger.setLevel(logging.INFO)
INITS = 0
INITS += 1
STARTED = time.time()


def lambda_handler(event, context):
    if isinstance(event, dict) and "rawPath" in event:  # API Gateway 2.0, from the HTTP trigger
        body = json.loads(event.get("body") or "{}")
        return {
            "statusCode": 201,
            "headers": {"x-probe": event["requestContext"]["http"]["method"]},
            "body": f"Hello, {body.get('name', 'World')}!",
        }
    if isinstance(event, dict) and event.get("source") == "aws.events":  # cron: EventBridge
        with open(os.environ["EVENT_LOG"], "a") as log:
            log.write(json.dumps(event) + "\n")
        return None
    if isinstance(event, dict) and "Records" in event:  # lambda-sqs, from a Redis stream
        event = json.loads(event["Records"][0]["body"])
    action = event.get("action") if isinstance(event, dict) else None
    if action == "context":
        scratch = tempfile.NamedTemporaryFile(delete=False)
        scratch.write(b"x")
        scratch.close()
        return {
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "aws_request_id": context.aws_request_id,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining_ms": context.get_remaining_time_in_millis(),
            "identity": [context.identity.cognito_identity_id,
                         context.identity.cognito_identity_pool_id],
            "client_context": context.client_context.custom
            if context.client_context
            else None,
            "cwd": os.getcwd(),
            "path0": sys.path[0],
            "scratch": os.path.dirname(scratch.name),
            "env": {k: v for k, v in os.environ.items()},
            "inits": INITS,
            "pid": os.getpid(),
        }
    if action == "log":
        print("printed", event["tag"])
        logger.info("logged %s", event["tag"])
        sys.stderr.write("to stderr " + event["tag"] + "\n")
        return "logged"
    if action == "raise":
        raise ValueError("bad input: " + event.get("why", "none"))
    if action == "unserializable":
        return {"items": {1, 2}}
    if action == "decimal":
        return {"price": Decimal("12.50"), "nan": float("nan")}
    if action == "exit":
        os._exit(3)
    if action == "segfault":
        os.kill(os.getpid(), signal.SIGSEGV)
    if action == "sleep":
        time.sleep(event["seconds"])
        return "slept"
    if action == "hog":  # Past the manifest's `memory`.
        return len(bytearray(1 << 30))
    if action == "pid":
        return os.getpid()
    return {"echo": event}
