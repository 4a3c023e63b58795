// The HTTP server over real sockets: the loop runs on a background thread with the server on
// port 0, and the tests talk to it with plain blocking sockets, writing raw protocol bytes.

#include "http/server.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/loop.h"
#include "core/metrics.h"

namespace switchyard::http {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Waits for `done` with a deadline, polling; the condition is what the test checks.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout = 5s) {
  auto deadline = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

// A server on its own loop thread. Requests to paths starting with /slow are stashed (their
// slots kept) for the test to answer through post(); every other request is echoed at once.
class Harness {
 public:
  explicit Harness(ServerOptions options = {}) {
    std::signal(SIGPIPE, SIG_IGN);
    std::promise<int> port;
    std::future<int> port_ready = port.get_future();
    thread_ = std::thread([this, options = std::move(options), port = std::move(port)]() mutable {
      core::Loop loop;
      {
        Server server(
            loop, options,
            [this](Request&& request, ResponseSlot slot) {
              handle(std::move(request), std::move(slot));
            },
            metrics_);
        core::Async async(loop, [this] { run_tasks(); });
        server_ = &server;
        loop_ = &loop;
        async_ = &async;
        core::Status status = server.listen();
        port.set_value(status.ok() ? server.port() : -1);
        if (status.ok()) {
          loop.run();
        }
        stash_.clear();
        server_ = nullptr;
        async_ = nullptr;
      }
    });
    port_ = port_ready.get();
    REQUIRE(port_ > 0);
  }

  ~Harness() {
    post([this](Server& server) {
      server.close_all();
      stash_.clear();
      loop_->stop();
    });
    thread_.join();
  }

  int port() const { return port_; }
  core::MetricsRegistry& metrics() { return metrics_; }
  int stashed() const { return stashed_.load(); }
  int max_stashed() const { return max_stashed_.load(); }
  int handled() const { return handled_.load(); }

  // Runs `task` on the loop thread and waits for it.
  void post(std::function<void(Server&)> task) {
    std::promise<void> done;
    std::future<void> finished = done.get_future();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      tasks_.push_back([this, &task, &done] {
        task(*server_);
        done.set_value();
      });
    }
    async_->send();
    finished.wait();
  }

  // Answers the stashed requests in the given order (indexes into the stash, oldest first),
  // each with its path as the body, then forgets them.
  void answer(const std::vector<std::size_t>& order) {
    post([this, &order](Server&) {
      for (std::size_t index : order) {
        auto& [path, slot] = stash_.at(index);
        slot.respond(Response{200, {{"Content-Type", "text/plain"}}, "answer " + path});
      }
      stash_.clear();
      stashed_ = 0;
    });
  }

  std::size_t connections() {
    std::size_t count = 0;
    post([&count](Server& server) { count = server.connections(); });
    return count;
  }

  // The value of a metric line (name with labels) in the rendered registry, or -1.
  double metric(const std::string& line_prefix) {
    std::string text = metrics_.render();
    std::size_t at = text.find(line_prefix + " ");
    if (at == std::string::npos) {
      return -1;
    }
    return std::stod(text.substr(at + line_prefix.size() + 1));
  }

  std::vector<std::pair<std::string, ResponseSlot>>& stash() { return stash_; }

 private:
  void handle(Request&& request, ResponseSlot slot) {
    ++handled_;
    if (request.path.rfind("/slow", 0) == 0) {
      stash_.emplace_back(request.path, std::move(slot));
      stashed_ = static_cast<int>(stash_.size());
      max_stashed_ = std::max(max_stashed_.load(), stashed_.load());
      return;
    }
    if (request.path == "/drop") {
      return;  // The slot is dropped unanswered.
    }
    Response response;
    response.status = request.path == "/created" ? 201 : 200;
    response.headers.push_back({"X-Method", request.method});
    response.headers.push_back({"X-Path", request.path});
    response.headers.push_back({"X-Query", request.query});
    response.headers.push_back({"X-Remote", request.remote_address});
    response.headers.push_back({"X-Version", std::to_string(request.version_major) + "." +
                                                 std::to_string(request.version_minor)});
    response.headers.push_back({"X-Header-Count", std::to_string(request.headers.size())});
    if (const std::string* test = find_header(request.headers, "x-test"); test != nullptr) {
      response.headers.push_back({"X-Test", *test});
    }
    response.body = std::move(request.body);
    slot.respond(std::move(response));
  }

  void run_tasks() {
    std::vector<std::function<void()>> tasks;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      tasks.swap(tasks_);
    }
    for (auto& task : tasks) {
      task();
    }
  }

  std::thread thread_;
  int port_ = -1;
  core::MetricsRegistry metrics_;
  core::Loop* loop_ = nullptr;
  core::Async* async_ = nullptr;
  Server* server_ = nullptr;
  std::mutex mutex_;
  std::vector<std::function<void()>> tasks_;
  std::vector<std::pair<std::string, ResponseSlot>> stash_;  // Loop thread only.
  std::atomic<int> stashed_{0};
  std::atomic<int> max_stashed_{0};
  std::atomic<int> handled_{0};
};

struct Reply {
  std::string status_line;
  Headers headers;
  std::string body;

