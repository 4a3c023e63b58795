# Lambda's log settings as a manifest's env gives them (AWS_LAMBDA_LOG_FORMAT, AWS_LAMBDA_LOG_LEVEL:
# the root logger's level is left to the runtime), stderr, and a bytes result, for
# tests/integration/python_test.cc.
import logging
import os
import sys

logger = logging.getLogger()


def lambda_handler(event, context):
    logger.info("info %s", event["tag"])
    logger.warning("warning %s", event["tag"])
    sys.stderr.write("stderr " + event["tag"] + "\n")
    if event.get("bytes"):
        return b"\x00\xffraw " + event["tag"].encode()
    return {"wrapped_by": os.environ.get("WRAPPED_BY")}
