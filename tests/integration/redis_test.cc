// The Redis trigger of the running daemon against a real redis-server (started here on a free
// port, in a temp dir, with appendonly yes): streams and lists end to end, a kill -9 of the
// daemon, a restart of Redis, poison entries and dead letters, batches with batchItemFailures,
// the concurrency limit while the stream is deep, two daemons in one consumer group, and bad
// configuration.
//
// The function is tests/integration/redis_recorder.cc: it appends the data of every entry it
// sees to a file and records its concurrency high-water mark.

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/daemon.h"
#include "support/http_client.h"
#include "support/process.h"
#include "triggers/redis/probe.h"
#include "triggers/redis/url.h"

using namespace switchyard::testing;
using namespace std::chrono_literals;
using switchyard::triggers::redis::BlockingClient;
using switchyard::triggers::redis::Endpoint;
using switchyard::triggers::redis::Reply;

namespace {

const std::string kBin = SWITCHYARD_BIN;
const std::string kRecorder = SWITCHYARD_REDIS_RECORDER;
using Clock = std::chrono::steady_clock;

// A port nothing listens on right now: bound to port 0, read back, closed.
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  socklen_t length = sizeof(address);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  ::close(fd);
  return ntohs(address.sin_port);
}

// Whether process `pid` (our child) has exited: it is a zombie until reaped.
bool exited(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string pid_text, name, state;
  if (!(stat >> pid_text >> name >> state)) {
    return true;
  }
  return state == "Z";
}

// A real redis-server in its own temp dir, append-only file on, killed at the end.
class RedisServer {
 public:
  RedisServer() {
    for (int attempt = 0; attempt < 5 && !child_; ++attempt) {
      port_ = free_port();
      if (!launch()) {
        child_.reset();
      }
    }
    REQUIRE_MESSAGE(child_ != nullptr, "redis-server did not start");
  }

  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_) + "/0"; }

  // A graceful restart on the same port and data: SHUTDOWN writes the append-only file.
  void restart() {
    child_->signal(SIGTERM);
    auto result = child_->wait(20s);
    REQUIRE_MESSAGE(!result.timed_out, "redis-server did not stop");
    child_.reset();
    // The port is ours until something else takes it; retry briefly if the old socket lingers.
    auto deadline = Clock::now() + 10s;
    while (!launch()) {
      child_.reset();
      REQUIRE_MESSAGE(Clock::now() < deadline, "redis-server did not start again");
    }
  }

  void stop() {
    if (child_) {
      child_->signal(SIGTERM);
      (void)child_->wait(20s);
      child_.reset();
    }
  }

  ~RedisServer() { stop(); }

  BlockingClient client() const {
    Endpoint endpoint;
    endpoint.host = "127.0.0.1";
    endpoint.port = port_;
    auto client = BlockingClient::connect(endpoint, 2000ms, 10000ms);
    REQUIRE_MESSAGE(client.ok(), (client.ok() ? "" : client.error().message()));
    return std::move(client).value();
  }

 private:
  bool launch() {
    child_ = std::make_unique<Child>(
        std::vector<std::string>{"/usr/bin/redis-server", "--port", std::to_string(port_), "--bind",
                                 "127.0.0.1", "--dir", dir_.path(), "--appendonly", "yes", "--save",
                                 "", "--logfile", dir_.path() + "/redis.log", "--daemonize", "no"});
    auto deadline = Clock::now() + 10s;
    while (Clock::now() < deadline) {
      Endpoint endpoint;
      endpoint.host = "127.0.0.1";
      endpoint.port = port_;
      auto client = BlockingClient::connect(endpoint, 200ms, 1000ms);
      if (client.ok()) {
        auto pong = client->command({"PING"});
        if (pong.ok() && pong->str == "PONG") {
          return true;
        }
      }
      // Exited (port taken): give up on this port.
      if (exited(child_->pid())) {
        return false;
      }
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  TempDir dir_;
  int port_ = 0;
  std::unique_ptr<Child> child_;
};

Reply command(BlockingClient& client, const std::vector<std::string>& argv) {
  auto reply = client.command(argv);
  REQUIRE_MESSAGE(reply.ok(), (reply.ok() ? "" : reply.error().message()));
  return std::move(reply).value();
}

// Adds entries "0".."count-1" (field data) to a stream, or pushes them to a list (LPUSH, so the
// trigger consumes them in order from the right).
void produce_stream(BlockingClient& client, const std::string& key, int from, int count,
                    const std::string& prefix = "") {
  for (int i = from; i < from + count; ++i) {
    auto reply = command(client, {"XADD", key, "*", "data", prefix + std::to_string(i)});
    REQUIRE(reply.type == Reply::Type::kString);
  }
}

void produce_list(BlockingClient& client, const std::string& key, int from, int count,
                  const std::string& prefix = "") {
  // 100 elements per LPUSH keeps 10,000 elements fast.
  for (int i = from; i < from + count;) {
    std::vector<std::string> argv = {"LPUSH", key};
    for (int j = 0; j < 100 && i < from + count; ++j, ++i) {
      argv.push_back(prefix + std::to_string(i));
    }
    auto reply = command(client, argv);
    REQUIRE(reply.type == Reply::Type::kInteger);
  }
}

// What the function recorded: every line, and the number of times each was seen.
struct Record {
  std::vector<std::string> lines;
  std::map<std::string, int> seen;

  int duplicates() const {
    int extra = 0;
    for (const auto& [line, count] : seen) {
      extra += count - 1;
    }
    return extra;
  }
  bool has_all(int count, const std::string& prefix = "") const {
    for (int i = 0; i < count; ++i) {
      if (seen.find(prefix + std::to_string(i)) == seen.end()) {
        return false;
      }
    }
    return true;
  }
  int missing(int count) const {
    int missing = 0;
    for (int i = 0; i < count; ++i) {
      missing += seen.find(std::to_string(i)) == seen.end() ? 1 : 0;
    }
    return missing;
  }
};

Record read_record(const std::string& path) {
  Record record;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) {
      continue;
    }
    record.lines.push_back(line);
    ++record.seen[line];
  }
  return record;
}

