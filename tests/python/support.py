"""Shared pieces of the Python runtime tests: paths and a fake Runtime API.

The fake serves plain HTTP/1.1 keep-alive on one end of a socketpair (passed
to a real ``bootstrap.py`` child as ``SWITCHYARD_RUNTIME_API_FD``) or on a TCP
socket bound to port 0, records every request, and hangs up when it has no
invocation left, which ends the child.
"""

import os
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
RUNTIME_DIR = os.path.join(REPO, "environments", "python")
BOOTSTRAP = os.path.join(RUNTIME_DIR, "bootstrap.py")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") \
    else sys.executable

if RUNTIME_DIR not in sys.path:
    sys.path.append(RUNTIME_DIR)

NEXT = "/2018-06-01/runtime/invocation/next"
INIT_ERROR = "/2018-06-01/runtime/init/error"
CHILD_DEADLINE_S = 30


def response_path(request_id):
    return "/2018-06-01/runtime/invocation/{}/response".format(request_id)


def error_path(request_id):
    return "/2018-06-01/runtime/invocation/{}/error".format(request_id)


class Request:
    def __init__(self, method, path, headers, body):
        self.method = method
        self.path = path
        self.headers = headers  # lower-case names
        self.body = body

    def __repr__(self):
        return "Request({} {} {!r})".format(self.method, self.path,
                                            self.body[:200])


def invocation(request_id, body=b"{}", content_type="application/json",
               deadline_ms=None, **headers):
    """An invocation for the fake: headers named as keyword arguments."""
    if deadline_ms is None:
        deadline_ms = int(time.time() * 1000) + 60000
    all_headers = {
        "Lambda-Runtime-Aws-Request-Id": request_id,
        "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
        "Lambda-Runtime-Invoked-Function-Arn":
            "arn:aws:lambda:us-east-1:123456789012:function:fn",
    }
    if content_type is not None:
        all_headers["Content-Type"] = content_type
    for name, value in headers.items():
        all_headers["Lambda-Runtime-" + name.replace("_", "-")] = value
    return all_headers, body


class FakeRuntimeApi:
    """Serves queued invocations and records the requests it gets."""

    def __init__(self, invocations, post_status=202, on_request=None):
        self.invocations = list(invocations)
        self.post_status = post_status
        self.on_request = on_request
        self.requests = []
        self.errors = []
        self._thread = None

    def serve_socket(self, sock):
        self._thread = threading.Thread(target=self._serve, args=(sock,),
                                        daemon=True)
        self._thread.start()

    def join(self, timeout=CHILD_DEADLINE_S):
        self._thread.join(timeout)

    def _serve(self, sock):
        try:
            self._serve_requests(sock)
        except Exception as e:  # Recorded for the test to assert on.
            self.errors.append(e)
        finally:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _serve_requests(self, sock):
        reader = sock.makefile("rb")
        while True:
            line = reader.readline()
            if not line:
                return
            method, path, _ = line.decode("latin-1").split(" ", 2)
            headers = {}
            while True:
                header = reader.readline()
                if header in (b"\r\n", b""):
                    break
                name, value = header.decode("utf-8").split(":", 1)
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            body = reader.read(length) if length else b""
            request = Request(method, path, headers, body)
            self.requests.append(request)
            if self.on_request is not None:
                self.on_request(request)
            if method == "GET" and path == NEXT:
                if not self.invocations:
                    return
                inv_headers, inv_body = self.invocations.pop(0)
                head = "HTTP/1.1 200 OK\r\n"
                for name, value in inv_headers.items():
                    head += "{}: {}\r\n".format(name, value)
                head += "Content-Length: {}\r\n\r\n".format(len(inv_body))
                sock.sendall(head.encode("utf-8") + inv_body)
            else:
                status = self.post_status
                if callable(status):
                    status = status(request)
                reason = {202: "Accepted", 413: "Payload Too Large"}.get(
                    status, "Status")
                payload = b'{"status":"OK"}' if status == 202 else \
                    b'{"errorMessage":"too large"}'
                sock.sendall("HTTP/1.1 {} {}\r\nContent-Type: application/json"
                             "\r\nContent-Length: {}\r\n\r\n".format(
                                 status, reason, len(payload)).encode()
                             + payload)


class ChildResult:
    def __init__(self, returncode, stdout, stderr, requests):
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.requests = requests

    def posts(self):
        return [r for r in self.requests if r.method == "POST"]


def write_files(directory, files):
    for name, text in files.items():
        path = os.path.join(directory, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)


def base_env(code_dir, handler):
    return {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "_HANDLER": handler,
        "LAMBDA_TASK_ROOT": code_dir,
        "AWS_LAMBDA_FUNCTION_NAME": "fn",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/fn",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]abc",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
    }


class StdoutWatcher:
    """Reads a child's stdout as it arrives, so tests can see when."""

    def __init__(self, stream):
        self.stream = stream
        self.data = b""
        self.lock = threading.Lock()

    def read_available(self, wait_s=0.0):
        deadline = time.monotonic() + wait_s
        while True:
            remaining = max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.stream], [], [], remaining)
            if not ready:
                break
            chunk = os.read(self.stream.fileno(), 65536)
            if not chunk:
                break
            with self.lock:
                self.data += chunk
            if remaining == 0.0:
                continue
        return self.data


def run_child(files, handler, invocations, env=None, args=(), tcp=False,
              post_status=202, on_request=None, watch_stdout=False):
    """Run bootstrap.py against a fake Runtime API until it exits."""
    with tempfile.TemporaryDirectory() as code_dir:
        write_files(code_dir, files)
        child_env = base_env(code_dir, handler)
        child_env.update(env or {})
        fake = FakeRuntimeApi(invocations, post_status, None)
        pass_fds = ()
        listener = None
        if tcp:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            child_env["AWS_LAMBDA_RUNTIME_API"] = "127.0.0.1:{}".format(
                listener.getsockname()[1])
        else:
            ours, theirs = socket.socketpair()
            child_env["SWITCHYARD_RUNTIME_API_FD"] = str(theirs.fileno())
            pass_fds = (theirs.fileno(),)
        proc = subprocess.Popen(
            [PYTHON, BOOTSTRAP, *args], cwd=code_dir, env=child_env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            pass_fds=pass_fds)
        watcher = StdoutWatcher(proc.stdout) if watch_stdout else None
        if on_request is not None:
            fake.on_request = lambda request: on_request(request, watcher)
        if tcp:
            listener.settimeout(CHILD_DEADLINE_S)
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                proc.kill()
                raise
            finally:
                listener.close()
            fake.serve_socket(conn)
        else:
            theirs.close()
            fake.serve_socket(ours)
        try:
            if watcher is not None:
                proc.wait(CHILD_DEADLINE_S)
                stdout = watcher.read_available() + proc.stdout.read()
                stderr = proc.stderr.read()
            else:
                stdout, stderr = proc.communicate(timeout=CHILD_DEADLINE_S)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()
        fake.join()
        if fake.errors:
            raise fake.errors[0]
        return ChildResult(proc.returncode, stdout.decode("utf-8"),
                           stderr.decode("utf-8"), fake.requests)
