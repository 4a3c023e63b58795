// Tests of the Runtime API client against a stand-in daemon on a server thread: requests as the
// Runtime API expects them, responses in every framing HTTP allows, one keep-alive connection
// opened again only when the daemon closed it, and errors for what the daemon must not do.

#include "environments/native/runtime_client.h"

#include <doctest/doctest.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "fake_runtime_api.h"

using switchyard::environments::Invocation;
using switchyard::environments::RuntimeClient;
using switchyard::testing::FakeRuntimeApi;
using switchyard::testing::RuntimeApiRequest;

namespace {

constexpr const char* kNextPath = "/2018-06-01/runtime/invocation/next";

// Runs `serve` on a thread for the length of a test; what it saw is checked after join().
class ServerThread {
 public:
  explicit ServerThread(std::function<void()> serve) : thread_(std::move(serve)) {}
  ~ServerThread() { join(); }
  void join() {
    if (thread_.joinable()) {
      thread_.join();
    }
  }

 private:
  std::thread thread_;
};

// Whether thread `tid` of this process is asleep (state S) within 5 s.
bool eventually_asleep(pid_t tid) {
  const std::string path = "/proc/self/task/" + std::to_string(tid) + "/stat";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream file(path);
    std::string stat((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    auto name_end = stat.rfind(')');
    if (name_end != std::string::npos && name_end + 2 < stat.size() && stat[name_end + 2] == 'S') {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

std::string next_headers(const std::string& id) {
  return "Lambda-Runtime-Aws-Request-Id: " + id;
}

}  // namespace

TEST_CASE("next sends a GET and reads the invocation's id, deadline, trace id and body") {
  FakeRuntimeApi api;
  std::optional<RuntimeApiRequest> seen;
  ServerThread server([&] {
    if (api.accept()) {
      seen = api.read_request();
      api.respond(
          200, R"({"id":"e-1"})",
          {"Lambda-Runtime-Aws-Request-Id: req-1", "lambda-runtime-deadline-ms: 1714564800123",
           "Lambda-Runtime-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793",
           "Content-Type: application/vnd.switchyard.event+json"});
    }
  });
  RuntimeClient client;
  REQUIRE(client.connect(api.address()).ok());
  Invocation invocation;
  auto status = client.next(invocation);
  server.join();
  REQUIRE_MESSAGE(status.ok(), status.error().message());
  CHECK(invocation.request_id == "req-1");
  REQUIRE(invocation.deadline.has_value());
  CHECK(*invocation.deadline == 1714564800123);
  CHECK(invocation.trace_id == "Root=1-5759e988-bd862e3fe1be46a994272793");
  CHECK(invocation.content_type == "application/vnd.switchyard.event+json");
  CHECK(invocation.body == R"({"id":"e-1"})");
  REQUIRE(seen.has_value());
  CHECK(seen->method == "GET");
  CHECK(seen->path == kNextPath);
  CHECK(seen->header("Host") == api.address());
  CHECK(seen->body.empty());
}

TEST_CASE("a chunked body arriving in pieces is read whole; no deadline header means none") {
  FakeRuntimeApi api;
  ServerThread server([&] {
    if (api.accept() && api.read_request()) {
      api.write("HTTP/1.1 200 OK\r\nLambda-Runtime-Aw");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      api.write("s-Request-Id: req-");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      api.write("2\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      api.write("lo\r\n6\r\n world\r\n0\r\n\r\n");
    }
  });
  RuntimeClient client;
  REQUIRE(client.connect(api.address()).ok());
  Invocation invocation;
  invocation.deadline = 5;
  invocation.trace_id = "stale";
  auto status = client.next(invocation);
  server.join();
  REQUIRE_MESSAGE(status.ok(), status.error().message());
  CHECK(invocation.request_id == "req-2");
  CHECK(invocation.body == "hello world");
  CHECK_FALSE(invocation.deadline.has_value());
  CHECK(invocation.trace_id.empty());
}

TEST_CASE("responses, errors and the init error are POSTs on the same kept-alive connection") {
  FakeRuntimeApi api;
  std::vector<RuntimeApiRequest> seen;
  int connections = 0;
  ServerThread server([&] {
    connections += api.accept() ? 1 : 0;
    while (auto request = api.read_request(std::chrono::seconds(2))) {
      seen.push_back(*request);
      api.respond(202, R"({"status":"OK"})");
    }
  });
  {
    RuntimeClient client;
    REQUIRE(client.connect(api.address()).ok());
    CHECK(client.respond("req-1", R"({"status":200})", "application/vnd.switchyard.response+json")
              .ok());
    CHECK(client.fail("req-2", "Deliberate\r\nX-Injected: 1", "it \"failed\"\n\xff").ok());
    CHECK(client.init_error("Runtime.InitError", "cannot load").ok());
  }
  server.join();
  CHECK(connections == 1);
  REQUIRE(seen.size() == 3);
  CHECK(seen[0].method == "POST");
  CHECK(seen[0].path == "/2018-06-01/runtime/invocation/req-1/response");
  CHECK(seen[0].header("Content-Type") == "application/vnd.switchyard.response+json");
  CHECK(seen[0].body == R"({"status":200})");
  CHECK_FALSE(seen[0].has_header("Lambda-Runtime-Function-Error-Type"));

  CHECK(seen[1].path == "/2018-06-01/runtime/invocation/req-2/error");
  CHECK(seen[1].header("Content-Type") == "application/json");
  // The error type cannot end the header early.
  CHECK(seen[1].header("Lambda-Runtime-Function-Error-Type") == "Deliberate  X-Injected: 1");
  CHECK_FALSE(seen[1].has_header("X-Injected"));
  CHECK(seen[1].body ==
        "{\"errorMessage\":\"it \\\"failed\\\"\\n\xef\xbf\xbd\","
        "\"errorType\":\"Deliberate\\r\\nX-Injected: 1\"}");

  CHECK(seen[2].path == "/2018-06-01/runtime/init/error");
  CHECK(seen[2].header("Lambda-Runtime-Function-Error-Type") == "Runtime.InitError");
  CHECK(seen[2].body == R"({"errorMessage":"cannot load","errorType":"Runtime.InitError"})");
}

TEST_CASE("a connection the daemon closed while idle is opened again before the next request") {
  FakeRuntimeApi api;
  std::optional<RuntimeApiRequest> after;
  ServerThread server([&] {
    if (api.accept() && api.read_request()) {
      api.respond(200, "{}", {next_headers("req-1")});
      api.close_connection();
      if (api.accept()) {
        after = api.read_request();
        api.respond(202, "");
      }
    }
  });
  RuntimeClient client;
  REQUIRE(client.connect(api.address()).ok());
  Invocation invocation;
  REQUIRE(client.next(invocation).ok());
  // Let the close arrive before the next request goes out.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto status = client.respond("req-1", "{}", "application/json");
  server.join();
  CHECK_MESSAGE(status.ok(), status.error().message());
  REQUIRE(after.has_value());
  CHECK(after->path == "/2018-06-01/runtime/invocation/req-1/response");
}

TEST_CASE("a body read until the daemon closes, with Connection: close, is whole") {
  FakeRuntimeApi api;
  std::optional<RuntimeApiRequest> second;
  ServerThread server([&] {
    if (api.accept() && api.read_request()) {
      api.write("HTTP/1.1 200 OK\r\nConnection: close\r\n" + next_headers("req-1") +
                "\r\n\r\nall of it");
      api.close_connection();
      if (api.accept()) {
        second = api.read_request();
        api.respond(202, "");
      }
    }
  });
  RuntimeClient client;
  REQUIRE(client.connect(api.address()).ok());
  Invocation invocation;
  auto status = client.next(invocation);
  REQUIRE_MESSAGE(status.ok(), status.error().message());
  CHECK(invocation.body == "all of it");
  CHECK(client.respond("req-1", "{}", "application/json").ok());
  server.join();
  CHECK(second.has_value());
}

TEST_CASE("what the daemon must not do is an error") {
  FakeRuntimeApi api;
  std::function<void()> answer;
  ServerThread server([&] {
    if (api.accept() && api.read_request()) {
      answer();
    }
  });
  std::string expected;
  SUBCASE("a status other than 2xx") {
    answer = [&] { api.respond(500, "daemon trouble"); };
    expected = "with status 500: daemon trouble";
  }
  SUBCASE("an invocation without a request id") {
    answer = [&] { api.respond(200, "{}"); };
    expected = "no usable Lambda-Runtime-Aws-Request-Id";
  }
  SUBCASE("a request id that does not fit in a path") {
    answer = [&] { api.respond(200, "{}", {next_headers("../../init/error")}); };
    expected = "no usable Lambda-Runtime-Aws-Request-Id";
  }
  SUBCASE("a deadline that is not a number") {
    answer = [&] {
      api.respond(200, "{}", {next_headers("r"), "Lambda-Runtime-Deadline-Ms: soon"});
    };
    expected = "Lambda-Runtime-Deadline-Ms is not a number";
  }
  SUBCASE("closing instead of answering") {
    answer = [&] { api.close_connection(); };
    expected = "closed the connection";
  }
  SUBCASE("closing in the middle of a response") {
    answer = [&] {
      api.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort");
      api.close_connection();
    };
    expected = "closed the connection";
  }
  SUBCASE("something that is not HTTP") {
    answer = [&] { api.write("SSH-2.0-OpenSSH\r\n\r\n"); };
    expected = "not HTTP";
  }
  RuntimeClient client;
  REQUIRE(client.connect(api.address()).ok());
  Invocation invocation;
  auto status = client.next(invocation);
  server.join();
  REQUIRE_FALSE(status.ok());
  CHECK_MESSAGE(status.error().message().find(expected) != std::string::npos,
                status.error().message());
}

TEST_CASE("connect refuses bad addresses and says when no one listens") {
  RuntimeClient client;
  CHECK_FALSE(client.connect("127.0.0.1").ok());
  CHECK_FALSE(client.connect("127.0.0.1:http").ok());
  CHECK_FALSE(client.connect("127.0.0.1:70000").ok());
  CHECK_FALSE(client.connect("daemon.example:8080").ok());
  std::string address;
  {
    FakeRuntimeApi gone;
    address = gone.address();
  }
  auto status = client.connect(address);
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().message().find("cannot connect to the runtime API at " + address) !=
        std::string::npos);

  FakeRuntimeApi api;
  CHECK(client.connect("localhost:" + std::to_string(api.port())).ok());
  CHECK(api.accept());
}

// Over the Unix socket the daemon hands its environments, a process blocked in recv() is woken
// each time the daemon reads what it wrote (the kernel's "room to write" wake-up shares the
// socket's queue): two wake-ups per invocation, each a context switch. The client waits so that
// only the answer wakes it.
TEST_CASE("waiting for the next invocation, the client sleeps through the daemon reading") {
  int pair[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
  const int daemon_end = pair[0];
  const pid_t client_thread = ::gettid();
  auto answer = [&](const std::string& id) {
    const std::string text = "HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: " + id +
                             "\r\nContent-Length: 2\r\n\r\n{}";
    CHECK(::write(daemon_end, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  };
  ServerThread server([&] {
    char request[1024];
    // The first exchange at once: it brings in every page the client's code touches, so that
    // the second counts no wait for the disk.
    CHECK(::read(daemon_end, request, sizeof(request)) > 0);
    answer("req-0");
    // Once the client waits, reading its request makes room in its socket. The answer comes a
    // while later, time for a client woken by that to fall asleep again (and count it).
    CHECK(eventually_asleep(client_thread));
    CHECK(::read(daemon_end, request, sizeof(request)) > 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    answer("req-1");
  });
  RuntimeClient client;
  REQUIRE(client.adopt(pair[1]).ok());
  Invocation invocation;
  REQUIRE(client.next(invocation).ok());
  rusage before{};
  ::getrusage(RUSAGE_THREAD, &before);
  auto status = client.next(invocation);
  rusage after{};
  ::getrusage(RUSAGE_THREAD, &after);
  server.join();
  ::close(daemon_end);
  REQUIRE_MESSAGE(status.ok(), status.error().message());
  CHECK(invocation.request_id == "req-1");
  // One sleep, ended by the answer.
  CHECK(after.ru_nvcsw - before.ru_nvcsw == 1);
}
