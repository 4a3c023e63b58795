// Execution environments with the real daemon: a custom runtime (a bash + curl `bootstrap`)
// in child processes speaking the Lambda Runtime API, answering HTTP and Invoke API events;
// crashes, aborts, exits and hangs beside traffic to other functions; the Runtime API refusing
// processes that are not the environment's; init failures; no zombie or orphan left.

#include <dirent.h>
#include <doctest/doctest.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/sanitizers.h"
#include "support/daemon.h"
#include "support/http_client.h"
#include "support/proc.h"
#include "support/process.h"

using namespace switchyard::testing;
using namespace std::chrono_literals;

namespace {

const std::string kBin = SWITCHYARD_BIN;
const std::string kBootstrap =
    std::string(SWITCHYARD_SOURCE_DIR) + "/tests/integration/environments/bootstrap";
const std::string kShellExample =
    std::string(SWITCHYARD_SOURCE_DIR) + "/examples/custom-runtime-shell";

std::string invoke_path(const std::string& function) {
  return "/2015-03-31/functions/" + function + "/invocations";
}

// One line of /proc/<pid>/stat: (pid, state, ppid, pgid); pid 0 when it is gone.
std::vector<int> all_pids() {
  std::vector<int> pids;
  DIR* dir = ::opendir("/proc");
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] >= '1' && entry->d_name[0] <= '9') {
      pids.push_back(std::atoi(entry->d_name));
    }
  }
  ::closedir(dir);
  return pids;
}

// The processes whose parent is `parent`.
std::vector<ProcStat> children_of(int parent) {
  std::vector<ProcStat> children;
  for (int pid : all_pids()) {
    ProcStat stat = proc_stat(pid);
    if (stat.pid != 0 && stat.ppid == parent) {
      children.push_back(stat);
    }
  }
  return children;
}

std::string cmdline_of(int pid) {
  return read_proc_file(pid, "cmdline");
}

// The daemon's children that are environments: all but its environment zygote
// (environments/zygote.h), which starts them as the daemon's children.
std::vector<ProcStat> environments_of(int daemon) {
  std::vector<ProcStat> environments;
  for (const ProcStat& child : children_of(daemon)) {
    if (cmdline_of(child.pid).find("--zygote") == std::string::npos) {
      environments.push_back(child);
    }
  }
  return environments;
}

// How many children of `parent` are zombies (ended, not reaped).
int zombies_of(int parent) {
  int zombies = 0;
  for (const ProcStat& child : children_of(parent)) {
    zombies += child.state == 'Z';
  }
  return zombies;
}

// Processes whose command line or working directory mentions `needle` (what a test started).
std::vector<int> processes_mentioning(const std::string& needle) {
  std::vector<int> found;
  for (int pid : all_pids()) {
    if (pid == ::getpid()) {
      continue;
    }
    std::string cmdline = read_proc_file(pid, "cmdline");
    std::error_code error;
    auto cwd = std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/cwd", error);
    if (cmdline.find(needle) != std::string::npos ||
        (!error && cwd.string().find(needle) != std::string::npos)) {
      found.push_back(pid);
    }
  }
  return found;
}

// A daemon config with the given manifests ("name" -> YAML) in a temp dir.
struct Setup {
  TempDir dir;
  std::string config;

  // `level`: the daemon's log level. A test that sends much traffic keeps it at info: the test
  // reads the daemon's stderr only when it looks, and a full pipe would stall the daemon.
  explicit Setup(std::initializer_list<std::pair<const std::string, std::string>> manifests,
                 const std::string& level = "debug") {
    config = dir.write("switchyard.yaml", R"(workers: 2
manifests: functions.d
state_dir: ${SWITCHYARD_STATE_DIR}
region: eu-west-3
http:
  address: 127.0.0.1
  port: ${SWITCHYARD_HTTP_PORT}
admin:
  address: 127.0.0.1
  port: ${SWITCHYARD_ADMIN_PORT}
logging: { level: )" + level + R"(, format: text }
)");
    std::filesystem::create_directories(dir.path() + "/functions.d");
    for (const auto& [name, yaml] : manifests) {
      dir.write("functions.d/" + name + ".yaml", yaml);
    }
  }
};

