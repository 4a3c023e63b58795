"""The Runtime API client's HTTP/1.1 exchange, byte for byte."""

import os
import resource
import socket
import subprocess
import sys
import threading
import unittest

from tests.python import support  # noqa: F401  (puts the runtime on sys.path)

from switchyard_runtime import runtime_api
from switchyard_runtime.runtime_api import RuntimeApiClient, RuntimeApiError


class CannedServer:
    """Answers each request with the next canned response; records them."""

    def __init__(self, responses):
        self.ours, theirs = socket.socketpair()
        self.client = RuntimeApiClient(runtime_api.HttpConnection(theirs,
                                                                  "localhost"))
        self.responses = list(responses)
        self.received = b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        reader = self.ours.makefile("rb")
        for response in self.responses:
            request = b""
            while not request.endswith(b"\r\n\r\n"):
                line = reader.readline()
                if not line:
                    return
                request += line
            for line in request.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    request += reader.read(int(line.split(b":")[1]))
            self.received += request
            self.ours.sendall(response)
        self.ours.shutdown(socket.SHUT_RDWR)

    def close(self):
        self.thread.join(support.CHILD_DEADLINE_S)
        self.ours.close()
        self.client._conn.close()


NEXT_OK = (b"HTTP/1.1 200 OK\r\n"
           b"lambda-runtime-aws-request-id: abc\r\n"
           b"Lambda-Runtime-Deadline-Ms: 1700000000123\r\n"
           b"Lambda-Runtime-Trace-Id: \r\n"
           b"Content-Type: application/json\r\n"
           b"Content-Length: 2\r\n\r\n{}")
ACCEPTED = b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"

# A daemon's side on its stdin (a socket): answers the first `next` at once;
# reads the second once the client's thread (argv: pid, tid) is asleep, and
# answers it a while later, time for a client woken by that read to fall
# asleep again (and count it).
_SLOW_DAEMON = """
import socket, sys, time
NEXT = %r
pid, tid = sys.argv[1], sys.argv[2]
sock = socket.socket(fileno=0)
sock.recv(65536)
sock.sendall(NEXT)
deadline = time.monotonic() + 5
stat = "/proc/%%s/task/%%s/stat" %% (pid, tid)
while time.monotonic() < deadline:
    with open(stat) as f:
        if f.read().rsplit(")", 1)[1].split()[0] == "S":
            break
    time.sleep(0.001)
sock.recv(65536)
time.sleep(0.1)
sock.sendall(NEXT)
""" % NEXT_OK