int read_int_file(const std::string& path) {
  std::ifstream in(path);
  int value = 0;
  in >> value;
  return value;
}

// A function manifest for the recorder.
struct FunctionSpec {
  std::string name = "recorder";
  std::string trigger;  // e.g. "redis: { stream: jobs }"
  int concurrency = 4;
  int queue = 16;
  int sleep_ms = 0;
  std::string retry = "{ attempts: 1 }";
  std::string dead_letter;  // e.g. "{ redis_stream: dlq }"
  std::string record_file;
  std::string hwm_file;
};

// A daemon config dir: switchyard.yaml and functions.d with the given functions.
class DaemonConfig {
 public:
  DaemonConfig(const std::string& redis_url, const std::vector<FunctionSpec>& functions,
               const std::string& instance = "test-host", const std::string& extra = "") {
    std::string yaml = "instance: " + instance +
                       "\nworkers: 4\nmanifests: functions.d\n"
                       "state_dir: ${SWITCHYARD_STATE_DIR}\n"
                       "http: { enabled: false }\n"
                       "admin: { address: 127.0.0.1, port: 0 }\n"
                       "logging: { level: info, format: text }\n"
                       "limits: { shutdown_timeout: 10s }\n"
                       "redis:\n  url: " +
                       redis_url + "\n  connect_timeout: 500ms\n  command_timeout: 2s\n" + extra;
    path_ = dir_.write("switchyard.yaml", yaml);
    std::filesystem::create_directories(dir_.path() + "/functions.d");
    for (const auto& function : functions) {
      std::string manifest = "name: " + function.name + "\nlibrary: " + kRecorder +
                             "\nconcurrency: " + std::to_string(function.concurrency) +
                             "\nqueue: " + std::to_string(function.queue) +
                             "\ntimeout: 10s\nretry: " + function.retry + "\n";
      if (!function.dead_letter.empty()) {
        manifest += "dead_letter: " + function.dead_letter + "\n";
      }
      manifest += "env:\n  RECORD_FILE: \"" + function.record_file + "\"\n  HWM_FILE: \"" +
                  function.hwm_file + "\"\n  SLEEP_MS: \"" + std::to_string(function.sleep_ms) +
                  "\"\ntriggers:\n  - " + function.trigger + "\n";
      dir_.write("functions.d/" + function.name + ".yaml", manifest);
    }
  }
  const std::string& path() const { return path_; }

 private:
  TempDir dir_;
  std::string path_;
};