std::string provided(const std::string& name, const std::string& extra = "") {
  return "name: " + name + "\nruntime: provided\nbootstrap: " + kBootstrap +
         "\nhandler: main.handle\nconcurrency: 2\ntimeout: 2s\n" + extra;
}

}  // namespace

TEST_CASE("a custom runtime answers HTTP (API Gateway 2.0) and Invoke API events") {
  Setup setup({{"shell", provided("shell", R"(env: { FROM_MANIFEST: "yes" }
triggers:
  - http: { path: /shell }
)")},
               {"example", "name: example\nruntime: provided\nbootstrap: " + kShellExample +
                               "/bootstrap\nhandler: function.handler\ntimeout: 5s\n"
                               "triggers:\n  - http: { path: /example }\n"}});
  RunningDaemon daemon(kBin, setup.config, {{"SWITCHYARD_TEST_SECRET", "daemon-only"}});
  REQUIRE(daemon.ready());

  // HTTP: the handler gets the API Gateway event and its statusCode/headers/body map back.
  auto reply = http_request(daemon.http_port(), "POST", "/shell", R"({"hello":"world"})");
  CHECK(reply.status == 200);
  CHECK(reply.header("content-type") == "text/plain");
  CHECK(reply.body.rfind("ok ", 0) == 0);

  // AWS's tutorial runtime, unchanged.
  auto example = http_request(daemon.http_port(), "GET", "/example");
  CHECK(example.status == 200);
  CHECK(example.body.find("Hello from a shell runtime!") != std::string::npos);

  // The Invoke API: the payload as sent; what Lambda sets in the environment, and nothing of
  // the daemon's own.
  auto invoked =
      http_request(daemon.admin_port(), "POST", invoke_path("shell"), R"({"ask":"environment"})");
  CHECK(invoked.status == 200);
  const std::string& body = invoked.body;
  CHECK(body.find(R"("name":"shell")") != std::string::npos);
  CHECK(body.find(R"("version":"$LATEST")") != std::string::npos);
  CHECK(body.find(R"("memory":"128")") != std::string::npos);
  CHECK(body.find(R"("region":"eu-west-3")") != std::string::npos);
  CHECK(body.find(R"("default_region":"eu-west-3")") != std::string::npos);
  CHECK(body.find(R"("handler":"main.handle")") != std::string::npos);
  std::string task_root = std::filesystem::path(kBootstrap).parent_path().string();
  CHECK(body.find(R"("task_root":")" + task_root + "\"") != std::string::npos);
  CHECK(body.find(R"("cwd":")" + task_root + "\"") != std::string::npos);
  CHECK(body.find(R"("log_group":"/aws/lambda/shell")") != std::string::npos);
  CHECK(body.find(R"(/[$LATEST])") != std::string::npos);
  CHECK(body.find(R"("tz":":UTC")") != std::string::npos);
  CHECK(body.find(R"("from_manifest":"yes")") != std::string::npos);
  CHECK(body.find(R"("leaked":"")") != std::string::npos);
  CHECK(body.find(R"("arn":"arn:aws:lambda:eu-west-3:000000000000:function:shell")") !=
        std::string::npos);
  CHECK(body.find(R"("trace":"Root=1-)") != std::string::npos);
  // The deadline is the invocation's (2 s from now), in epoch milliseconds.
  auto deadline_at = body.find(R"("deadline":")");
  REQUIRE(deadline_at != std::string::npos);
  long long deadline = std::stoll(body.substr(deadline_at + 12));
  long long now = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  CHECK(deadline > now);
  CHECK(deadline <= now + 2100);
  // The runtime switchyard-environment execs inherits its batch policy (docs/configuration.md,
  // Runtimes: CPU).
  auto pid_at = body.find(R"("pid":")");
  REQUIRE(pid_at != std::string::npos);
  CHECK(::sched_getscheduler(std::stoi(body.substr(pid_at + 7))) == SCHED_BATCH);

  // A W3C traceparent becomes X-Ray's trace id.
  auto traced =
      http_request(daemon.admin_port(), "POST", invoke_path("shell"), R"({"ask":"environment"})",
                   "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n");
  CHECK(
      traced.body.find(
          R"("trace":"Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1")") !=
      std::string::npos);

  // Its output reaches the daemon's log, tagged with the function and request id.
  CHECK(daemon.process().wait_for_err("function shell request "));
  CHECK(daemon.process().err().find("stdout: handling ") != std::string::npos);
  // The first invocation of an environment reports its init, as Lambda's REPORT does.
  CHECK(daemon.process().err().find("init_duration=") != std::string::npos);

  // /functions shows the environments; /metrics the cold starts and init durations.
  // (The runtime asks for its next invocation a moment after answering: until then it counts
  // as busy.)
  std::string functions;
  CHECK(eventually(
      [&] {
        functions = http_request(daemon.admin_port(), "GET", "/functions").body;
        auto shell = functions.find(R"("name":"shell")");
        return shell != std::string::npos &&
               functions.find(R"("environments":{"warm":1,"busy":0,"starting":0)", shell) !=
                   std::string::npos;
      },
      5s));
  CHECK(functions.find(R"("name":"shell","runtime":"provided")") != std::string::npos);
  auto metrics = http_request(daemon.admin_port(), "GET", "/metrics").body;
  CHECK(metrics.find(R"(switchyard_environment_starts_total{function="shell"} 1)") !=
        std::string::npos);
  CHECK(metrics.find(R"(switchyard_environment_init_seconds_count{function="shell"} 1)") !=
        std::string::npos);
  CHECK(metrics.find(R"(switchyard_environments{function="shell",state="warm"} 1)") !=
        std::string::npos);

  auto stopped = daemon.stop();
  CHECK(stopped.exit_code == 0);
  CHECK(processes_mentioning(setup.dir.path()).empty());
  CHECK(processes_mentioning(kBootstrap).empty());
}

