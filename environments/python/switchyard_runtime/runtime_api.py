"""HTTP client of the Lambda Runtime API.

Under switchyard the API is served on an already-connected Unix stream socket
whose fd is in ``SWITCHYARD_RUNTIME_API_FD``; elsewhere (real AWS Lambda, a
``runtime: provided`` function) it is TCP to ``AWS_LAMBDA_RUNTIME_API``. One
keep-alive connection carries every request in turn; ``next`` has no timeout.
A refused request ends the runtime, as it ends awslambdaric.
"""

import http.client
import os
import socket

API_VERSION = "/2018-06-01/runtime"
NEXT_PATH = API_VERSION + "/invocation/next"
INIT_ERROR_PATH = API_VERSION + "/init/error"
INVOCATION_PATH = API_VERSION + "/invocation/"

ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
XRAY_ERROR_CAUSE_HEADER = "Lambda-Runtime-Function-XRay-Error-Cause"
# AWS's client drops the X-Ray cause at 1 MiB; switchyard's Runtime API takes
# at most 64 KiB of headers, so a smaller cause is the most we can send.
MAX_XRAY_CAUSE_BYTES = 32 * 1024

FD_ENV = "SWITCHYARD_RUNTIME_API_FD"
ADDRESS_ENV = "AWS_LAMBDA_RUNTIME_API"


class RuntimeApiError(RuntimeError):
    """The Runtime API refused a request or the connection is gone."""


class _FdConnection(http.client.HTTPConnection):
    """An HTTPConnection over a socket the parent process connected for us.

    The socket can be used once: when http.client closes it (the peer closed
    or broke the connection) there is nothing to reconnect to.
    """

    def __init__(self, fd):
        super().__init__("localhost")
        os.set_inheritable(fd, False)
        self._inherited = socket.socket(fileno=fd)

    def connect(self):
        if self._inherited is None:
            raise RuntimeApiError("the Runtime API connection is closed")
        self.sock, self._inherited = self._inherited, None


class Invocation:
    """One invocation as ``next`` delivered it."""

    __slots__ = ("invoke_id", "x_amzn_trace_id", "invoked_function_arn",
                 "deadline_time_in_ms", "client_context", "cognito_identity",
                 "tenant_id", "content_type", "event_body")


def _non_empty(value):
    return value if value else None


def _deadline(value):
    # aws-lambda-cpp reads the header with strtoul: no digits means 0.
    if not value:
        return 0
    digits = value.strip()
    end = 0
    while end < len(digits) and digits[end].isdigit():
        end += 1
    return int(digits[:end]) if end else 0


class RuntimeApiClient:
    """Sequential requests to the Runtime API over one connection."""

    def __init__(self, connection):
        self._conn = connection

    @classmethod
    def from_environment(cls, environ=os.environ):
        """Connect as the environment says; hides the fd from user code."""
        fd = environ.pop(FD_ENV, None)
        if fd is not None:
            return cls(_FdConnection(int(fd)))
        address = environ.get(ADDRESS_ENV)
        if not address:
            raise RuntimeApiError(
                "neither {} nor {} is set".format(FD_ENV, ADDRESS_ENV))
        conn = http.client.HTTPConnection(address)
        conn.connect()
        return cls(conn)

    def _request(self, method, path, body=None, headers=()):
        conn = self._conn
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        data = response.read()
        return response, data

    def wait_next_invocation(self):
        """Block until the next invocation and return it."""
        try:
            response, body = self._request("GET", NEXT_PATH)
        except (OSError, http.client.HTTPException) as e:
            raise RuntimeApiError("Failed to get next: {}".format(e)) from e
        if not 200 <= response.status <= 299:
            raise RuntimeApiError(
                "Failed to get next invocation. Http Response code: {}".format(
                    response.status))
        headers = response.msg
        invoke_id = headers.get("Lambda-Runtime-Aws-Request-Id")
        if invoke_id is None:
            raise RuntimeApiError(
                "Failed to find header Lambda-Runtime-Aws-Request-Id in "
                "response")
        inv = Invocation()
        inv.invoke_id = invoke_id
        inv.x_amzn_trace_id = _non_empty(headers.get("Lambda-Runtime-Trace-Id"))
        inv.invoked_function_arn = headers.get(
            "Lambda-Runtime-Invoked-Function-Arn", "")
        inv.deadline_time_in_ms = _deadline(
            headers.get("Lambda-Runtime-Deadline-Ms"))
        inv.client_context = _non_empty(
            headers.get("Lambda-Runtime-Client-Context"))
        inv.cognito_identity = _non_empty(
            headers.get("Lambda-Runtime-Cognito-Identity"))
        inv.tenant_id = _non_empty(headers.get("Lambda-Runtime-Aws-Tenant-Id"))
        inv.content_type = _non_empty(headers.get("Content-Type"))
        inv.event_body = body
        return inv

    def _post(self, path, body, headers, what):
        try:
            response, data = self._request("POST", path, body, headers)
        except (OSError, http.client.HTTPException) as e:
            raise RuntimeApiError("Failed to post {}: {}".format(what, e)) \
                from e
        if not 200 <= response.status <= 299:
            raise RuntimeApiError(
                "Failed to post {}. Http response code: {}. {}".format(
                    what, response.status,
                    data.decode("utf-8", "replace")))

    def post_invocation_result(self, invoke_id, body, content_type):
        """Send a handler's result (bytes)."""
        self._post(INVOCATION_PATH + invoke_id + "/response", body,
                   (("Content-Type", content_type),), "invocation response")

    def post_invocation_error(self, invoke_id, error_type, error_json,
                              xray_fault_json=None):
        """Send an error object (JSON text) for an invocation."""
        headers = [("Content-Type", "application/json"),
                   (ERROR_TYPE_HEADER, error_type.encode("utf-8"))]
        self._post(INVOCATION_PATH + invoke_id + "/error",
                   error_json.encode("utf-8"),
                   _with_xray(headers, xray_fault_json), "invocation error")

    def post_init_error(self, error_json, error_type, xray_fault_json=None):
        """Report that the function could not start."""
        headers = [("Content-Type", "application/json"),
                   (ERROR_TYPE_HEADER, error_type.encode("utf-8"))]
        self._post(INIT_ERROR_PATH, error_json.encode("utf-8"),
                   _with_xray(headers, xray_fault_json), "init error")


def _with_xray(headers, xray_fault_json):
    if xray_fault_json:
        value = xray_fault_json.encode("utf-8")
        if len(value) < MAX_XRAY_CAUSE_BYTES:
            headers.append((XRAY_ERROR_CAUSE_HEADER, value))
    return headers
