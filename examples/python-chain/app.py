import json
import logging
import os

import boto3

logger = logging.getLogger()
logger.setLevel(logging.INFO)

# Module level: one client per environment, reused by every invocation.
# The endpoint is switchyard's admin listener, which serves the Lambda Invoke API.
lambda_client = boto3.client(
    "lambda",
    endpoint_url=os.environ["SWITCHYARD_LAMBDA_ENDPOINT"],
    region_name=os.environ["AWS_REGION"],
)


def lambda_handler(event, context):
    """Call hello-python with this event and return what it answered."""
    response = lambda_client.invoke(
        FunctionName=os.environ.get("GREETER", "hello-python"),
        InvocationType="RequestResponse",
        Payload=json.dumps(event).encode(),
    )
    result = json.loads(response["Payload"].read())
    if "FunctionError" in response:
        # The callee failed: fail too, so that retries and dead letters apply here.
        raise RuntimeError(f'hello-python failed: {result["errorType"]}: {result["errorMessage"]}')
    logger.info("hello-python answered %s", result)
    return result