TEST_CASE("a function's timeout leaves out the wait for a cold environment, as Lambda's does") {
  // Each environment serves one invocation and takes 1.5 s to start, longer than the timeout.
  Setup setup({{"slowinit", "name: slowinit\nruntime: provided\nbootstrap: " + kBootstrap +
                                "\nhandler: main.handle\nconcurrency: 1\ntimeout: 1s\n"
                                "max_invocations: 1\nenv: { INIT_SLEEP: \"1.5\" }\n"}});
  RunningDaemon daemon(kBin, setup.config);
  REQUIRE(daemon.ready());
  for (int i = 0; i < 2; ++i) {
    // The first takes the environment started with the daemon; the second waits for a new one.
    auto invoked = http_request(daemon.admin_port(), "POST", invoke_path("slowinit"),
                                R"({"ask":"environment"})", {}, 30s);
    CAPTURE(i);
    CAPTURE(invoked.body);
    CHECK(invoked.status == 200);
    CHECK(invoked.header("x-amz-function-error").empty());
    // The runtime was told its whole timeout from when it got the invocation.
    auto at = invoked.body.find(R"("deadline":")");
    REQUIRE(at != std::string::npos);
    const long long deadline = std::stoll(invoked.body.substr(at + 12));
    const long long now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
    CHECK(deadline - now_ms > 500);
  }
  CHECK(daemon.process().err().find("timed out") == std::string::npos);
  CHECK(daemon.stop().exit_code == 0);
}

