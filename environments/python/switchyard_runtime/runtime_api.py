"""HTTP client of the Lambda Runtime API.

Under switchyard the API is served on an already-connected Unix stream socket
whose fd is in ``SWITCHYARD_RUNTIME_API_FD``; elsewhere (real AWS Lambda, a
``runtime: provided`` function) it is TCP to ``AWS_LAMBDA_RUNTIME_API``. One
keep-alive connection carries every request in turn; ``next`` has no timeout.
A refused request ends the runtime, as it ends awslambdaric.

The HTTP/1.1 client is a small one of our own rather than http.client:
http.client parses every response's headers with the email package, which
was most of the per-invocation cost, and importing it took about half of the
runtime's start-up time.
"""

import io
import os
import select
import socket

API_VERSION = "/2018-06-01/runtime"
NEXT_PATH = API_VERSION + "/invocation/next"
INIT_ERROR_PATH = API_VERSION + "/init/error"
INVOCATION_PATH = API_VERSION + "/invocation/"

ERROR_TYPE_HEADER = b"Lambda-Runtime-Function-Error-Type"
XRAY_ERROR_CAUSE_HEADER = b"Lambda-Runtime-Function-XRay-Error-Cause"
# AWS's client drops the X-Ray cause at 1 MiB; switchyard's Runtime API takes
# at most 64 KiB of headers, so a smaller cause is the most we can send.
MAX_XRAY_CAUSE_BYTES = 32 * 1024

FD_ENV = "SWITCHYARD_RUNTIME_API_FD"
ADDRESS_ENV = "AWS_LAMBDA_RUNTIME_API"

_MAX_LINE = 1024 * 1024


class RuntimeApiError(RuntimeError):
    """The Runtime API refused a request or the connection is gone."""