// Waits for `condition`, reading the daemons' logs meanwhile so that their pipes never fill.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::vector<RunningDaemon*> daemons = {}) {
  auto deadline = Clock::now() + timeout;
  while (!condition()) {
    for (auto* daemon : daemons) {
      (void)daemon->process().err();
    }
    if (Clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

long long pending_count(BlockingClient& client, const std::string& stream,
                        const std::string& group) {
  auto reply = command(client, {"XPENDING", stream, group});
  if (reply.type != Reply::Type::kArray || reply.elements.empty()) {
    return -1;
  }
  return reply.elements[0].integer;
}

long long list_length(BlockingClient& client, const std::string& key) {
  return command(client, {"LLEN", key}).integer;
}

std::string metrics(RunningDaemon& daemon) {
  return http_request(daemon.admin_port(), "GET", "/metrics").body;
}

// The value of the first sample of `name` (with any labels) in a Prometheus text, or -1.
double metric(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name, 0) == 0 && (line[name.size()] == '{' || line[name.size()] == ' ')) {
      return std::stod(line.substr(line.rfind(' ') + 1));
    }
  }
  return -1;
}

}  // namespace

TEST_CASE(
    "10,000 stream entries are all processed and acknowledged, within the concurrency "
    "limit") {
  RedisServer redis;
  auto client = redis.client();
  TempDir out;
  FunctionSpec function;
  function.trigger = "redis: { stream: jobs, block: 200ms }";
  function.concurrency = 3;
  function.queue = 20;
  function.sleep_ms = 0;
  function.record_file = out.path() + "/seen";
  function.hwm_file = out.path() + "/hwm";
  // Deep before the daemon starts, so that backpressure matters from the first read.
  produce_stream(client, "jobs", 0, 10000);
  DaemonConfig config(redis.url(), {function});
  RunningDaemon daemon(kBin, config.path());
  REQUIRE_MESSAGE(daemon.ready(), daemon.process().err());

  CHECK(
      eventually([&] { return read_record(function.record_file).has_all(10000); }, 90s, {&daemon}));
  CHECK(
      eventually([&] { return pending_count(client, "jobs", "switchyard") == 0; }, 10s, {&daemon}));
  auto record = read_record(function.record_file);
  MESSAGE("stream: " << record.lines.size() << " invocations, " << record.duplicates()
                     << " duplicate(s), high-water mark " << read_int_file(function.hwm_file));
  CHECK(record.missing(10000) == 0);
  CHECK(record.duplicates() == 0);
  int hwm = read_int_file(function.hwm_file);
  CHECK(hwm <= 3);
  CHECK(hwm >= 1);
  auto text = metrics(daemon);
  CHECK(metric(text, "switchyard_redis_entries_acked_total") == 10000);
  CHECK(metric(text, "switchyard_redis_entries_read_total") == 10000);
  // The lag gauge is refreshed every 5s; it must come down to 0.
  CHECK(eventually(
      [&] { return metric(metrics(daemon), "switchyard_redis_consumer_group_lag") == 0; }, 10s,
      {&daemon}));
  auto stopped = daemon.stop();
  CHECK(stopped.exit_code == 0);
}

TEST_CASE("10,000 list elements are all processed and removed from the processing list") {
  RedisServer redis;
  auto client = redis.client();
  TempDir out;
  FunctionSpec function;
  function.trigger = "redis: { list: queue, block: 200ms }";
  function.concurrency = 3;
  function.queue = 20;
  function.sleep_ms = 1;
  function.record_file = out.path() + "/seen";
  function.hwm_file = out.path() + "/hwm";
  produce_list(client, "queue", 0, 10000);
  DaemonConfig config(redis.url(), {function});
  RunningDaemon daemon(kBin, config.path());
  REQUIRE_MESSAGE(daemon.ready(), daemon.process().err());

  CHECK(
      eventually([&] { return read_record(function.record_file).has_all(10000); }, 90s, {&daemon}));
  const std::string processing = "queue:processing:test-host-recorder";
  CHECK(eventually([&] { return list_length(client, processing) == 0; }, 10s, {&daemon}));
  CHECK(list_length(client, "queue") == 0);
  auto record = read_record(function.record_file);
  int hwm = read_int_file(function.hwm_file);
  MESSAGE("list: " << record.lines.size() << " invocations, " << record.duplicates()
                   << " duplicate(s), high-water mark " << hwm);
  CHECK(record.duplicates() == 0);
  CHECK(hwm <= 3);
  CHECK(hwm >= 2);  // 1ms per entry and a deep list: the slots are used in parallel.
  CHECK(daemon.stop().exit_code == 0);
}