class RuntimeApiTest(unittest.TestCase):
    def serve(self, *responses):
        server = CannedServer(responses)
        self.addCleanup(server.close)
        return server

    def test_next_request_and_headers(self):
        server = self.serve(NEXT_OK)
        inv = server.client.wait_next_invocation()
        self.assertEqual(
            server.received,
            b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n"
            b"Host: localhost\r\n\r\n")
        self.assertEqual((inv.invoke_id, inv.deadline_time_in_ms,
                          inv.content_type, inv.event_body),
                         ("abc", 1700000000123, "application/json", b"{}"))
        # Empty headers count as absent; the ARN is "" when absent.
        self.assertIsNone(inv.x_amzn_trace_id)
        self.assertEqual(inv.invoked_function_arn, "")
        self.assertIsNone(inv.client_context)

    def test_chunked_next_body(self):
        server = self.serve(b"HTTP/1.1 200 OK\r\n"
                            b"Lambda-Runtime-Aws-Request-Id: c\r\n"
                            b"Transfer-Encoding: chunked\r\n\r\n"
                            b"3\r\n[1,\r\n2;ext=1\r\n2]\r\n0\r\n\r\n")
        self.assertEqual(server.client.wait_next_invocation().event_body,
                         b"[1,2]")

    def test_response_post_is_one_exact_request(self):
        server = self.serve(ACCEPTED, ACCEPTED)
        server.client.post_invocation_result("id1", b'"ok"',
                                             "application/json")
        server.client.post_invocation_error("id1", "KeyError", '{"e": 1}',
                                            '{"x": 2}')
        self.assertEqual(server.received, (
            b"POST /2018-06-01/runtime/invocation/id1/response HTTP/1.1\r\n"
            b"Host: localhost\r\nContent-Type: application/json\r\n"
            b"Content-Length: 4\r\n\r\n\"ok\""
            b"POST /2018-06-01/runtime/invocation/id1/error HTTP/1.1\r\n"
            b"Host: localhost\r\nContent-Type: application/json\r\n"
            b"Lambda-Runtime-Function-Error-Type: KeyError\r\n"
            b"Lambda-Runtime-Function-XRay-Error-Cause: {\"x\": 2}\r\n"
            b"Content-Length: 8\r\n\r\n{\"e\": 1}"))

    def test_pipelined_result_and_next_go_in_one_write(self):
        ours, theirs = socket.socketpair()
        self.addCleanup(ours.close)
        client = RuntimeApiClient(
            runtime_api.HttpConnection(theirs, "localhost"), pipelined=True)
        self.addCleanup(client._conn.close)
        # Both answers are ready before the client reads: it must take the
        # result's 202 first, then the next invocation.
        ours.sendall(ACCEPTED + NEXT_OK)
        inv = client.post_invocation_result_and_wait_next(
            "id1", b'"ok"', "application/json")
        self.assertEqual(inv.invoke_id, "abc")
        # One recv gets both requests: they were sent in one write.
        ours.settimeout(support.CHILD_DEADLINE_S)
        self.assertEqual(ours.recv(65536), (
            b"POST /2018-06-01/runtime/invocation/id1/response HTTP/1.1\r\n"
            b"Host: localhost\r\nContent-Type: application/json\r\n"
            b"Content-Length: 4\r\n\r\n\"ok\""
            b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n"
            b"Host: localhost\r\n\r\n"))

    def test_unpipelined_client_waits_for_the_result_answer(self):
        server = self.serve(ACCEPTED, NEXT_OK)
        inv = server.client.post_invocation_result_and_wait_next(
            "id1", b'"ok"', "application/json")
        self.assertEqual(inv.invoke_id, "abc")
        self.assertTrue(server.received.endswith(
            b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n"
            b"Host: localhost\r\n\r\n"))

    def test_large_xray_cause_is_left_out(self):
        server = self.serve(ACCEPTED)
        server.client.post_invocation_error("id", "E", "{}",
                                            "x" * (64 * 1024))
        self.assertNotIn(b"XRay", server.received)

    def test_refused_response_is_an_error(self):
        server = self.serve(b"HTTP/1.1 413 Payload Too Large\r\n"
                            b"Content-Length: 5\r\n\r\nlarge")
        with self.assertRaises(RuntimeApiError) as caught:
            server.client.post_invocation_result("id", b"x", "text/plain")
        self.assertEqual(str(caught.exception),
                         "Failed to post invocation response. Http response "
                         "code: 413. large")

    def test_closed_connection_is_an_error(self):
        server = self.serve()
        with self.assertRaises(RuntimeApiError):
            server.client.wait_next_invocation()

    def test_next_without_request_id_is_an_error(self):
        server = self.serve(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        with self.assertRaises(RuntimeApiError):
            server.client.wait_next_invocation()

    def test_deadline_parsed_like_strtoul(self):
        self.assertEqual(runtime_api._deadline("123abc"), 123)
        self.assertEqual(runtime_api._deadline("x"), 0)
        self.assertEqual(runtime_api._deadline(None), 0)

    def test_fd_from_environment_is_hidden_and_not_inherited(self):
        ours, theirs = socket.socketpair()
        self.addCleanup(ours.close)
        os.set_inheritable(theirs.fileno(), True)
        environ = {"SWITCHYARD_RUNTIME_API_FD": str(theirs.detach())}
        client = RuntimeApiClient.from_environment(environ)
        self.addCleanup(client._conn.close)
        self.assertEqual(environ, {})
        self.assertFalse(os.get_inheritable(client._conn._sock.fileno()))

    def test_waiting_for_next_sleeps_through_the_daemon_reading(self):
        # Over the daemon's Unix socket a reader blocked in recv() is woken
        # each time the daemon reads what it wrote (the "room to write"
        # wake-up shares the socket's queue): two wake-ups per invocation.
        # The daemon's side runs in a process of its own, so that no thread
        # of this one takes the GIL or wakes us.
        ours, theirs = socket.socketpair()
        self.addCleanup(theirs.close)
        client = RuntimeApiClient(
            runtime_api.HttpConnection(theirs, "localhost"))
        tid = threading.get_native_id()
        daemon = subprocess.Popen(
            [sys.executable, "-c", _SLOW_DAEMON, str(os.getpid()), str(tid)],
            pass_fds=[ours.fileno()], stdin=ours.fileno())
        ours.close()
        self.addCleanup(daemon.wait, support.CHILD_DEADLINE_S)
        # The first exchange at once: every page the client touches is in
        # before the one counted.
        self.assertEqual(client.wait_next_invocation().invoke_id, "abc")
        before = resource.getrusage(resource.RUSAGE_THREAD).ru_nvcsw
        inv = client.wait_next_invocation()
        after = resource.getrusage(resource.RUSAGE_THREAD).ru_nvcsw
        self.assertEqual(inv.invoke_id, "abc")
        # One sleep, ended by the answer.
        self.assertEqual(after - before, 1)

    def test_bad_fd_is_reported(self):
        with self.assertRaises(RuntimeApiError):
            RuntimeApiClient.from_environment(
                {"SWITCHYARD_RUNTIME_API_FD": "nope"})


if __name__ == "__main__":
    unittest.main()