TEST_CASE("crashes, aborts, exits and hangs fail their invocation, not the daemon") {
  Setup setup({{"faulty", provided("faulty", "triggers:\n  - http: { path: /faulty }\n")},
               {"steady", provided("steady", "triggers:\n  - http: { path: /steady }\n")}},
              "info");
  RunningDaemon daemon(kBin, setup.config);
  REQUIRE(daemon.ready());
  int admin = daemon.admin_port();

  // Traffic to another function runs all along.
  std::atomic<bool> running{true};
  std::atomic<int> steady_ok{0};
  std::atomic<int> steady_bad{0};
  std::thread steady([&] {
    while (running) {
      auto reply = http_request(daemon.http_port(), "GET", "/steady");
      (reply.status == 200 ? steady_ok : steady_bad)++;
    }
  });

  auto segfault = http_request(admin, "POST", invoke_path("faulty"), R"("segfault")");
  CHECK(segfault.status == 200);
  CHECK(segfault.header("x-amz-function-error") == "Unhandled");
  CHECK(segfault.body.find(R"("errorType":"Runtime.ExitError")") != std::string::npos);
  CHECK(segfault.body.find("Runtime exited with error: signal: segmentation fault") !=
        std::string::npos);

  auto aborted = http_request(admin, "POST", invoke_path("faulty"), R"("abort")");
  CHECK(aborted.body.find("Runtime exited with error: signal: aborted") != std::string::npos);

  auto exited = http_request(admin, "POST", invoke_path("faulty"), R"("exit-now")");
  CHECK(exited.body.find("Runtime exited with error: exit status 3") != std::string::npos);

  auto failed = http_request(admin, "POST", invoke_path("faulty"), R"("fail")");
  CHECK(failed.body.find(R"("errorType":"Custom.Failure")") != std::string::npos);
  CHECK(failed.body.find("asked to fail") != std::string::npos);

  // Hangs: both slots (concurrency 2) time out at the deadline and come back at once.
  auto start = std::chrono::steady_clock::now();
  std::thread hang1([&] { http_request(admin, "POST", invoke_path("faulty"), R"("hang")"); });
  auto hang2 = http_request(admin, "POST", invoke_path("faulty"), R"("hang")");
  hang1.join();
  auto waited = std::chrono::steady_clock::now() - start;
  CHECK(hang2.body.find("Task timed out after 2.00 seconds") != std::string::npos);
  CHECK(waited < 3500ms);
  // The slots are free: the function answers again, from a fresh environment.
  auto after = http_request(admin, "POST", invoke_path("faulty"), R"("fine")");
  CHECK(after.status == 200);
  CHECK(after.header("x-amz-function-error") == "");

  // A second answer for one invocation, and an answer for an unknown one, are refused as AWS
  // refuses them.
  auto twice = http_request(admin, "POST", invoke_path("faulty"), R"("twice")");
  CHECK(twice.body == R"("first")");
  CHECK(daemon.process().wait_for_err("second answer: 403, unknown id: 400"));

  running = false;
  steady.join();
  CHECK(steady_ok > 0);
  CHECK(steady_bad == 0);

  // No zombie: every environment that ended was reaped.
  // An environment that just ended is a zombie until the loop reaps it: not for long.
  CHECK(eventually([&] { return zombies_of(daemon.process().pid()) == 0; }, 5s));
  auto metrics = http_request(admin, "GET", "/metrics").body;
  CHECK(metrics.find(R"(switchyard_environment_stops_total{function="faulty",reason="crash"} 3)") !=
        std::string::npos);
  CHECK(
      metrics.find(R"(switchyard_environment_stops_total{function="faulty",reason="timeout"} 2)") !=
      std::string::npos);
  CHECK(metrics.find(R"(switchyard_environment_stops_total{function="steady")") ==
        std::string::npos);

  auto stopped = daemon.stop();
  CHECK(stopped.exit_code == 0);
  CHECK(processes_mentioning(setup.dir.path()).empty());
  CHECK(processes_mentioning(kBootstrap).empty());
}

