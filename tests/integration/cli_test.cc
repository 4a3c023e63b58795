// The CLI as users run it: `switchyard invoke`, `validate`, `run` and `version`, each a real
// child process.

#include <doctest/doctest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>

#include "support/process.h"

using namespace switchyard::testing;
using namespace std::chrono_literals;

namespace {

const std::string kBin = SWITCHYARD_BIN;
const std::string kExamples = std::string(SWITCHYARD_SOURCE_DIR) + "/examples/switchyard.yaml";
// Port 0: tests never depend on a fixed port being free.
const std::map<std::string, std::string> kEnv = {
    {"SWITCHYARD_EXAMPLES_LIB", SWITCHYARD_EXAMPLES_LIB},
    {"SWITCHYARD_HTTP_PORT", "0"},
    {"SWITCHYARD_ADMIN_PORT", "0"}};

ProcessResult invoke(const std::vector<std::string>& extra, const std::string& input = {}) {
  std::vector<std::string> argv = {kBin, "invoke"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back("--config");
  argv.push_back(kExamples);
  return run_process(argv, kEnv, input);
}

// Receives sd_notify datagrams, as systemd does.
class NotifySocket {
 public:
  explicit NotifySocket(const TempDir& dir) : path_(dir.path() + "/notify") {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path_.c_str());
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  }
  ~NotifySocket() { close(fd_); }
  const std::string& path() const { return path_; }

  // Collects messages until one contains `needle`, or the deadline.
  bool wait_for(const std::string& needle, std::chrono::milliseconds timeout = 10s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (received_.find(needle) == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left <= 0ms) {
        return false;
      }
      pollfd pfd{fd_, POLLIN, 0};
      if (poll(&pfd, 1, static_cast<int>(left.count())) == 1) {
        char buffer[4096];
        ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
        if (n > 0) {
          received_.append(buffer, static_cast<std::size_t>(n));
          received_ += '\n';
        }
      }
    }
    return true;
  }

 private:
  std::string path_;
  int fd_ = -1;
  std::string received_;
};

}  // namespace

TEST_CASE("invoke hello greets by the name in the event, like the Lambda tutorial") {
  auto result = invoke({"hello", "--data", R"({"name":"Ada"})"});
  CHECK(result.exit_code == 0);
  CHECK(result.out == "Hello, Ada!");
  auto anonymous = invoke({"hello"});
  CHECK(anonymous.exit_code == 0);
  CHECK(anonymous.out == "Hello, world!");
}

