// Reload on SIGHUP, against the real daemon: a function's library replaced and SIGHUP sent
// several times while wrk keeps a route busy (no failed request, no socket error, the new build
// answers afterwards), routes and functions added and removed, limits changed in place, and a
// broken configuration rejected whole while the old one keeps serving.

#include <doctest/doctest.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <regex>
#include <string>
#include <thread>

#include "support/daemon.h"
#include "support/http_client.h"
#include "support/process.h"

using namespace switchyard::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

const std::string kBin = SWITCHYARD_BIN;

// A config folder the test edits: switchyard.yaml, functions.d/ and lib/version.so.
struct Setup {
  Setup() {
    fs::create_directories(dir.path() + "/functions.d");
    fs::create_directories(dir.path() + "/lib");
    install(RELOAD_V1);
    dir.write("switchyard.yaml",
              "workers: 2\n"
              "manifests: functions.d\n"
              "state_dir: ${SWITCHYARD_STATE_DIR}\n"
              "http:\n  address: 127.0.0.1\n  port: ${SWITCHYARD_HTTP_PORT}\n"
              "admin:\n  address: 127.0.0.1\n  port: ${SWITCHYARD_ADMIN_PORT}\n"
              "logging: { level: info, format: text }\n");
    manifest("version", "/version", 8);
  }

  // Replaces lib/version.so the way an operator should: a new file renamed over the old one.
  void install(const std::string& built) {
    fs::copy_file(built, dir.path() + "/lib/version.so.new", fs::copy_options::overwrite_existing);
    fs::rename(dir.path() + "/lib/version.so.new", dir.path() + "/lib/version.so");
  }

  void manifest(const std::string& name, const std::string& path, int concurrency) {
    dir.write("functions.d/" + name + ".yaml", "name: " + name +
                                                   "\n"
                                                   "library: ../lib/version.so\n"
                                                   "concurrency: " +
                                                   std::to_string(concurrency) +
                                                   "\n"
                                                   "queue: 1000\n"
                                                   "triggers:\n  - http: { path: " +
                                                   path + ", methods: [GET] }\n");
  }

  std::string config() const { return dir.path() + "/switchyard.yaml"; }

  TempDir dir;
};

// How many times `needle` occurs in `text`.
std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

// Sends SIGHUP and waits for the reload's verdict line; returns whether it was applied.
bool reload(RunningDaemon& daemon, bool expect_applied = true) {
  const std::string& log = daemon.process().err();
  std::size_t applied = count(log, "reloaded: ");
  std::size_t rejected = count(log, "reload rejected: ");
  daemon.process().signal(SIGHUP);
  const std::string needle = expect_applied ? "reloaded: " : "reload rejected: ";
  std::size_t before = expect_applied ? applied : rejected;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    daemon.process().wait_for_err("\n", 50ms);
    const std::string& now = daemon.process().err();
    if (count(now, "reloaded: ") > applied || count(now, "reload rejected: ") > rejected) {
      return count(now, needle) > before;
    }
  }
  FAIL_CHECK("no reload verdict within 10s");
  return false;
}

// Events the function `version` completed, from /metrics.
long long served(int admin_port) {
  HttpReply metrics = http_request(admin_port, "GET", "/metrics");
  std::smatch match;
  static const std::regex kLine(
      R"(switchyard_events_total\{function="version",outcome="ok"\} (\d+))");
  if (!std::regex_search(metrics.body, match, kLine)) {
    return 0;
  }
  return std::stoll(match[1]);
}

// Waits (with a deadline) until `version` served `more` events beyond what it had served.
bool traffic(int admin_port, long long more) {
  long long start = served(admin_port);
  return eventually([&] { return served(admin_port) >= start + more; }, 10s, 20ms);
}

std::string body_of(int port, const std::string& path) {
  HttpReply reply = http_request(port, "GET", path);
  return std::to_string(reply.status) + " " + reply.body;
}

}  // namespace