TEST_CASE("only a function's own environment may use its Runtime API") {
  TempDir thief_root;
  Setup setup({{"victim", provided("victim")},
               {"thief", "name: thief\nruntime: provided\nbootstrap: " + kBootstrap +
                             "\ncode: " + thief_root.path() + "\ntimeout: 10s\n"}});
  RunningDaemon daemon(kBin, setup.config);
  REQUIRE(daemon.ready());
  // The victim's warm environment and its Runtime API address, from the log.
  std::string log = daemon.process().err();
  auto at = log.find("function victim: environment 1 started (pid ");
  REQUIRE(at != std::string::npos);
  auto api_at = log.find("runtime API ", at);
  REQUIRE(api_at != std::string::npos);
  std::string address = log.substr(api_at + 12, log.find(')', api_at) - api_at - 12);
  auto colon = address.find(':');
  int port = std::stoi(address.substr(colon + 1));

  // Another function's environment is refused: its connection is closed unanswered.
  thief_root.write("steal-from", address);
  auto stolen = http_request(daemon.admin_port(), "POST", invoke_path("thief"), R"("steal")");
  CHECK(stolen.body == R"({"stolen":"000"})");
  // So is any other local process (this test).
  HttpConnection connection(port);
  REQUIRE(connection.connected());
  connection.send_raw("GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(connection.closed_by_peer(3s));
  CHECK(daemon.process().err().find("refused a connection from a process outside environment") !=
        std::string::npos);
  // The victim still works.
  auto works = http_request(daemon.admin_port(), "POST", invoke_path("victim"), R"("fine")");
  CHECK(works.status == 200);
  CHECK(works.header("x-amz-function-error") == "");
  CHECK(daemon.stop().exit_code == 0);
}

TEST_CASE("an init failure refuses the start with the runtime's message") {
  SUBCASE("init/error") {
    Setup setup({{"broken", provided("broken", "env: { INIT_FAIL: \"no config here\" }\n")}});
    Child daemon({kBin, "run", "-c", setup.config}, {{"SWITCHYARD_HTTP_PORT", "0"},
                                                     {"SWITCHYARD_ADMIN_PORT", "0"},
                                                     {"SWITCHYARD_STATE_DIR", setup.dir.path()}});
    auto result = daemon.wait(20s);
    CHECK(result.exit_code == 1);
    CHECK(result.err.find("function 'broken': init failed: Custom.InitFailed: no config here") !=
          std::string::npos);
    CHECK(processes_mentioning(setup.dir.path()).empty());
  }
  SUBCASE("an exit before the first next") {
    Setup setup({{"broken", provided("broken", "env: { INIT_EXIT: \"4\" }\n")}});
    Child daemon({kBin, "run", "-c", setup.config}, {{"SWITCHYARD_HTTP_PORT", "0"},
                                                     {"SWITCHYARD_ADMIN_PORT", "0"},
                                                     {"SWITCHYARD_STATE_DIR", setup.dir.path()}});
    auto result = daemon.wait(20s);
    CHECK(result.exit_code == 1);
    CHECK(result.err.find("Runtime.ExitError: Runtime exited with error: exit status 4") !=
          std::string::npos);
    CHECK(result.err.find("exiting during init") != std::string::npos);
  }
  SUBCASE("init_timeout") {
    Setup setup({{"slow",
                  "name: slow\nruntime: provided\nbootstrap: ../slow-bootstrap\n"
                  "init_timeout: 300ms\n"}});
    std::string slow = setup.dir.write("slow-bootstrap", "#!/bin/sh\nsleep 30\n");
    std::filesystem::permissions(slow, std::filesystem::perms::owner_exec,
                                 std::filesystem::perm_options::add);
    Child daemon({kBin, "run", "-c", setup.config}, {{"SWITCHYARD_HTTP_PORT", "0"},
                                                     {"SWITCHYARD_ADMIN_PORT", "0"},
                                                     {"SWITCHYARD_STATE_DIR", setup.dir.path()}});
    auto result = daemon.wait(20s);
    CHECK(result.exit_code == 1);
    CHECK(result.err.find("Init timed out after 0.30 seconds") != std::string::npos);
  }
}

TEST_CASE("switchyard invoke runs a custom runtime") {
  Setup setup({{"shell", provided("shell")}});
  auto result = run_process({kBin, "invoke", "-c", setup.config, "shell", "--data", R"("x")"},
                            {{"SWITCHYARD_HTTP_PORT", "0"},
                             {"SWITCHYARD_ADMIN_PORT", "0"},
                             {"SWITCHYARD_STATE_DIR", setup.dir.path()}});
  CHECK(result.exit_code == 0);
  CHECK(result.out.find(R"("statusCode":200)") != std::string::npos);
  auto failed = run_process({kBin, "invoke", "-c", setup.config, "shell", "--data", R"("fail")"},
                            {{"SWITCHYARD_HTTP_PORT", "0"},
                             {"SWITCHYARD_ADMIN_PORT", "0"},
                             {"SWITCHYARD_STATE_DIR", setup.dir.path()}});
  CHECK(failed.exit_code == 1);
  // The runtime's own error document, as it posted it.
  CHECK(failed.err.find(R"({"errorMessage":"asked to fail","errorType":"Custom.Failure"})") !=
        std::string::npos);
  CHECK(processes_mentioning(setup.dir.path()).empty());
}

TEST_CASE("isolation: process runs a native library in environments; its faults stay there") {
  const std::string faults_lib = SWITCHYARD_FAULTS_LIB;
  const std::string hello_lib = std::string(SWITCHYARD_EXAMPLES_LIB) + "/libhello.so";
  Setup setup({{"faults", "name: faults\nlibrary: " + faults_lib +
                              "\nisolation: process\nmemory: 64MiB\nconcurrency: 2\ntimeout: 2s\n"
                              "triggers:\n  - http: { path: /faults }\n"},
               {"hello", "name: hello\nlibrary: " + hello_lib +
                             "\nconcurrency: 2\ntriggers:\n  - http: { path: /hello }\n"}},
              "info");
  RunningDaemon daemon(kBin, setup.config);
  REQUIRE(daemon.ready());
  int http = daemon.http_port();

  std::atomic<bool> running{true};
  std::atomic<int> hello_ok{0};
  std::atomic<int> hello_bad{0};
  std::thread traffic([&] {
    while (running) {
      auto reply = http_request(http, "POST", "/hello", R"({"name":"Ada"})");
      (reply.status == 200 && reply.body == "Hello, Ada!" ? hello_ok : hello_bad)++;
    }
  });

  // The whole native event goes to the library and its whole response comes back.
  auto fine = http_request(http, "POST", "/faults", "fine");
  CHECK(fine.status == 201);
  CHECK(fine.header("x-faults") == "yes");
  CHECK(fine.body.rfind("ok fine id=http-", 0) == 0);
  CHECK(fine.body.find(" http.method=POST ") != std::string::npos);
  auto pid_at = fine.body.find("pid=");
  REQUIRE(pid_at != std::string::npos);
  pid_t environment = std::stoi(fine.body.substr(pid_at + 4));
  CHECK(environment != daemon.process().pid());
  // A batch task: its wake-ups never preempt the daemon (docs/configuration.md, Runtimes).
  CHECK(::sched_getscheduler(environment) == SCHED_BATCH);

  for (const char* fault : {"segfault", "abort", "exit"}) {
    CAPTURE(fault);
    auto reply = http_request(http, "POST", "/faults", fault);
    CHECK(reply.status == 502);
    CHECK(reply.body.find("Runtime.ExitError") != std::string::npos);
  }
  auto thrown = http_request(http, "POST", "/faults", "throw");
  CHECK(thrown.status == 502);
  CHECK(thrown.body.find("asked to throw") != std::string::npos);
  // Over its memory: the allocation fails in its own process. (A sanitizer build applies no
  // data limit: core/sanitizers.h.)
  if (!switchyard::core::kShadowMemorySanitizer) {
    auto hog = http_request(http, "POST", "/faults", "hog");
    CHECK(hog.status == 502);
    // Lambda's name for it; and the environment, which still holds what it took, is replaced.
    CHECK(hog.body.find("Runtime.OutOfMemory") != std::string::npos);
    CHECK(eventually(
        [&] {
          return metric(http_request(daemon.admin_port(), "GET", "/metrics").body,
                        R"(switchyard_environment_stops_total{function="faults",)"
                        R"(reason="out_of_memory"})") == 1;
        },
        5s));
  }
  // A spin is killed at the deadline; both slots come back at once.
  auto start = std::chrono::steady_clock::now();
  std::thread spin1([&] { http_request(http, "POST", "/faults", "spin"); });
  auto spin2 = http_request(http, "POST", "/faults", "spin");
  spin1.join();
  CHECK(spin2.status == 504);
  CHECK(std::chrono::steady_clock::now() - start < 3500ms);
  CHECK(http_request(http, "POST", "/faults", "again").status == 201);

  running = false;
  traffic.join();
  CHECK(hello_ok > 0);
  CHECK(hello_bad == 0);
  // An environment that just ended is a zombie until the loop reaps it: not for long.
  CHECK(eventually([&] { return zombies_of(daemon.process().pid()) == 0; }, 5s));
  CHECK(daemon.stop().exit_code == 0);
  CHECK(processes_mentioning(faults_lib).empty());
}

// Found by environment_events_test: the pidfd libuv polls is non-blocking, so the blocking
// reap of a running environment's process (its ChildProcess destroyed) got EAGAIN and left it
// a zombie of the daemon.
TEST_CASE("a reload that removes a function reaps its environments") {
  Setup setup(
      {{"shell", provided("shell", "min_environments: 3\n")}, {"steady", provided("steady")}});
  RunningDaemon daemon(kBin, setup.config);
  REQUIRE(daemon.ready());
  int pid = daemon.process().pid();
  // The zygote started them (each as a copy of itself), yet they are the daemon's children; a
  // sanitizer build spawns them directly (environments/zygote.h).
  const std::vector<ProcStat> children = children_of(pid);
  std::size_t zygotes = 0;
  for (const ProcStat& child : children) {
    zygotes += cmdline_of(child.pid).find("--zygote") != std::string::npos;
  }
  CHECK(zygotes == (switchyard::core::kShadowMemorySanitizer ? 0u : 1u));
  CHECK(children.size() - zygotes >= 4);
  std::filesystem::remove(setup.dir.path() + "/functions.d/shell.yaml");
  daemon.process().signal(SIGHUP);
  REQUIRE(daemon.process().wait_for_err("reloaded: "));
  // Only the remaining function's environment is left, and nothing of the removed one's,
  // not even a zombie.
  CHECK(eventually([&] { return environments_of(pid).size() == 1; }, 5s));
  for (const ProcStat& child : children_of(pid)) {
    CHECK(child.state != 'Z');
  }
  CHECK(daemon.process().err().find("waitid") == std::string::npos);
  CHECK(daemon.stop().exit_code == 0);
}

TEST_CASE("no environment outlives a daemon killed with SIGKILL") {
  Setup setup({{"shell", provided("shell", "min_environments: 2\n")}});
  RunningDaemon daemon(kBin, setup.config);
  REQUIRE(daemon.ready());
  CHECK(processes_mentioning(kBootstrap).size() >= 2);
  daemon.process().signal(SIGKILL);
  daemon.process().wait(5s);
  CHECK(eventually([&] { return processes_mentioning(kBootstrap).empty(); }, 5s));
}

TEST_CASE("a reload gets new environments ready first, and an init failure rejects it") {
  Setup setup({{"shell", provided("shell", "env: { FROM_MANIFEST: one }\n")}});
  RunningDaemon daemon(kBin, setup.config);
  REQUIRE(daemon.ready());
  auto ask = [&] {
    return http_request(daemon.admin_port(), "POST", invoke_path("shell"), R"("environment")").body;
  };
  CHECK(ask().find(R"("from_manifest":"one")") != std::string::npos);
  std::vector<int> first = processes_mentioning(kBootstrap);
  CHECK(!first.empty());

  // A new version whose init fails: the reload is rejected with the runtime's message, and the
  // running version goes on serving.
  setup.dir.write("functions.d/shell.yaml",
                  provided("shell", "env: { FROM_MANIFEST: two, INIT_FAIL: \"bad secret\" }\n"));
  daemon.process().signal(SIGHUP);
  CHECK(daemon.process().wait_for_err("reload rejected"));
  CHECK(daemon.process().err().find("Custom.InitFailed: bad secret") != std::string::npos);
  CHECK(ask().find(R"("from_manifest":"one")") != std::string::npos);

  // A good new version: its environments replace the old ones.
  setup.dir.write("functions.d/shell.yaml", provided("shell", "env: { FROM_MANIFEST: two }\n"));
  daemon.process().signal(SIGHUP);
  CHECK(daemon.process().wait_for_err("reloaded: 1 function(s)"));
  CHECK(ask().find(R"("from_manifest":"two")") != std::string::npos);
  CHECK(eventually(
      [&] {
        for (int pid : first) {
          if (proc_stat(pid).pid != 0) {
            return false;
          }
        }
        return true;
      },
      10s));

  // SIGTERM stops the environments (SIGTERM to their group) and leaves nothing behind.
  auto stopped = daemon.stop();
  CHECK(stopped.exit_code == 0);
  CHECK(processes_mentioning(kBootstrap).empty());
}

// The scheduler holds no thread while an environment works: 200 slow invocations in flight at
// once, each in its own environment, leave the daemon with the threads it had. The invocations
// are synchronous, each on its own connection, so that all 200 are in flight within moments of
// each other however slowly the machine writes to disk; each sleeps long enough for the last
// environment to start before the first one finishes.
TEST_CASE("slow invocations in environments hold no thread of the daemon") {
  const std::string sleep_lib = std::string(SWITCHYARD_EXAMPLES_LIB) + "/libsleep.so";
  const int in_flight = 200;
  // Long enough for the last environment to start before the first one finishes: a sanitizer
  // build spawns 200 instrumented environments many times slower.
  const bool slow_spawn = switchyard::core::kShadowMemorySanitizer;
  const std::string sleep_ms = slow_spawn ? "60000" : "10000";
  const auto all_busy_within = slow_spawn ? 55s : 20s;
  Setup setup({{"slow", "name: slow\nlibrary: " + sleep_lib +
                            "\nisolation: process\nmemory: 64MiB\nconcurrency: " +
                            std::to_string(in_flight) + "\nqueue: 0\ntimeout: 120s\n"}},
              "info");
  RunningDaemon daemon(kBin, setup.config);
  REQUIRE(daemon.ready());
  auto threads = [&] {
    for (const std::string& line :
         file_lines("/proc/" + std::to_string(daemon.process().pid()) + "/status")) {
      if (line.rfind("Threads:", 0) == 0) {
        return std::stoi(line.substr(8));
      }
    }
    return -1;
  };
  auto busy = [&] {
    std::string metrics = http_request(daemon.admin_port(), "GET", "/metrics").body;
    const std::string series = R"(switchyard_environments{function="slow",state="busy"} )";
    auto at = metrics.find(series);
    return at == std::string::npos ? -1 : std::stoi(metrics.substr(at + series.size()));
  };
  const int before = threads();
  REQUIRE(before > 0);

  const std::string request =
      "POST " + invoke_path("slow") +
      " HTTP/1.1\r\nHost: localhost\r\nContent-Length: " + std::to_string(sleep_ms.size()) +
      "\r\n\r\n" + sleep_ms;
  std::vector<std::unique_ptr<HttpConnection>> callers;
  for (int i = 0; i < in_flight; ++i) {
    callers.push_back(std::make_unique<HttpConnection>(daemon.admin_port()));
    REQUIRE(callers.back()->connected());
    REQUIRE(callers.back()->send_raw(request));
  }
  CHECK(eventually([&] { return busy() == in_flight; }, all_busy_within));
  CHECK(threads() == before);
  CHECK(environments_of(daemon.process().pid()).size() == static_cast<std::size_t>(in_flight));
  // All of them finish and answer; nothing is left behind.
  int answered = 0;
  for (auto& caller : callers) {
    HttpReply reply = caller->read_reply(120s);
    if (reply.status == 200 && reply.body.find("slept " + sleep_ms + " ms") != std::string::npos) {
      ++answered;
    }
  }
  CHECK(answered == in_flight);
  CHECK(eventually([&] { return busy() == 0; }, 10s));
  CHECK(daemon.stop().exit_code == 0);
  CHECK(processes_mentioning(sleep_lib).empty());
}