  std::string header(std::string_view name) const {
    const std::string* value = find_header(headers, name);
    return value != nullptr ? *value : std::string("<none>");
  }
};

// A blocking client socket with a read buffer.
class Client {
 public:
  explicit Client(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  }
  ~Client() { close(); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return connected_; }
  // Shuts down the sending side (`shutdown(SHUT_WR)`, as `nc -N` does).
  void finish_sending() { ::shutdown(fd_, SHUT_WR); }

  void close() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

  bool send(std::string_view data) {
    while (!data.empty()) {
      ssize_t sent = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (sent <= 0) {
        return false;
      }
      data.remove_prefix(static_cast<std::size_t>(sent));
    }
    return true;
  }

  // Reads what arrives within `timeout`; false on EOF, error or timeout.
  bool fill(std::chrono::milliseconds timeout) {
    pollfd poll_fd{fd_, POLLIN, 0};
    if (::poll(&poll_fd, 1, static_cast<int>(timeout.count())) <= 0) {
      return false;
    }
    char chunk[16384];
    ssize_t got = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (got <= 0) {
      eof_ = true;
      return false;
    }
    buffer_.append(chunk, static_cast<std::size_t>(got));
    return true;
  }

  // Reads exactly `text` if that is what comes next.
  bool expect_raw(std::string_view text, std::chrono::milliseconds timeout = 5s) {
    auto deadline = Clock::now() + timeout;
    while (buffer_.size() < text.size()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0 || !fill(left)) {
        return false;
      }
    }
    bool match = buffer_.compare(0, text.size(), text) == 0;
    buffer_.erase(0, text.size());
    return match;
  }

  // One complete response, or nullopt at EOF or the deadline. `head`: no body follows.
  std::optional<Reply> read_reply(bool head = false, std::chrono::milliseconds timeout = 5s) {
    auto deadline = Clock::now() + timeout;
    while (true) {
      if (std::optional<Reply> reply = parse(head)) {
        return reply;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0 || !fill(left)) {
        return std::nullopt;
      }
    }
  }

  // Whether the server closes the connection within `timeout` (EOF or reset); bytes that
  // arrive first are kept in the buffer.
  bool closed_by_server(std::chrono::milliseconds timeout = 5s) {
    auto deadline = Clock::now() + timeout;
    while (!eof_) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) {
        return false;
      }
      fill(left);
    }
    return true;
  }

  const std::string& buffer() const { return buffer_; }

 private:
  std::optional<Reply> parse(bool head) {
    std::size_t end = buffer_.find("\r\n\r\n");
    if (end == std::string::npos) {
      return std::nullopt;
    }
    Reply reply;
    std::size_t line_end = buffer_.find("\r\n");
    reply.status_line = buffer_.substr(0, line_end);
    std::size_t at = line_end + 2;
    while (at < end + 2) {
      std::size_t next = buffer_.find("\r\n", at);
      std::string line = buffer_.substr(at, next - at);
      std::size_t colon = line.find(':');
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      reply.headers.push_back({line.substr(0, colon), value});
      at = next + 2;
    }
    std::size_t length = 0;
    if (const std::string* content_length = find_header(reply.headers, "Content-Length");
        content_length != nullptr && !head) {
      length = std::stoul(*content_length);
    }
    if (buffer_.size() < end + 4 + length) {
      return std::nullopt;
    }
    reply.body = buffer_.substr(end + 4, length);
    buffer_.erase(0, end + 4 + length);
    return reply;
  }

  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string buffer_;
};

std::string get(std::string_view target, std::string_view extra = "") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: test\r\n" + std::string(extra) + "\r\n";
}

}  // namespace

TEST_CASE("a simple GET is answered with the handler's response") {
  Harness harness;
  Client client(harness.port());
  REQUIRE(client.connected());
  REQUIRE(client.send("GET /hello?x=1&y=2 HTTP/1.1\r\nHost: test\r\nX-Test:  v1  \r\n\r\n"));
  std::optional<Reply> reply = client.read_reply();
  REQUIRE(reply);
  CHECK(reply->status_line == "HTTP/1.1 200 OK");
  CHECK(reply->header("X-Method") == "GET");
  CHECK(reply->header("X-Path") == "/hello");
  CHECK(reply->header("X-Query") == "x=1&y=2");
  CHECK(reply->header("X-Test") == "v1");
  CHECK(reply->header("X-Remote") == "127.0.0.1");
  CHECK(reply->header("X-Version") == "1.1");
  CHECK(reply->header("X-Header-Count") == "2");
  CHECK(reply->header("Content-Length") == "0");
  CHECK(reply->header("Connection") == "<none>");
  CHECK(reply->header("Date").size() == 29);
  CHECK(reply->body.empty());
  CHECK(harness.metric("switchyard_http_responses_total{server=\"http\",code=\"200\"}") == 1);
  CHECK(harness.metric("switchyard_http_connections_total{server=\"http\"}") == 1);
  CHECK(harness.metric("switchyard_http_connections{server=\"http\"}") == 1);
}

