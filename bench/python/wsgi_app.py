"""The same handler as a WSGI app, for gunicorn: the peer of bench/python.sh.

It builds the small part of an API Gateway 2.0 event the handler reads and maps its result as
API Gateway would, so both sides run the same Python per request.
"""

from app import lambda_handler


class _Context:
    aws_request_id = "bench"


def application(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length).decode() if length else ""
    event = {
        "version": "2.0",
        "rawPath": environ.get("PATH_INFO", "/"),
        "body": body,
        "isBase64Encoded": False,
        "requestContext": {"http": {"method": environ["REQUEST_METHOD"]}},
    }
    result = lambda_handler(event, _Context())
    payload = result.get("body", "").encode()
    start_response(
        f"{result.get('statusCode', 200)} OK",
        [("Content-Type", "text/plain"), ("Content-Length", str(len(payload)))],
    )
    return [payload]