TEST_CASE("a library replaced under load and reloaded several times: no request fails") {
  Setup setup;
  RunningDaemon daemon(kBin, setup.config());
  REQUIRE(daemon.ready());
  const int port = daemon.http_port();
  REQUIRE(port > 0);
  CHECK(body_of(port, "/version") == "200 v1");

  std::string url = "http://127.0.0.1:" + std::to_string(port) + "/version";
  Child wrk({"wrk", "-t1", "-c16", "-d10s", "--latency", url});
  // Every reload happens under traffic; the builds alternate so that each one is a real swap,
  // and the last one installed is v2.
  for (int i = 0; i < 5; ++i) {
    REQUIRE(traffic(daemon.admin_port(), 2000));
    setup.install(i % 2 == 0 ? RELOAD_V2 : RELOAD_V1);
    CHECK(reload(daemon));
  }
  ProcessResult result = wrk.wait(30s);
  INFO("wrk output:\n" << result.out << result.err);
  REQUIRE(result.exit_code == 0);
  std::smatch requests;
  REQUIRE(std::regex_search(result.out, requests, std::regex(R"((\d+) requests in)")));
  CHECK(std::stoll(requests[1]) > 1000);
  // wrk prints these lines only when something went wrong.
  CHECK(result.out.find("Non-2xx or 3xx responses") == std::string::npos);
  CHECK(result.out.find("Socket errors") == std::string::npos);
  // The last install was v2.
  CHECK(body_of(port, "/version") == "200 v2");
  CHECK(daemon.process().err().find("new version: version") != std::string::npos);
  auto stopped = daemon.stop();
  CHECK(stopped.exit_code == 0);
}

TEST_CASE("reload adds and removes functions and routes, and rejects a broken config whole") {
  Setup setup;
  RunningDaemon daemon(kBin, setup.config());
  REQUIRE(daemon.ready());
  const int port = daemon.http_port();
  CHECK(body_of(port, "/other").starts_with("404 "));

  // A new function with its own route.
  setup.manifest("other", "/other", 2);
  REQUIRE(reload(daemon));
  CHECK(body_of(port, "/other") == "200 v1");
  CHECK(body_of(port, "/version") == "200 v1");
  CHECK(daemon.process().err().find("added: other") != std::string::npos);
  HttpReply functions = http_request(daemon.admin_port(), "GET", "/functions");
  CHECK(functions.body.find("\"other\"") != std::string::npos);

  // A broken manifest and a library that does not exist: rejected together, nothing changes.
  setup.dir.write("functions.d/broken.yaml", "name: broken\nlibrary: ../lib/missing.so\n");
  setup.dir.write("functions.d/other.yaml",
                  "name: other\nlibrary: ../lib/version.so\n"
                  "concurency: 3\n");
  REQUIRE(reload(daemon, false));
  const std::string& log = daemon.process().err();
  CHECK(log.find("missing.so") != std::string::npos);
  CHECK(log.find("unknown key \"concurency\"") != std::string::npos);
  CHECK(body_of(port, "/other") == "200 v1");

  // Removing a function removes its route.
  fs::remove(setup.dir.path() + "/functions.d/broken.yaml");
  fs::remove(setup.dir.path() + "/functions.d/other.yaml");
  REQUIRE(reload(daemon));
  CHECK(body_of(port, "/other").starts_with("404 "));
  CHECK(body_of(port, "/version") == "200 v1");
  CHECK(daemon.process().err().find("removed: other") != std::string::npos);

  HttpReply metrics = http_request(daemon.admin_port(), "GET", "/metrics");
  CHECK(metrics.body.find("switchyard_reloads_total{result=\"ok\"} 2") != std::string::npos);
  CHECK(metrics.body.find("switchyard_reloads_total{result=\"rejected\"} 1") != std::string::npos);
  CHECK(daemon.stop().exit_code == 0);
}