class _PolledReader(io.RawIOBase):
    """A stream socket's reading side that waits in poll(), not in recv().

    A Unix socket wakes a process blocked in recv() each time the daemon reads
    what it wrote (the writer's "space" wake-up goes to the same queue); poll()
    sleeps through those: one wake-up per answer instead of two. The buffered
    reader above asks for bytes only when it has none left.
    """

    def __init__(self, sock):
        self._sock = sock
        self._poll = select.poll()
        self._poll.register(sock.fileno(), select.POLLIN)

    def readable(self):
        return True

    def readinto(self, buffer):
        while True:
            self._poll.poll()
            try:
                return self._sock.recv_into(buffer, 0, socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue


class HttpConnection:
    """Sequential HTTP/1.1 requests on one keep-alive stream socket."""

    def __init__(self, sock, host):
        self._sock = sock
        self._reader = io.BufferedReader(_PolledReader(sock))
        self._host_line = b"Host: " + host.encode("ascii") + b"\r\n"

    def close(self):
        self._reader.close()
        self._sock.close()

    def request(self, method, path, body=None, headers=()):
        """Send one request; return (status, {lower-case name: value}, body).

        Header values may be str or bytes; str must be Latin-1.
        """
        try:
            self._sock.sendall(self._encode(method, path, body, headers))
            return self._read_response()
        except OSError as e:
            raise RuntimeApiError(
                "the Runtime API connection failed: {}".format(e)) from e

    def request_pair(self, first, second):
        """Send two requests in one write (pipelined); return both responses.

        Each request is (method, path, body, headers). The server answers
        them in order; the second may wait (``next`` blocks) while the first
        is answered at once.
        """
        try:
            self._sock.sendall(self._encode(*first) + self._encode(*second))
            return self._read_response(), self._read_response()
        except OSError as e:
            raise RuntimeApiError(
                "the Runtime API connection failed: {}".format(e)) from e

    def _encode(self, method, path, body, headers):
        parts = [method, b" ", path.encode("latin-1"), b" HTTP/1.1\r\n",
                 self._host_line]
        for name, value in headers:
            if isinstance(value, str):
                value = value.encode("latin-1")
            if b"\r" in value or b"\n" in value:
                raise ValueError("header value contains a line break")
            parts += (name, b": ", value, b"\r\n")
        if body is not None:
            parts += (b"Content-Length: ", str(len(body)).encode("ascii"),
                      b"\r\n\r\n", body)
        else:
            parts.append(b"\r\n")
        return b"".join(parts)

    def _readline(self):
        line = self._reader.readline(_MAX_LINE)
        if not line.endswith(b"\n"):
            raise RuntimeApiError(
                "the Runtime API closed the connection" if not line
                else "the Runtime API sent a malformed response")
        return line

    def _read_response(self):
        status_line = self._readline()
        try:
            _, code, _ = (status_line + b" ").split(b" ", 2)
            status = int(code)
        except ValueError:
            raise RuntimeApiError("the Runtime API sent a malformed status "
                                  "line: {!r}".format(status_line))
        headers = {}
        while True:
            line = self._readline()
            if line in (b"\r\n", b"\n"):
                break
            name, sep, value = line.partition(b":")
            if not sep:
                raise RuntimeApiError("the Runtime API sent a malformed "
                                      "header: {!r}".format(line))
            headers[name.strip().lower().decode("latin-1")] = \
                value.strip().decode("utf-8", "surrogateescape")
        return status, headers, self._read_body(status, headers)

    def _read_body(self, status, headers):
        if status in (204, 304) or 100 <= status < 200:
            return b""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            return self._read_chunked()
        length = headers.get("content-length")
        if length is not None:
            body = self._reader.read(int(length))
            if len(body) != int(length):
                raise RuntimeApiError("the Runtime API closed the connection "
                                      "in a response body")
            return body
        # Neither length nor chunks: the body runs to the end of the stream.
        return self._reader.read()

    def _read_chunked(self):
        chunks = []
        while True:
            size = int(self._readline().split(b";", 1)[0], 16)
            if size == 0:
                while self._readline() not in (b"\r\n", b"\n"):
                    pass
                return b"".join(chunks)
            chunk = self._reader.read(size)
            if len(chunk) != size:
                raise RuntimeApiError("the Runtime API closed the connection "
                                      "in a response body")
            chunks.append(chunk)
            self._readline()


def connect_fd(fd):
    """Use the stream socket our parent connected; keep it from children."""
    os.set_inheritable(fd, False)
    return HttpConnection(socket.socket(fileno=fd), "localhost")


def connect_tcp(address):
    """Connect to ``host:port`` as AWS's client does."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise RuntimeApiError("bad {} '{}'".format(ADDRESS_ENV, address))
    sock = socket.create_connection((host.strip("[]"), int(port)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return HttpConnection(sock, address)


class Invocation:
    """One invocation as ``next`` delivered it."""

    __slots__ = ("invoke_id", "x_amzn_trace_id", "invoked_function_arn",
                 "deadline_time_in_ms", "client_context", "cognito_identity",
                 "tenant_id", "content_type", "event_body")


def _deadline(value):
    # aws-lambda-cpp reads the header with strtoul: no digits means 0.
    if not value:
        return 0
    try:
        return int(value)
    except ValueError:
        pass
    digits = value.strip()
    end = 0
    while end < len(digits) and digits[end].isdigit():
        end += 1
    return int(digits[:end]) if end else 0


class RuntimeApiClient:
    """The Runtime API's operations, over one connection."""

    def __init__(self, connection, pipelined=False):
        self._conn = connection
        # switchyard's Runtime API takes the request for the next invocation
        # in the same write as a result, which saves the environment a wake-up
        # per invocation; AWS's is only spoken to one request at a time.
        self.pipelined = pipelined

    @classmethod
    def from_environment(cls, environ=os.environ):
        """Connect as the environment says; hides the fd from user code."""
        fd = environ.pop(FD_ENV, None)
        if fd is not None:
            try:
                return cls(connect_fd(int(fd)), pipelined=True)
            except (OSError, ValueError) as e:
                raise RuntimeApiError("bad {} '{}': {}".format(
                    FD_ENV, fd, e)) from e
        address = environ.get(ADDRESS_ENV)
        if not address:
            raise RuntimeApiError(
                "neither {} nor {} is set".format(FD_ENV, ADDRESS_ENV))
        try:
            return cls(connect_tcp(address))
        except OSError as e:
            raise RuntimeApiError("cannot connect to the Runtime API at "
                                  "{}: {}".format(address, e)) from e

    def wait_next_invocation(self):
        """Block until the next invocation and return it."""
        return self._invocation(self._conn.request(b"GET", NEXT_PATH))

    def post_invocation_result_and_wait_next(self, invoke_id, body,
                                             content_type):
        """Send a handler's result and block until the next invocation.

        Pipelined when the Runtime API is switchyard's socket; otherwise the
        two requests one after the other, as AWS's client makes them.
        """
        path = INVOCATION_PATH + invoke_id + "/response"
        headers = ((b"Content-Type", content_type),)
        if not self.pipelined:
            self.post_invocation_result(invoke_id, body, content_type)
            return self.wait_next_invocation()
        posted, following = self._conn.request_pair(
            (b"POST", path, body, headers), (b"GET", NEXT_PATH, None, ()))
        _check_posted(posted, "invocation response")
        return self._invocation(following)

    def _invocation(self, response):
        status, headers, body = response
        if not 200 <= status <= 299:
            raise RuntimeApiError(
                "Failed to get next invocation. Http Response code: {}".format(
                    status))
        get = headers.get
        invoke_id = get("lambda-runtime-aws-request-id")
        if invoke_id is None:
            raise RuntimeApiError("Failed to find header "
                                  "Lambda-Runtime-Aws-Request-Id in response")
        inv = Invocation()
        inv.invoke_id = invoke_id
        # As awslambdaric: empty headers are absent, the ARN is "" if absent.
        inv.x_amzn_trace_id = get("lambda-runtime-trace-id") or None
        inv.invoked_function_arn = get(
            "lambda-runtime-invoked-function-arn", "")
        inv.deadline_time_in_ms = _deadline(get("lambda-runtime-deadline-ms"))
        inv.client_context = get("lambda-runtime-client-context") or None
        inv.cognito_identity = get("lambda-runtime-cognito-identity") or None
        inv.tenant_id = get("lambda-runtime-aws-tenant-id") or None
        inv.content_type = get("content-type") or None
        inv.event_body = body
        return inv

    def _post(self, path, body, headers, what):
        _check_posted(self._conn.request(b"POST", path, body, headers), what)

    def post_invocation_result(self, invoke_id, body, content_type):
        """Send a handler's result (bytes)."""
        self._post(INVOCATION_PATH + invoke_id + "/response", body,
                   ((b"Content-Type", content_type),), "invocation response")

    def post_invocation_error(self, invoke_id, error_type, error_json,
                              xray_fault_json=None):
        """Send an error object (JSON text) for an invocation."""
        headers = [(b"Content-Type", b"application/json"),
                   (ERROR_TYPE_HEADER, error_type.encode("utf-8"))]
        self._post(INVOCATION_PATH + invoke_id + "/error",
                   error_json.encode("utf-8"),
                   _with_xray(headers, xray_fault_json), "invocation error")

    def post_init_error(self, error_json, error_type, xray_fault_json=None):
        """Report that the function could not start."""
        headers = [(b"Content-Type", b"application/json"),
                   (ERROR_TYPE_HEADER, error_type.encode("utf-8"))]
        self._post(INIT_ERROR_PATH, error_json.encode("utf-8"),
                   _with_xray(headers, xray_fault_json), "init error")


def _check_posted(response, what):
    status, _, data = response
    if not 200 <= status <= 299:
        raise RuntimeApiError(
            "Failed to post {}. Http response code: {}. {}".format(
                what, status, data.decode("utf-8", "replace")))


def _with_xray(headers, xray_fault_json):
    if xray_fault_json:
        value = xray_fault_json.encode("utf-8")
        if len(value) < MAX_XRAY_CAUSE_BYTES:
            headers.append((XRAY_ERROR_CAUSE_HEADER, value))
    return headers