TEST_CASE("an absolute-form target is split into path and query") {
  Harness harness;
  Client client(harness.port());
  REQUIRE(client.send(get("http://example.com:8080/a/b?c=d#frag")));
  std::optional<Reply> reply = client.read_reply();
  REQUIRE(reply);
  CHECK(reply->status_line == "HTTP/1.1 200 OK");
  CHECK(reply->header("X-Path") == "/a/b");
  CHECK(reply->header("X-Query") == "c=d");
}

TEST_CASE("a keep-alive connection serves several requests") {
  Harness harness;
  Client client(harness.port());
  REQUIRE(client.send("POST /one HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nfirst"));
  std::optional<Reply> first = client.read_reply();
  REQUIRE(first);
  CHECK(first->status_line == "HTTP/1.1 200 OK");
  CHECK(first->body == "first");
  REQUIRE(client.send(get("/created")));
  std::optional<Reply> second = client.read_reply();
  REQUIRE(second);
  CHECK(second->status_line == "HTTP/1.1 201 Created");
  CHECK(second->header("X-Path") == "/created");
  CHECK(harness.metric("switchyard_http_connections_total{server=\"http\"}") == 1);
  CHECK(harness.connections() == 1);
}

TEST_CASE("HTTP/1.0 closes after the response unless it asks for keep-alive") {
  Harness harness;
  {
    Client client(harness.port());
    REQUIRE(client.send("GET /old HTTP/1.0\r\n\r\n"));
    std::optional<Reply> reply = client.read_reply();
    REQUIRE(reply);
    CHECK(reply->status_line == "HTTP/1.1 200 OK");
    CHECK(reply->header("X-Version") == "1.0");
    CHECK(reply->header("Connection") == "close");
    CHECK(client.closed_by_server());
  }
  {
    Client client(harness.port());
    REQUIRE(client.send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    std::optional<Reply> reply = client.read_reply();
    REQUIRE(reply);
    CHECK(reply->header("Connection") == "keep-alive");
    REQUIRE(client.send("GET /b HTTP/1.0\r\n\r\n"));
    reply = client.read_reply();
    REQUIRE(reply);
    CHECK(reply->header("X-Path") == "/b");
    CHECK(reply->header("Connection") == "close");
    CHECK(client.closed_by_server());
  }
}

TEST_CASE("an HTTP/1.1 request with Connection: close is answered and closed") {
  Harness harness;
  Client client(harness.port());
  REQUIRE(client.send(get("/bye", "Connection: close\r\n") + get("/never")));
  std::optional<Reply> reply = client.read_reply();
  REQUIRE(reply);
  CHECK(reply->header("X-Path") == "/bye");
  CHECK(reply->header("Connection") == "close");
  CHECK(client.closed_by_server());
  CHECK(client.buffer().empty());
  CHECK(harness.handled() == 1);
}

TEST_CASE("pipelined requests answered in reverse order are written in request order") {
  Harness harness;
  Client client(harness.port());
  REQUIRE(client.send(get("/slow1") + get("/slow2") + get("/slow3")));
  REQUIRE(eventually([&] { return harness.stashed() == 3; }));
  harness.answer({2, 1, 0});
  for (const char* expected : {"answer /slow1", "answer /slow2", "answer /slow3"}) {
    std::optional<Reply> reply = client.read_reply();
    REQUIRE(reply);
    CHECK(reply->status_line == "HTTP/1.1 200 OK");
    CHECK(reply->body == expected);
  }
  // Echoed pipelined requests come back in order too, and the connection stays usable.
  REQUIRE(client.send(get("/a") + get("/b") + get("/c")));
  for (const char* expected : {"/a", "/b", "/c"}) {
    std::optional<Reply> reply = client.read_reply();
    REQUIRE(reply);
    CHECK(reply->header("X-Path") == expected);
  }
}

TEST_CASE("reading pauses at max_pipelined responses owed and resumes as they are written") {
  ServerOptions options;
  options.max_pipelined = 2;
  Harness harness(options);
  Client client(harness.port());
  std::string requests;
  for (int i = 1; i <= 5; ++i) {
    requests += get("/slow" + std::to_string(i));
  }
  REQUIRE(client.send(requests));
  std::vector<std::string> bodies;
  while (bodies.size() < 5) {
    std::size_t expect = std::min<std::size_t>(2, 5 - bodies.size());
    REQUIRE(eventually([&] { return harness.stashed() == static_cast<int>(expect); }));
    harness.answer(expect == 2 ? std::vector<std::size_t>{1, 0} : std::vector<std::size_t>{0});
    for (std::size_t i = 0; i < expect; ++i) {
      std::optional<Reply> reply = client.read_reply();
      REQUIRE(reply);
      bodies.push_back(reply->body);
    }
  }
  CHECK(bodies == std::vector<std::string>{"answer /slow1", "answer /slow2", "answer /slow3",
                                           "answer /slow4", "answer /slow5"});
  CHECK(harness.max_stashed() == 2);
}

TEST_CASE("a chunked request body is de-chunked") {
  Harness harness;
  Client client(harness.port());
  REQUIRE(
      client.send("POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n"));
  std::optional<Reply> reply = client.read_reply();
  REQUIRE(reply);
  CHECK(reply->status_line == "HTTP/1.1 200 OK");
  CHECK(reply->body == "hello world");
  CHECK(reply->header("Content-Length") == "11");
}

TEST_CASE("malformed requests get 400 and the connection is closed") {
  Harness harness;
  struct Case {
    const char* name;
    std::string request;
  };
  std::vector<Case> cases = {
      {"bad chunk size",
       "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n"},
      {"content-length with chunked",
       "POST /c HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
       "5\r\nhello\r\n0\r\n\r\n"},
      {"duplicate content-length",
       "POST /c HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"},
      {"conflicting content-length",
       "POST /c HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"},
      {"invalid content-length", "POST /c HTTP/1.1\r\nHost: t\r\nContent-Length: 5x\r\n\r\nhello"},
      {"transfer-encoding not ending in chunked",
       "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\nhello"},
      {"malformed request line", "GARBAGE\r\n\r\n"},
      {"invalid version", "GET / HTTP/1.x\r\n\r\n"},
      {"version with two digits", "GET / HTTP/12.0\r\n\r\n"},
      {"header without colon", "GET / HTTP/1.1\r\nHost: t\r\nNoColonHere\r\n\r\n"},
      // RFC 9112 §5.1: whitespace between a field name and its colon.
      {"space before a colon", "GET / HTTP/1.1\r\nHost: t\r\nX-A : a\r\n\r\n"},
      {"tab before a colon", "GET / HTTP/1.1\r\nHost: t\r\nX-A\t: a\r\n\r\n"},
      // §2.2: whitespace between the start line and the first field line.
      {"space before the first field", "GET / HTTP/1.1\r\n Host: t\r\n\r\n"},
      {"bare CR", "GET / HTTP/1.1\r\nHost: t\rX-A: a\r\n\r\n"},
      {"NUL in a field", std::string("GET / HTTP/1.1\r\nHost: t\r\nX-A: a\0b\r\n\r\n", 37)},
      {"chunk size overflow",
       "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
       "ffffffffffffffffff\r\nhello\r\n"},
      // §5.2: a line folded onto the next (obs-fold) is refused.
      {"obs-fold", "GET / HTTP/1.1\r\nHost: t\r\nX-A: a\r\n b\r\n\r\n"},
      {"obs-fold with a tab", "GET / HTTP/1.1\r\nHost: t\r\nX-A: a\r\n\tb\r\nX-B: c\r\n\r\n"},
      // §3.2: exactly one Host in HTTP/1.1.
      {"no host", "GET / HTTP/1.1\r\nX-A: a\r\n\r\n"},
      {"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
      // §6.3: a final coding other than chunked; §6.1: Transfer-Encoding in HTTP/1.0.
      {"chunked then gzip",
       "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\nhello"},
      {"transfer-encoding in HTTP/1.0",
       "POST /c HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
      // §3.2: a Host value that is not uri-host[:port].
      {"invalid host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n"},
      {"host with a path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"},
      {"host with a bad port", "GET / HTTP/1.1\r\nHost: a:8o\r\n\r\n"},
      // §2.2: a bare CR, wherever it is in the header section.
      {"bare CR in the request line", "GET /a\rb HTTP/1.1\r\nHost: t\r\n\r\n"},
      {"bare CR after the version", "GET / HTTP/1.1\rHost: t\r\n\r\n"},
      {"bare CR in a field value", "GET / HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n"},
      {"bare CR after an empty value", "GET / HTTP/1.1\r\nHost: t\r\nX-A:\rX-B: b\r\n\r\n"},
      {"bare CR between fields", "GET / HTTP/1.1\r\nHost: t\r\n\rX-B: b\r\n\r\n"},
      {"bare CR ending the section", "GET / HTTP/1.1\r\nHost: t\r\n\rGET / HTTP/1.1\r\n\r\n"},
      // §5.2: obs-fold after an empty field value.
      {"obs-fold after an empty value", "GET / HTTP/1.1\r\nHost: t\r\nX-A:\r\n b\r\n\r\n"},
      // §7.1: chunked framing, strictly.
      {"chunk size not hex",
       "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5g\r\nhello\r\n"},
      {"chunk size of 2^64",
       "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
       "10000000000000000\r\nhello\r\n"},
      {"bad chunk extension",
       "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;a b\r\nhello\r\n"},
      {"chunk data without CRLF",
       "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
       "5\r\nhelloXX0\r\n\r\n"},
      {"bare CR after a chunk size",
       "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\rhello\r\n0\r\n\r\n"},
      {"bare CR in the trailer section",
       "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
       "5\r\nhello\r\n0\r\nX-A: a\r\n\rX"},
  };
  for (const Case& test : cases) {
    CAPTURE(test.name);
    Client client(harness.port());
    REQUIRE(client.send(test.request));
    std::optional<Reply> reply = client.read_reply();
    REQUIRE(reply);
    CHECK(reply->status_line == "HTTP/1.1 400 Bad Request");
    CHECK(reply->header("Content-Type") == "application/json");
    CHECK(reply->header("Connection") == "close");
    CHECK(reply->body.rfind("{\"message\":\"", 0) == 0);
    CHECK(client.closed_by_server());
  }
  CHECK(harness.handled() == 0);
  CHECK(
      harness.metric("switchyard_http_bad_requests_total{server=\"http\",reason=\"malformed\"}") ==
      static_cast<double>(cases.size()));
}

TEST_CASE("a request-target over max_target_bytes gets 414, counted apart") {
  ServerOptions options;
  options.max_target_bytes = 100;
  Harness harness(options);
  {
    Client client(harness.port());
    REQUIRE(client.send(get("/" + std::string(100, 'a'))));
    std::optional<Reply> reply = client.read_reply();
    REQUIRE(reply);
    CHECK(reply->status_line == "HTTP/1.1 414 URI Too Long");
    CHECK(reply->header("Connection") == "close");
    CHECK(reply->header("Content-Type") == "application/json");
    CHECK(client.closed_by_server());
  }
  {
    // The target arriving in pieces is measured whole.
    Client client(harness.port());
    REQUIRE(client.send("GET /" + std::string(60, 'b')));
    std::this_thread::sleep_for(20ms);  // Not a wait for a condition: two reads.
    REQUIRE(client.send(std::string(60, 'b') + " HTTP/1.1\r\nHost: t\r\n\r\n"));
    std::optional<Reply> reply = client.read_reply();
    REQUIRE(reply);
    CHECK(reply->status_line == "HTTP/1.1 414 URI Too Long");
  }
  {
    Client client(harness.port());
    REQUIRE(client.send(get("/" + std::string(99, 'a'))));
    std::optional<Reply> reply = client.read_reply();
    REQUIRE(reply);
    CHECK(reply->status_line == "HTTP/1.1 200 OK");
  }
  CHECK(harness.handled() == 1);
  CHECK(harness.metric(
            "switchyard_http_bad_requests_total{server=\"http\",reason=\"target_too_long\"}") == 2);
  CHECK(harness.metric(
            "switchyard_http_bad_requests_total{server=\"http\",reason=\"malformed\"}") == 0);
}

TEST_CASE("chunked trailer fields are dropped, never merged into the header section") {
  Harness harness;
  Client client(harness.port());
  REQUIRE(
      client.send("POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "5\r\nhello\r\n0\r\nX-Test: from-trailer\r\nHost: evil\r\n\r\n" +
                  get("/next")));
  std::optional<Reply> reply = client.read_reply();
  REQUIRE(reply);
  CHECK(reply->status_line == "HTTP/1.1 200 OK");
  CHECK(reply->body == "hello");
  CHECK(reply->header("X-Header-Count") == "2");
  CHECK(reply->header("X-Test") == "<none>");
  std::optional<Reply> next = client.read_reply();
  REQUIRE(next);
  CHECK(next->header("X-Path") == "/next");
}

TEST_CASE("chunked bodies byte by byte and pipelined behind each other") {
  Harness harness;
  Client client(harness.port());
  const std::string chunked =
      "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3;x=\"y\"\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
  const std::string twice = chunked + chunked + get("/after");
  // All at once: three requests in order.
  REQUIRE(client.send(twice));
  for (const char* body : {"abcde", "abcde", ""}) {
    std::optional<Reply> reply = client.read_reply();
    REQUIRE(reply);
    CHECK(reply->status_line == "HTTP/1.1 200 OK");
    CHECK(reply->body == body);
  }
  // A byte at a time.
  Client slow(harness.port());
  for (char c : chunked) {
    REQUIRE(slow.send(std::string_view(&c, 1)));
  }
  std::optional<Reply> reply = slow.read_reply();
  REQUIRE(reply);
  CHECK(reply->body == "abcde");
}

TEST_CASE("pipelining pauses on a chunked request too, and resumes") {
  ServerOptions options;
  options.max_pipelined = 1;
  Harness harness(options);
  Client client(harness.port());
  const std::string chunked =
      "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n";
  REQUIRE(client.send(chunked + get("/one") + chunked));
  for (const char* body : {"z", "", "z"}) {
    std::optional<Reply> reply = client.read_reply();
    REQUIRE(reply);
    CHECK(reply->body == body);
  }
}

TEST_CASE("an HTTP/1.0 request: keep-alive only when asked, 100-continue ignored") {
  Harness harness;
  Client client(harness.port());
  REQUIRE(
      client.send("POST /a HTTP/1.0\r\nConnection: keep-alive\r\nExpect: 100-continue\r\n"
                  "Content-Length: 2\r\n\r\nhi"));
  std::optional<Reply> reply = client.read_reply();
  REQUIRE(reply);
  CHECK(reply->status_line == "HTTP/1.1 200 OK");
  CHECK(reply->body == "hi");
  CHECK(reply->header("Connection") == "keep-alive");
  REQUIRE(client.send("GET /b HTTP/1.0\r\n\r\n"));
  reply = client.read_reply();
  REQUIRE(reply);
  CHECK(reply->header("Connection") == "close");
  CHECK(client.closed_by_server());
}

TEST_CASE("a transfer coding other than chunked is 501 Not Implemented, then closed") {
  Harness harness;
  for (const char* codings : {"gzip, chunked", "deflate,chunked", "chunked, chunked"}) {
    CAPTURE(codings);
    Client client(harness.port());
    REQUIRE(client.send(std::string("POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: ") +
                        codings + "\r\n\r\n5\r\nhello\r\n0\r\n\r\n"));
    std::optional<Reply> reply = client.read_reply();
    REQUIRE(reply);
    CHECK(reply->status_line == "HTTP/1.1 501 Not Implemented");
    CHECK(reply->header("Connection") == "close");
    CHECK(client.closed_by_server());
  }
  CHECK(harness.handled() == 0);
}

TEST_CASE("a header value split across reads is one value, not a fold") {
  Harness harness;
  Client client(harness.port());
  const std::string request = get("/split", "X-Test: abcdef\r\n");
  const std::size_t middle = request.find("abc") + 3;
  REQUIRE(client.send(request.substr(0, middle)));
  // Not a wait for a condition: the pause makes the server read the value in two parts.
  std::this_thread::sleep_for(50ms);
  REQUIRE(client.send(request.substr(middle)));
  std::optional<Reply> reply = client.read_reply();
  REQUIRE(reply);
  CHECK(reply->status_line == "HTTP/1.1 200 OK");
  CHECK(reply->header("X-Test") == "abcdef");
}

TEST_CASE("requests whose client shut down its sending side are still answered") {
  Harness harness;
  // One request, then SHUT_WR (as `printf ... | nc -N` and some health checks).
  {
    Client client(harness.port());
    REQUIRE(client.send(get("/one")));
    client.finish_sending();
    std::optional<Reply> reply = client.read_reply();
    REQUIRE(reply);
    CHECK(reply->header("X-Path") == "/one");
    CHECK(client.closed_by_server());
  }
  // Pipelined requests, the half-close arriving while they wait for their answers.
  {
    Client client(harness.port());
    REQUIRE(client.send(get("/slow1") + get("/two") + get("/three")));
    client.finish_sending();
    REQUIRE(eventually([&] { return harness.stashed() == 1; }));
    harness.answer({0});
    std::optional<Reply> first = client.read_reply();
    REQUIRE(first);
    CHECK(first->body == "answer /slow1");
    for (const char* path : {"/two", "/three"}) {
      std::optional<Reply> reply = client.read_reply();
      REQUIRE(reply);
      CHECK(reply->header("X-Path") == path);
    }
    CHECK(client.closed_by_server());
  }
  // A half-close in the middle of a request: nothing can be answered; the connection closes.
  {
    Client client(harness.port());
    REQUIRE(client.send("GET /partial HTTP/1.1\r\nHost: t\r\n"));
    client.finish_sending();
    CHECK(client.closed_by_server());
  }
}

TEST_CASE("an error after pipelined requests is written after their responses") {
  Harness harness;
  Client client(harness.port());
  REQUIRE(client.send(get("/slow1") + "BROKEN LINE\r\n\r\n"));
  REQUIRE(eventually([&] { return harness.stashed() == 1; }));
  harness.answer({0});
  std::optional<Reply> first = client.read_reply();
  REQUIRE(first);
  CHECK(first->body == "answer /slow1");
  CHECK(first->header("Connection") == "<none>");
  std::optional<Reply> second = client.read_reply();
  REQUIRE(second);
  CHECK(second->status_line == "HTTP/1.1 400 Bad Request");
  CHECK(client.closed_by_server());
}

TEST_CASE("unsupported HTTP versions get 505") {
  Harness harness;
  // A request line without a version is HTTP/0.9 to the parser.
  for (const char* line : {"GET / HTTP/2.0\r\n", "GET / HTTP/0.9\r\n", "GET /\r\n"}) {
    CAPTURE(line);
    Client client(harness.port());
    REQUIRE(client.send(std::string(line) + "Host: x\r\n\r\n"));
    std::optional<Reply> reply = client.read_reply();
    REQUIRE(reply);
    CHECK(reply->status_line == "HTTP/1.1 505 HTTP Version Not Supported");
    CHECK(client.closed_by_server());
  }
  CHECK(harness.handled() == 0);
}

TEST_CASE("a header block over max_header_bytes gets 431") {
  ServerOptions options;
  options.max_header_bytes = 1024;
  Harness harness(options);
  {
    Client client(harness.port());
    REQUIRE(client.send(get("/", "X-Big: " + std::string(2000, 'a') + "\r\n")));
    std::optional<Reply> reply = client.read_reply();
    REQUIRE(reply);
    CHECK(reply->status_line == "HTTP/1.1 431 Request Header Fields Too Large");
    CHECK(client.closed_by_server());
  }
  {
    // Many small headers count as well.
    Client client(harness.port());
    std::string headers;
    for (int i = 0; i < 100; ++i) {
      headers += "X-H" + std::to_string(i) + ": 1234567890\r\n";
    }
    REQUIRE(client.send(get("/", headers)));
    std::optional<Reply> reply = client.read_reply();
    REQUIRE(reply);
    CHECK(reply->status_line == "HTTP/1.1 431 Request Header Fields Too Large");
  }
  {
    // Just under the limit is fine.
    Client client(harness.port());
    REQUIRE(client.send(get("/", "X-Big: " + std::string(900, 'a') + "\r\n")));
    std::optional<Reply> reply = client.read_reply();
    REQUIRE(reply);
    CHECK(reply->status_line == "HTTP/1.1 200 OK");
  }
  CHECK(harness.metric(
            "switchyard_http_bad_requests_total{server=\"http\",reason=\"header_too_large\"}") ==
        2);
}

TEST_CASE("a body over max_body_bytes gets 413") {
  ServerOptions options;
  options.max_body_bytes = 1024;
  Harness harness(options);
  SUBCASE("by Content-Length, before the body is sent") {
    Client client(harness.port());
    REQUIRE(client.send("POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n"));
    std::optional<Reply> reply = client.read_reply();
    REQUIRE(reply);
    CHECK(reply->status_line == "HTTP/1.1 413 Content Too Large");
    CHECK(client.closed_by_server());
  }
  SUBCASE("while de-chunking") {
    Client client(harness.port());
    std::string chunk(600, 'b');
    REQUIRE(
        client.send("POST /big HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n" +
                    chunk + "\r\n258\r\n" + chunk + "\r\n0\r\n\r\n"));
    std::optional<Reply> reply = client.read_reply();
    REQUIRE(reply);
    CHECK(reply->status_line == "HTTP/1.1 413 Content Too Large");
    CHECK(client.closed_by_server());
  }
  SUBCASE("exactly the limit is accepted") {
    Client client(harness.port());
    REQUIRE(client.send("POST /ok HTTP/1.1\r\nHost: t\r\nContent-Length: 1024\r\n\r\n" +
                        std::string(1024, 'c')));
    std::optional<Reply> reply = client.read_reply();
    REQUIRE(reply);
    CHECK(reply->status_line == "HTTP/1.1 200 OK");
    CHECK(reply->body.size() == 1024);
  }
  CHECK(harness.handled() <= 1);
}

TEST_CASE("Expect: 100-continue") {
  ServerOptions options;
  options.max_body_bytes = 1024;
  Harness harness(options);
  SUBCASE("gets 100 Continue, then the response") {
    Client client(harness.port());
    REQUIRE(client.send(
        "PUT /up HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
    REQUIRE(client.expect_raw("HTTP/1.1 100 Continue\r\n\r\n"));
    REQUIRE(client.send("hello"));
    std::optional<Reply> reply = client.read_reply();
    REQUIRE(reply);
    CHECK(reply->status_line == "HTTP/1.1 200 OK");
    CHECK(reply->body == "hello");
  }
  SUBCASE("with a body over the limit gets 413 instead") {
    Client client(harness.port());
    REQUIRE(client.send(
        "PUT /up HTTP/1.1\r\nHost: t\r\nContent-Length: 4096\r\nExpect: 100-continue\r\n\r\n"));
    std::optional<Reply> reply = client.read_reply();
    REQUIRE(reply);
    CHECK(reply->status_line == "HTTP/1.1 413 Content Too Large");
    CHECK(client.closed_by_server());
  }
  SUBCASE("other expectations get 417") {
    Client client(harness.port());
    REQUIRE(client.send(
        "PUT /up HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: magic\r\n\r\nhello"));
    std::optional<Reply> reply = client.read_reply();
    REQUIRE(reply);
    CHECK(reply->status_line == "HTTP/1.1 417 Expectation Failed");
    CHECK(client.closed_by_server());
  }
}

TEST_CASE("a client dribbling its headers past header_timeout gets 408") {
  ServerOptions options;
  options.header_timeout = 200ms;
  Harness harness(options);
  Client client(harness.port());
  auto started = Clock::now();
  REQUIRE(client.send("GET /slowloris HTTP/1.1\r\nHost: t\r\n"));
  // One header line every 50ms: each arrives well within any per-read timeout, but the whole
  // block never completes.
  bool answered = false;
  for (int i = 0; i < 60 && !answered; ++i) {
    client.send("X-A" + std::to_string(i) + ": 1\r\n");
    answered = client.fill(50ms);
  }
  REQUIRE(answered);
  std::optional<Reply> reply = client.read_reply();
  REQUIRE(reply);
  CHECK(reply->status_line == "HTTP/1.1 408 Request Timeout");
  CHECK(Clock::now() - started >= 200ms);
  CHECK(client.closed_by_server());
  CHECK(harness.handled() == 0);
  CHECK(harness.metric(
            "switchyard_http_bad_requests_total{server=\"http\",reason=\"header_timeout\"}") == 1);
}

TEST_CASE("an idle keep-alive connection is closed after idle_timeout") {
  ServerOptions options;
  options.idle_timeout = 200ms;
  Harness harness(options);
  Client client(harness.port());
  REQUIRE(client.send(get("/")));
  REQUIRE(client.read_reply());
  auto answered = Clock::now();
  CHECK(client.closed_by_server(5s));
  CHECK(Clock::now() - answered >= 150ms);
  CHECK(client.buffer().empty());  // Closed silently.
  CHECK(eventually([&] { return harness.connections() == 0; }));
}

TEST_CASE("connections over max_connections are closed at once; the others keep working") {
  ServerOptions options;
  options.max_connections = 2;
  Harness harness(options);
  Client first(harness.port());
  Client second(harness.port());
  REQUIRE(first.send(get("/1")));
  REQUIRE(first.read_reply());
  REQUIRE(second.send(get("/2")));
  REQUIRE(second.read_reply());
  Client third(harness.port());
  third.send(get("/3"));
  CHECK(third.closed_by_server(2s));
  CHECK(third.buffer().empty());
  REQUIRE(first.send(get("/1b")));
  std::optional<Reply> reply = first.read_reply();
  REQUIRE(reply);
  CHECK(reply->header("X-Path") == "/1b");
  REQUIRE(second.send(get("/2b")));
  reply = second.read_reply();
  REQUIRE(reply);
  CHECK(reply->header("X-Path") == "/2b");
  CHECK(harness.metric("switchyard_http_connections_rejected_total{server=\"http\"}") == 1);
  CHECK(harness.connections() == 2);
}

TEST_CASE("a client gone while its response is pending: a later respond() is harmless") {
  Harness harness;
  {
    Client client(harness.port());
    REQUIRE(client.send(get("/slow-gone")));
    REQUIRE(eventually([&] { return harness.stashed() == 1; }));
  }
  // Its FIN may be a half-close (the answer is still owed, RFC 9112 §9.6) or a full close:
  // the connection waits for the answer; writing it to a closed peer ends the connection.
  harness.answer({0});
  REQUIRE(eventually([&] { return harness.connections() == 0; }));
  // The server keeps serving.
  Client client(harness.port());
  REQUIRE(client.send(get("/after")));
  std::optional<Reply> reply = client.read_reply();
  REQUIRE(reply);
  CHECK(reply->header("X-Path") == "/after");
}

TEST_CASE("a slot dropped without an answer answers 500") {
  Harness harness;
  Client client(harness.port());
  REQUIRE(client.send(get("/drop") + get("/next")));
  std::optional<Reply> reply = client.read_reply();
  REQUIRE(reply);
  CHECK(reply->status_line == "HTTP/1.1 500 Internal Server Error");
  reply = client.read_reply();
  REQUIRE(reply);
  CHECK(reply->header("X-Path") == "/next");
}

TEST_CASE("HEAD responses keep Content-Length but carry no body") {
  Harness harness;
  Client client(harness.port());
  REQUIRE(client.send("HEAD /h HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nbody"));
  std::optional<Reply> reply = client.read_reply(/*head=*/true);
  REQUIRE(reply);
  CHECK(reply->status_line == "HTTP/1.1 200 OK");
  CHECK(reply->header("X-Method") == "HEAD");
  CHECK(reply->header("Content-Length") == "4");
  // Had a body been written, it would come before the next status line.
  REQUIRE(client.send(get("/next")));
  reply = client.read_reply();
  REQUIRE(reply);
  CHECK(reply->status_line == "HTTP/1.1 200 OK");
  CHECK(reply->header("X-Path") == "/next");
}

TEST_CASE("stop_accepting closes idle connections and drains busy ones") {
  Harness harness;
  Client idle(harness.port());
  REQUIRE(idle.send(get("/idle")));
  REQUIRE(idle.read_reply());
  Client busy(harness.port());
  REQUIRE(busy.send(get("/slow-busy")));
  REQUIRE(eventually([&] { return harness.stashed() == 1; }));

  harness.post([](Server& server) { server.stop_accepting(); });
  CHECK(idle.closed_by_server());
  // New connections are refused (or closed at once).
  Client late(harness.port());
  if (late.connected()) {
    CHECK(late.closed_by_server(2s));
  }
  CHECK(harness.connections() == 1);

  harness.answer({0});
  std::optional<Reply> reply = busy.read_reply();
  REQUIRE(reply);
  CHECK(reply->status_line == "HTTP/1.1 200 OK");
  CHECK(reply->body == "answer /slow-busy");
  CHECK(reply->header("Connection") == "close");
  CHECK(busy.closed_by_server());
  CHECK(eventually([&] { return harness.connections() == 0; }));
}

TEST_CASE("a large response body goes out whole even when the socket fills up") {
  Harness harness;
  Client client(harness.port());
  std::string body(4 * 1024 * 1024, 'z');
  for (std::size_t i = 0; i < body.size(); i += 4096) {
    body[i] = static_cast<char>('a' + (i / 4096) % 26);
  }
  REQUIRE(client.send("POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n" + body + get("/after")));
  std::optional<Reply> reply = client.read_reply(false, 10s);
  REQUIRE(reply);
  CHECK(reply->body.size() == body.size());
  CHECK(reply->body == body);
  reply = client.read_reply();
  REQUIRE(reply);
  CHECK(reply->header("X-Path") == "/after");
}

TEST_CASE("listen reports bad addresses and ports in use") {
  core::Loop loop;
  core::MetricsRegistry metrics;
  auto ignore = [](Request&&, ResponseSlot) {};
  {
    ServerOptions options;
    options.address = "not-an-ip";
    Server server(loop, options, ignore, metrics);
    core::Status status = server.listen();
    REQUIRE_FALSE(status.ok());
    CHECK(status.error().message().find("not-an-ip") != std::string::npos);
  }
  {
    Server first(loop, ServerOptions{}, ignore, metrics);
    REQUIRE(first.listen().ok());
    CHECK(first.port() > 0);
    ServerOptions options;
    options.port = first.port();
    Server second(loop, options, ignore, metrics);
    core::Status status = second.listen();
    REQUIRE_FALSE(status.ok());
    CHECK(status.error().message().find("address already in use") != std::string::npos);
  }
}

}  // namespace switchyard::http
