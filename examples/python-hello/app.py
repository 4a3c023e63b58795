import base64
import json
import logging

# Module level: runs once per environment (its cold start), not per invocation.
# Create clients, pools and configuration here.
logger = logging.getLogger()
logger.setLevel(logging.INFO)


def lambda_handler(event, context):
    if "requestContext" in event:  # HTTP trigger: API Gateway HTTP API, payload 2.0
        event = {**(event.get("queryStringParameters") or {}), **_json_body(event)}
    name = event.get("name", "World")
    logger.info("greeting %s", name)
    return {"statusCode": 200, "body": f"Hello, {name}!"}


def _json_body(event):
    body = event.get("body") or "{}"
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body)
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