TEST_CASE("invoke echo returns the event and its attributes as JSON") {
  auto result = invoke({"echo", "-d", "hi \"there\""});
  CHECK(result.exit_code == 0);
  CHECK(result.out.find(R"("data":"hi \"there\"")") != std::string::npos);
  CHECK(result.out.find(R"("source":"switchyard/invoke")") != std::string::npos);
  CHECK(result.out.find(R"("type":"switchyard.invoke")") != std::string::npos);
}

TEST_CASE("invoke reads the event data from a file or stdin") {
  TempDir dir;
  auto file = dir.write("event.json", R"({"name":"Grace"})");
  auto from_file = invoke({"hello", "--data-file", file});
  CHECK(from_file.exit_code == 0);
  CHECK(from_file.out == "Hello, Grace!");
  auto from_stdin = invoke({"hello", "--data-file", "-"}, R"({"name":"Linus"})");
  CHECK(from_stdin.exit_code == 0);
  CHECK(from_stdin.out == "Hello, Linus!");
  auto missing = invoke({"hello", "--data-file", dir.path() + "/absent.json"});
  CHECK(missing.exit_code == 2);
  CHECK(missing.err.find("cannot read --data-file") != std::string::npos);
}

TEST_CASE("invoke sleep sleeps as long as it is asked") {
  auto begin = std::chrono::steady_clock::now();
  auto result = invoke({"sleep", "-d", "300"});
  CHECK(result.exit_code == 0);
  CHECK(result.out == "slept 300 ms");
  CHECK(std::chrono::steady_clock::now() - begin >= 300ms);
}

TEST_CASE("invoke exits non-zero with the function's error on stderr") {
  auto error = invoke({"fail", "-d", "error"});
  CHECK(error.exit_code == 1);
  CHECK(error.out.empty());
  CHECK(error.err.find(R"({"errorType":"DeliberateError")") != std::string::npos);

  auto thrown = invoke({"fail", "-d", "throw"});
  CHECK(thrown.exit_code == 1);
  CHECK(thrown.err.find(R"({"errorType":"std::runtime_error","errorMessage":"deliberate"})") !=
        std::string::npos);

  // fail's timeout is 1s; it would hang for ten: the timeout is reported at the deadline.
  auto begin = std::chrono::steady_clock::now();
  auto hung = invoke({"fail", "-d", "hang"});
  auto took = std::chrono::steady_clock::now() - begin;
  CHECK(hung.exit_code == 1);
  CHECK(hung.err.find(
            R"({"errorType":"Timeout","errorMessage":"Task timed out after 1.00 seconds"})") !=
        std::string::npos);
  CHECK(took >= 1s);
  CHECK(took < 5s);

  auto ok = invoke({"fail", "-d", "fine"});
  CHECK(ok.exit_code == 0);
}

TEST_CASE("invoke names the known functions when asked for an unknown one") {
  auto result = invoke({"nope"});
  CHECK(result.exit_code == 2);
  CHECK(result.err.find("no function named \"nope\"") != std::string::npos);
  CHECK(result.err.find("(known: echo, fail, hello-python, hello, sleep)") != std::string::npos);
}

TEST_CASE("validate summarises a good config and lists every error of a bad one") {
  auto good = run_process({kBin, "validate", "--config", kExamples}, kEnv);
  CHECK(good.exit_code == 0);
  CHECK(good.out == kExamples + ": ok: 5 functions, 5 triggers (5 http)\n");

  TempDir dir;
  auto config = dir.write("switchyard.yaml", "workers: -1\nmanifests: functions.d\n");
  dir.write("functions.d/a.yaml", "name: a\nlibrary: nowhere.so\nconcurrency: 0\n");
  auto bad = run_process({kBin, "validate", "--config", config});
  CHECK(bad.exit_code == 1);
  CHECK(bad.out.empty());
  CHECK(bad.err.find(config + ":1:10: workers") != std::string::npos);
  CHECK(bad.err.find("functions.d/a.yaml:2:10: library") != std::string::npos);
  CHECK(bad.err.find("functions.d/a.yaml:3:14: concurrency must be at least 1 (got 0)") !=
        std::string::npos);
  CHECK(bad.err.find("3 errors") != std::string::npos);
}

TEST_CASE("validate rejects two routes that conflict, pointing at the second") {
  TempDir dir;
  auto config = dir.write("switchyard.yaml", "manifests: functions.d\n");
  dir.write("functions.d/lib/f.so", "placeholder: validate does not load libraries\n");
  dir.write("functions.d/a.yaml",
            "name: a\nlibrary: lib/f.so\ntriggers:\n  - http: { path: \"/users/{id}\", methods: "
            "[GET] }\n");
  dir.write("functions.d/b.yaml",
            "name: b\nlibrary: lib/f.so\ntriggers:\n  - http: { path: \"/users/{name}\" }\n");
  auto result = run_process({kBin, "validate", "--config", config});
  CHECK(result.exit_code == 1);
  CHECK(result.err.find("functions.d/b.yaml:4:5: function b: ") != std::string::npos);
  CHECK(result.err.find("1 error") != std::string::npos);
}

TEST_CASE("run reports READY to systemd, then drains and exits 0 on SIGTERM") {
  TempDir dir;
  NotifySocket notify(dir);
  auto env = kEnv;
  env["NOTIFY_SOCKET"] = notify.path();
  env["SWITCHYARD_STATE_DIR"] = dir.path() + "/state";
  Child daemon({kBin, "run", "--config", kExamples}, env);
  REQUIRE(notify.wait_for("READY=1"));
  CHECK(daemon.err().find("loaded function hello") != std::string::npos);
  daemon.signal(SIGTERM);
  auto result = daemon.wait(10s);
  CHECK(notify.wait_for("STOPPING=1", 1s));
  CHECK(result.exit_code == 0);
  CHECK(result.err.find("switchyard stopped") != std::string::npos);
}

TEST_CASE("run refuses to start when a function cannot be loaded") {
  TempDir dir;
  auto config = dir.write("switchyard.yaml", "manifests: functions.d\nstate_dir: state\n");
  dir.write("functions.d/lib/broken.so", "this is not a shared object\n");
  dir.write("functions.d/broken.yaml", "name: broken\nlibrary: lib/broken.so\n");
  auto result = run_process({kBin, "run", "--config", config}, {}, {}, 10s);
  CHECK(result.exit_code == 1);
  CHECK(result.err.find("broken") != std::string::npos);
  CHECK(result.err.find("is not a loadable shared object") != std::string::npos);
}

TEST_CASE("cron next previews a schedule in its time zone, across a DST gap") {
  auto result = run_process({kBin, "cron", "next", "30 2 * * *", "--tz", "Europe/Berlin", "--from",
                             "2026-03-28T00:00:00Z", "--count", "3"});
  CHECK(result.exit_code == 0);
  // 02:30 does not exist on 2026-03-29 in Berlin: it fires once, right after the gap.
  CHECK(result.out ==
        "2026-03-28T02:30:00+01:00\n2026-03-29T03:00:00+02:00\n2026-03-30T02:30:00+02:00\n");
  auto bad = run_process({kBin, "cron", "next", "61 * * * *"});
  CHECK(bad.exit_code == 1);
  CHECK(bad.err == "schedule \"61 * * * *\": minute: \"61\" out of range 0-59\n");
}

TEST_CASE("version names the release and the function ABI") {
  auto result = run_process({kBin, "version"});
  CHECK(result.exit_code == 0);
  CHECK(result.out.rfind("switchyard 0.1.0 (function ABI 1", 0) == 0);
}
