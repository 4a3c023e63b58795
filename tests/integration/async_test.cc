// Asynchronous invocations (HTTP with X-Amz-Invocation-Type: Event, the Invoke API with
// InvocationType Event) against the real daemon: a 202 is a promise that survives kill -9, a
// stop shorter than the retries, and a restart; a full queue answers 429, a failed write 503.
// The function is fault_recorder: it records "<data> <event id>" for every attempt, sleeps on
// "hang..." and fails on "poison...".

#include <doctest/doctest.h>
#include <rapidjson/document.h>
#include <sched.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "async_setup.h"
#include "kafka_mock.h"
#include "redis_server.h"
#include "support/daemon.h"
#include "support/http_client.h"
#include "support/process.h"

using namespace switchyard::testing;
using namespace std::chrono_literals;

namespace {

// SQLite's own checks of the queue file, and how many invocations it holds ("" on success).
std::string integrity_check(const std::string& file, long long* rows) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    std::string error = db != nullptr ? sqlite3_errmsg(db) : "cannot open";
    sqlite3_close(db);
    return error;
  }
  std::string result;
  sqlite3_stmt* statement = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &statement, nullptr);
  while (sqlite3_step(statement) == SQLITE_ROW) {
    const char* line = reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
    if (std::string(line) != "ok") {
      result += std::string(line) + "\n";
    }
  }
  sqlite3_finalize(statement);
  sqlite3_prepare_v2(db, "SELECT count(*) FROM async_events", -1, &statement, nullptr);
  if (sqlite3_step(statement) == SQLITE_ROW) {
    *rows = sqlite3_column_int64(statement, 0);
  } else {
    result += sqlite3_errmsg(db);
  }
  sqlite3_finalize(statement);
  sqlite3_close(db);
  return result;
}

// A tmpfs of `mib` MiB mounted on `where` in a mount namespace of this test's own: its children
// (the daemon) share it, nothing outside sees it, and it is gone with the guard or the process.
// Where the machine cannot make one (no CAP_SYS_ADMIN, no tmpfs, a size not kept), why() says
// so and the test skips.
class SmallFilesystem {
 public:
  SmallFilesystem(const std::string& where, unsigned long long mib) : where_(where) {
    if (::unshare(CLONE_NEWNS) != 0) {
      why_ = std::string("cannot create a mount namespace: unshare: ") + std::strerror(errno);
      return;
    }
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      why_ = std::string("cannot make / private in the mount namespace: ") + std::strerror(errno);
      return;
    }
    const std::string options = "size=" + std::to_string(mib) + "m,mode=0700";
    if (::mount("tmpfs", where.c_str(), "tmpfs", 0, options.c_str()) != 0) {
      why_ = "cannot mount a tmpfs on " + where + ": " + std::strerror(errno);
      return;
    }
    mounted_ = true;
    struct statvfs stats {};
    const unsigned long long size =
        ::statvfs(where.c_str(), &stats) == 0
            ? static_cast<unsigned long long>(stats.f_blocks) * stats.f_frsize
            : 0;
    if (size < (mib - 1) << 20 || size > (mib + 1) << 20) {
      why_ = "the tmpfs on " + where + " reports " + std::to_string(size) + " bytes, not " +
             std::to_string(mib) + " MiB";
    }
  }
  ~SmallFilesystem() {
    if (mounted_) {
      ::umount2(where_.c_str(), MNT_DETACH);
    }
  }
  bool mounted() const { return mounted_ && why_.empty(); }
  const std::string& why() const { return why_; }

 private:
  std::string where_;
  bool mounted_ = false;
  std::string why_;
};

// Sends asynchronous invocations until told to stop, half over HTTP and half through the Invoke
// API, and keeps the request id of each one answered 202.
class AsyncLoad {
 public:
  AsyncLoad(int http_port, int admin_port, std::atomic<int>& next) {
    for (int t = 0; t < 4; ++t) {
      threads_.emplace_back([this, t, http_port, admin_port, &next] {
        while (!stop_) {
          const int n = next++;
          // One in ten fails every attempt and ends in the dead letter.
          const std::string data = (n % 10 == 7 ? "poison-" : "hang-") + std::to_string(n);
          HttpReply reply = t % 2 == 0 ? http_request(http_port, "POST", "/slow", data,
                                                      "X-Amz-Invocation-Type: Event\r\n", 2s)
                                       : http_request(admin_port, "POST", invoke_path("slow"), data,
                                                      "X-Amz-Invocation-Type: Event\r\n", 2s);
          std::lock_guard<std::mutex> lock(mutex_);
          if (reply.status == 202) {
            accepted_[reply.header("x-amzn-requestid")] = data;
          } else if (reply.status != 0) {
            ++other_[reply.status];
          }
        }
      });
    }
  }
  ~AsyncLoad() { finish(); }

  void finish() {
    stop_ = true;
    for (auto& thread : threads_) {
      if (thread.joinable()) {
        thread.join();
      }
    }
  }
  std::size_t accepted() {
    std::lock_guard<std::mutex> lock(mutex_);
    return accepted_.size();
  }
  std::map<std::string, std::string> accepted_ids() {
    std::lock_guard<std::mutex> lock(mutex_);
    return accepted_;
  }
  std::map<int, int> others() {
    std::lock_guard<std::mutex> lock(mutex_);
    return other_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::map<std::string, std::string> accepted_;  // Request id -> data.
  std::map<int, int> other_;                     // Other statuses, counted.
  std::vector<std::thread> threads_;
};

}  // namespace

TEST_CASE("kill -9 at random moments under asynchronous load: every 202 runs after a restart") {
  Setup setup("",
              "concurrency: 4\ntimeout: 5s\n"
              "retry: { attempts: 3, backoff: 100ms, max_backoff: 400ms }\n",
              "  HANG_MS: \"10\"\n");
  std::random_device seed;
  std::mt19937 random(seed());
  std::atomic<int> next{0};
  std::map<std::string, std::string> accepted;
  std::map<int, int> others;

  for (int round = 0; round < 3; ++round) {
    auto daemon = setup.start();
    AsyncLoad load(daemon->http_port(), daemon->admin_port(), next);
    // Under way: some accepted, some run, more waiting in the queue.
    REQUIRE(eventually(
        [&] {
          (void)daemon->process().err();
          return load.accepted() >= 200;
        },
        30s));
    const auto moment =
        std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 400)(random));
    std::this_thread::sleep_for(moment);  // The random moment of the kill, not a wait.
    daemon->process().signal(SIGKILL);
    load.finish();
    (void)daemon->process().wait(10s);
    for (auto& [id, data] : load.accepted_ids()) {
      accepted[id] = data;
    }
    for (auto& [status, count] : load.others()) {
      others[status] += count;
    }
    long long rows = -1;
    const std::string problems = integrity_check(setup.queue_file, &rows);
    CHECK_MESSAGE(problems.empty(), "round " << round << ": " << problems);
    MESSAGE("round " << round << ": killed " << moment.count() << "ms after 200 accepted; "
                     << accepted.size() << " accepted so far, " << rows
                     << " left in the queue file, " << recorded(setup.out).size()
                     << " event ids recorded");
  }
  // Anything other than 202 must be a refusal a client can retry (429/503), never a 5xx lie.
  for (auto& [status, count] : others) {
    INFO("status " << status << " answered " << count << " time(s)");
    CHECK((status == 429 || status == 503));
  }

  auto daemon = setup.start();
  CHECK(daemon->process().err().find("recovered from the durable queue") != std::string::npos);
  auto all_done = [&] {
    (void)daemon->process().err();
    auto seen = recorded(setup.out);
    for (auto& [id, data] : accepted) {
      auto it = seen.find(id);
      const int needed = data.rfind("poison-", 0) == 0 ? 3 : 1;
      if (it == seen.end() || it->second < needed) {
        return false;
      }
    }
    long long rows = -1;
    return integrity_check(setup.queue_file, &rows).empty() && rows == 0;
  };
  const bool done = eventually(all_done, 120s, 50ms);
  auto stopped = daemon->stop();
  CHECK(stopped.exit_code == 0);

  auto seen = recorded(setup.out);
  std::size_t lost = 0, duplicated = 0, extra_attempts = 0;
  for (auto& [id, data] : accepted) {
    auto it = seen.find(id);
    const bool poison = data.rfind("poison-", 0) == 0;
    if (it == seen.end() || it->second < (poison ? 3 : 1)) {
      if (lost++ < 5) {
        FAIL_CHECK("accepted " << data << " (" << id << ") did not run to its end: "
                               << (it == seen.end() ? 0 : it->second) << " attempt(s)");
      }
      continue;
    }
    if (!poison && it->second > 1) {
      ++duplicated;
    }
    if (poison && it->second > 3) {
      ++extra_attempts;
    }
  }
  MESSAGE(accepted.size() << " accepted over 3 kills; lost " << lost << "; " << duplicated
                          << " succeeded more than once; " << extra_attempts
                          << " poison event(s) attempted more than 3 times");
  CHECK(done);
  CHECK(lost == 0);
  long long rows = -1;
  CHECK(integrity_check(setup.queue_file, &rows).empty());
  CHECK(rows == 0);
}

TEST_CASE("a stop shorter than the retry backoff: the retries run after the restart, counted") {
  Setup setup("limits: { shutdown_timeout: 1s }\n",
              "retry: { attempts: 3, backoff: 2s, max_backoff: 4s, jitter: 0 }\n");
  std::vector<std::string> ids;
  {
    auto daemon = setup.start();
    for (int i = 0; i < 5; ++i) {
      auto reply = http_request(daemon->admin_port(), "POST", invoke_path("slow"),
                                "poison-" + std::to_string(i), "X-Amz-Invocation-Type: Event\r\n");
      REQUIRE(reply.status == 202);
      ids.push_back(reply.header("x-amzn-requestid"));
    }
    // Each has failed its first attempt; its retry waits 2 s.
    REQUIRE(eventually(
        [&] {
          (void)daemon->process().err();
          return recorded(setup.out).size() == 5;
        },
        10s));
    const auto before = std::chrono::steady_clock::now();
    auto stopped = daemon->stop(10s);
    CHECK(stopped.exit_code == 0);
    CHECK(std::chrono::steady_clock::now() - before < 5s);
  }
  long long rows = -1;
  CHECK(integrity_check(setup.queue_file, &rows).empty());
  CHECK(rows == 5);

  auto daemon = setup.start();
  CHECK(daemon->process().err().find("5 asynchronous invocation(s) recovered") !=
        std::string::npos);
  const bool given_up = eventually(
      [&] {
        (void)daemon->process().err();
        auto metrics = http_request(daemon->admin_port(), "GET", "/metrics").body;
        return metric(metrics, "switchyard_dead_letters_total{function=\"slow\"}") == 5;
      },
      20s, 50ms);
  CHECK(given_up);
  auto seen = recorded(setup.out);
  for (const std::string& id : ids) {
    // Three attempts in all: one before the stop, two after it.
    CHECK(seen[id] == 3);
  }
  auto metrics = http_request(daemon->admin_port(), "GET", "/metrics").body;
  CHECK(metric(metrics, "switchyard_async_recovered_total{function=\"slow\"}") == 5);
  CHECK(daemon->stop().exit_code == 0);
  CHECK(integrity_check(setup.queue_file, &rows).empty());
  CHECK(rows == 0);
}

TEST_CASE("a full asynchronous queue answers 429, a failed write 503; /functions shows them") {
  Setup setup("limits: { max_async_queue_file: 256KiB, shutdown_timeout: 2s }\n",
              "concurrency: 1\ntimeout: 30s\n"
              "async: { max_attempts: 1, max_event_age: 1h, queue: { events: 2 } }\n",
              "  HANG_MS: \"20000\"\n");
  setup.dir.write("functions.d/big.yaml",
                  std::string("name: big\nlibrary: " FAULT_RECORDER_LIB "\n") +
                      "env:\n  RECORD_FILE: \"" + setup.out +
                      "\"\n"
                      "triggers:\n  - http: { path: /big }\n");
  auto daemon = setup.start();
  const int http = daemon->http_port();
  const int admin = daemon->admin_port();
  const std::string event = "X-Amz-Invocation-Type: Event\r\n";

  // The first runs (for 20 s), the second waits: the queue holds both.
  CHECK(http_request(http, "POST", "/slow", "hang-1", event).status == 202);
  CHECK(http_request(admin, "POST", invoke_path("slow"), "hang-2", event).status == 202);
  auto full = http_request(http, "POST", "/slow", "hang-3", event);
  CHECK(full.status == 429);
  CHECK(full.header("retry-after") == "1");
  CHECK(full.body.find("async.queue") != std::string::npos);
  auto full_api = http_request(admin, "POST", invoke_path("slow"), "hang-4", event);
  CHECK(full_api.status == 429);
  CHECK(full_api.header("x-amzn-errortype") == "TooManyRequestsException");

  auto functions = http_request(admin, "GET", "/functions").body;
  INFO(functions);
  CHECK(functions.find(R"("async":{"queued":2,)") != std::string::npos);
  CHECK(functions.find(R"("max_queued":2,)") != std::string::npos);

  // Past limits.max_async_queue_file the write fails as on a full disk: 503, never a 202.
  const std::string large(300 * 1024, 'x');
  auto failed = http_request(http, "POST", "/big", large, event);
  CHECK(failed.status == 503);
  CHECK(failed.body.find("durable queue") != std::string::npos);
  auto failed_api = http_request(admin, "POST", invoke_path("big"), large, event);
  CHECK(failed_api.status == 503);
  CHECK(failed_api.header("x-amzn-errortype") == "ServiceException");
  // What fits is still taken, and runs.
  CHECK(http_request(http, "POST", "/big", "small", event).status == 202);
  CHECK(eventually(
      [&] {
        for (const std::string& line : file_lines(setup.out)) {
          if (line.rfind("small ", 0) == 0) {
            return true;
          }
        }
        return false;
      },
      10s));

  auto metrics = http_request(admin, "GET", "/metrics").body;
  CHECK(metric(metrics, R"(switchyard_async_refused_total{function="slow",reason="full"})") == 2);
  CHECK(metric(metrics,
               R"(switchyard_async_refused_total{function="big",reason="write_failed"})") == 2);
  CHECK(metric(metrics, R"(switchyard_async_accepted_total{function="slow"})") == 2);
  CHECK(daemon->process().err().find("cannot write it") != std::string::npos);
  // The one running past shutdown_timeout (exit 1: not a clean drain) and the one waiting are
  // both kept for the next start.
  CHECK(daemon->stop().exit_code == 1);
  long long rows = -1;
  CHECK(integrity_check(setup.queue_file, &rows).empty());
  CHECK(rows == 2);
}

TEST_CASE("a state_dir whose filesystem fills up: 503 and logged, nothing accepted is lost") {
  // The reserve must hold what the WAL may still grow by (4 MiB: SQLite's auto-checkpoint at
  // 1000 pages) and the file's growth at that checkpoint: with 2 MiB, a sanitizer build (slower
  // commits, more of them, and a larger function library copied into state_dir) filled the
  // filesystem to its last block and the removals could not be written.
  Setup setup("limits: { shutdown_timeout: 2s, async_queue_reserve: 6MiB }\n",
              "concurrency: 1\ntimeout: 30s\n"
              "async: { max_attempts: 1, max_event_age: 1h, "
              "queue: { events: 10000, bytes: 64MiB } }\n",
              "  HANG_MS: \"100\"\n");
  // A real filesystem filling up, not the queue's own size cap: a 16 MiB tmpfs as state_dir.
  SmallFilesystem small(setup.state, 16);
  if (!small.mounted()) {
    MESSAGE("skipped: " << small.why());
    return;
  }
  auto daemon = setup.start();
  const int http = daemon->http_port();
  const std::string event = "X-Amz-Invocation-Type: Event\r\n";

  // 64 KiB invocations, each running 100 ms: the queue grows until the filesystem is full.
  const std::string payload = "hang-" + std::string(64 * 1024, 'x');
  int accepted = 0;
  HttpReply refused;
  for (int i = 0; i < 400 && refused.status == 0; ++i) {
    auto reply = http_request(http, "POST", "/slow", payload, event);
    if (reply.status == 202) {
      ++accepted;
    } else {
      refused = reply;
    }
  }
  INFO(daemon->process().err());
  MESSAGE(accepted << " invocation(s) of 64 KiB taken before the first 503: " << refused.body);
  REQUIRE(refused.status == 503);
  CHECK(refused.body.find("limits.async_queue_reserve") != std::string::npos);
  CHECK(accepted >= 3);
  CHECK(daemon->process().err().find("cannot write it") != std::string::npos);

  // Every invocation answered 202 runs once (the queue keeps it while it waits), and once they
  // have run the space they took is reused: a new invocation is taken again.
  CHECK(eventually([&] { return file_lines(setup.out).size() >= static_cast<size_t>(accepted); },
                   30s));
  CHECK(file_lines(setup.out).size() == static_cast<size_t>(accepted));
  bool taken_again = false;
  CHECK(eventually(
      [&] {
        taken_again = http_request(http, "POST", "/slow", "after", event).status == 202;
        return taken_again;
      },
      10s));
  CHECK(eventually(
      [&] { return file_lines(setup.out).size() == static_cast<size_t>(accepted) + 1; }, 10s));
  CHECK(recorded(setup.out).size() == static_cast<size_t>(accepted) + 1);
  auto metrics = http_request(daemon->admin_port(), "GET", "/metrics").body;
  CHECK(metric(metrics,
               R"(switchyard_async_refused_total{function="slow",reason="write_failed"})") >= 1);
  CHECK(daemon->stop().exit_code == 0);
  long long rows = -1;
  CHECK(integrity_check(setup.queue_file, &rows).empty());
  CHECK(rows == 0);
}

namespace {

// Runs the daemon, with no function and no listener, on `state_dir` (in `dir`) to its end.
ProcessResult run_on_state_dir(TempDir& dir, const std::string& state_dir) {
  std::filesystem::create_directories(dir.path() + "/functions.d");
  dir.write("switchyard.yaml", "manifests: functions.d\nstate_dir: " + state_dir +
                                   "\nhttp: { enabled: false }\nadmin: { enabled: false }\n");
  return run_process({kBin, "run", "--config", dir.path() + "/switchyard.yaml"}, {}, {}, 20s);
}

}  // namespace

TEST_CASE("a state_dir that cannot hold the queue stops the start with a clear error") {
  TempDir dir;
  auto result = run_on_state_dir(dir, dir.write("state", "a file, not a folder"));
  CHECK(result.exit_code == 1);
  CHECK(result.err.find("state_dir") != std::string::npos);
}

// Read-only from the start (a read-only mount, not permissions: this test runs as root): the
// daemon refuses to start, naming the file, rather than answer 503 to every asynchronous
// invocation. (One that turns read-only while the daemon runs, errors=remount-ro, fails each
// write: the full-filesystem case above covers that path. A running daemon's filesystem cannot
// be remounted read-only by hand: the kernel refuses while the queue is open for writing.)
TEST_CASE("a read-only state_dir stops the start with a clear error") {
  TempDir dir;
  const std::string state = dir.path() + "/state";
  std::filesystem::create_directories(state);
  SmallFilesystem small(state, 4);
  if (!small.mounted()) {
    MESSAGE("skipped: " << small.why());
    return;
  }
  if (::mount(nullptr, state.c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr) != 0) {
    MESSAGE("skipped: cannot remount " << state << " read-only: " << std::strerror(errno));
    return;
  }
  auto result = run_on_state_dir(dir, state);
  CHECK(result.exit_code == 1);
  CHECK(result.err.find(state + "/async-queue.db") != std::string::npos);
  CHECK(result.err.find("Read-only file system") != std::string::npos);
}

// Lambda's destinations: the record of a success goes to another function (as an asynchronous
// invocation of its own), that of an invocation given up to a Redis list, beside its dead letter.
TEST_CASE("on_success and on_failure destinations get Lambda's invocation record") {
  RedisServer redis;
  Setup setup("redis: { url: \"" + redis.url() + "\" }\n",
              "retry: { attempts: 2, backoff: 10ms, jitter: 0 }\n"
              "dead_letter: { redis_list: dead }\n"
              "async:\n"
              "  on_success: { function: audit }\n"
              "  on_failure: { redis_list: failures }\n");
  const std::string audit_out = setup.dir.path() + "/audit.txt";
  setup.dir.write("functions.d/audit.yaml", "name: audit\nlibrary: " FAULT_RECORDER_LIB
                                            "\nenv:\n  RECORD_FILE: \"" +
                                                audit_out + "\"\n");
  auto daemon = setup.start();
  auto ok = http_request(daemon->http_port(), "POST", "/slow", R"({"n":1})",
                         "X-Amz-Invocation-Type: Event\r\n");
  REQUIRE(ok.status == 202);
  auto poison = http_request(daemon->admin_port(), "POST", invoke_path("slow"), "poison-2",
                             "X-Amz-Invocation-Type: Event\r\n");
  REQUIRE(poison.status == 202);

  auto client = redis.client();
  auto list = [&](const std::string& key) {
    auto reply = client.command({"LRANGE", key, "0", "-1"});
    std::vector<std::string> values;
    if (reply.ok()) {
      for (const auto& element : reply->elements) {
        values.push_back(element.str);
      }
    }
    return values;
  };
  REQUIRE(eventually(
      [&] {
        (void)daemon->process().err();
        return file_lines(audit_out).size() == 1 && list("failures").size() == 1 &&
               list("dead").size() == 1;
      },
      20s, 50ms));

  // The success: audit ran with the record as its event ("<data> <event id>").
  std::string line = file_lines(audit_out).front();
  rapidjson::Document success;
  success.Parse(line.substr(0, line.rfind(' ')).c_str());
  REQUIRE_MESSAGE(!success.HasParseError(), line);
  CHECK(std::string(success["requestContext"]["requestId"].GetString()) ==
        ok.header("x-amzn-requestid"));
  CHECK(std::string(success["requestContext"]["condition"].GetString()) == "Success");
  CHECK(std::string(success["requestContext"]["functionArn"].GetString()) ==
        "arn:aws:lambda:us-east-1:000000000000:function:slow:$LATEST");
  CHECK(success["requestPayload"]["n"].GetInt() == 1);
  CHECK(std::string(success["responsePayload"].GetString()) == "ok");

  // The failure: after both attempts, to the list, and the dead letter to its own list.
  rapidjson::Document failure;
  failure.Parse(list("failures").front().c_str());
  REQUIRE(!failure.HasParseError());
  CHECK(std::string(failure["requestContext"]["condition"].GetString()) == "RetriesExhausted");
  CHECK(failure["requestContext"]["approximateInvokeCount"].GetInt() == 2);
  CHECK(std::string(failure["requestPayload"].GetString()) == "poison-2");
  CHECK(std::string(failure["responseContext"]["functionError"].GetString()) == "Unhandled");
  CHECK(std::string(failure["responsePayload"]["errorType"].GetString()) == "PoisonError");
  CHECK(list("dead").front().find("poison-2") != std::string::npos);

  auto metrics = http_request(daemon->admin_port(), "GET", "/metrics").body;
  CHECK(metric(metrics, R"(switchyard_async_destination_records_total{function="slow",)"
                        R"(destination="on_success",result="written"})") == 1);
  CHECK(metric(metrics, R"(switchyard_async_destination_records_total{function="slow",)"
                        R"(destination="on_failure",result="written"})") == 1);
  auto functions = http_request(daemon->admin_port(), "GET", "/functions").body;
  CHECK(functions.find(R"("on_success":{"function":"audit"})") != std::string::npos);
  CHECK(functions.find(R"("on_failure":{"redis_list":"failures"})") != std::string::npos);
  CHECK(eventually(
      [&] {
        (void)daemon->process().err();
        auto now = http_request(daemon->admin_port(), "GET", "/metrics").body;
        return metric(now, R"(switchyard_async_queued{function="slow"})") == 0 &&
               metric(now, R"(switchyard_async_queued{function="audit"})") == 0;
      },
      10s));
  CHECK(daemon->stop().exit_code == 0);
}

// A Redis stream as the on_success destination: one entry per record, the record in its `data`
// field beside the `function` it came from.
TEST_CASE("an on_success Redis stream gets the invocation record in an entry's data field") {
  RedisServer redis;
  Setup setup("redis: { url: \"" + redis.url() + "\" }\n",
              "async: { on_success: { redis_stream: successes } }\n");
  auto daemon = setup.start();
  auto ok = http_request(daemon->http_port(), "POST", "/slow", R"({"n":7})",
                         "X-Amz-Invocation-Type: Event\r\n");
  REQUIRE(ok.status == 202);

  auto client = redis.client();
  std::map<std::string, std::string> fields;
  REQUIRE(eventually(
      [&] {
        (void)daemon->process().err();
        auto reply = client.command({"XRANGE", "successes", "-", "+"});
        if (!reply.ok() || reply->elements.size() != 1) {
          return false;
        }
        // [[id, [field, value, ...]]]
        const auto& pairs = reply->elements[0].elements.at(1).elements;
        for (std::size_t i = 0; i + 1 < pairs.size(); i += 2) {
          fields[pairs[i].str] = pairs[i + 1].str;
        }
        return true;
      },
      20s, 50ms));
  CHECK(fields["function"] == "slow");
  rapidjson::Document record;
  record.Parse(fields["data"].c_str());
  REQUIRE_MESSAGE(!record.HasParseError(), fields["data"]);
  CHECK(std::string(record["requestContext"]["requestId"].GetString()) ==
        ok.header("x-amzn-requestid"));
  CHECK(std::string(record["requestContext"]["condition"].GetString()) == "Success");
  CHECK(record["requestPayload"]["n"].GetInt() == 7);
  CHECK(std::string(record["responsePayload"].GetString()) == "ok");
  CHECK(eventually(
      [&] {
        (void)daemon->process().err();
        auto now = http_request(daemon->admin_port(), "GET", "/metrics").body;
        return metric(now, R"(switchyard_async_queued{function="slow"})") == 0 &&
               metric(now, R"(switchyard_async_destination_records_total{function="slow",)"
                           R"(destination="on_success",result="written"})") == 1;
      },
      10s));
  CHECK(daemon->stop().exit_code == 0);
}

// A Kafka topic as the on_failure destination: the record is the Kafka record's value, with no
// Kafka trigger in the daemon (the kind runs its writer for the destination alone).
TEST_CASE("an on_failure Kafka topic gets the invocation record as the record's value") {
  KafkaMockCluster cluster;
  REQUIRE(cluster.ok());
  cluster.create_topic("failures", 1);
  Setup setup("kafka: { brokers: \"" + cluster.bootstraps() + "\" }\n",
              "async: { max_attempts: 1, on_failure: { kafka_topic: failures } }\n");
  auto daemon = setup.start();
  auto failing = http_request(daemon->admin_port(), "POST", invoke_path("slow"), "poison-1",
                              "X-Amz-Invocation-Type: Event\r\n");
  REQUIRE(failing.status == 202);
  std::vector<ReadRecord> records;
  REQUIRE(eventually(
      [&] {
        (void)daemon->process().err();
        records = cluster.read_all("failures", 1, 1, 2000);
        return !records.empty();
      },
      20s, 100ms));
  REQUIRE(records.size() == 1);
  rapidjson::Document record;
  record.Parse(records.front().value.c_str());
  REQUIRE_MESSAGE(!record.HasParseError(), records.front().value);
  CHECK(std::string(record["requestContext"]["requestId"].GetString()) ==
        failing.header("x-amzn-requestid"));
  CHECK(std::string(record["requestContext"]["condition"].GetString()) == "RetriesExhausted");
  CHECK(record["requestContext"]["approximateInvokeCount"].GetInt() == 1);
  CHECK(std::string(record["requestPayload"].GetString()) == "poison-1");
  std::map<std::string, std::string> headers(records.front().headers.begin(),
                                             records.front().headers.end());
  CHECK(headers["content-type"] == "application/json");
  CHECK(daemon->stop().exit_code == 0);
}

// ---- A Redis stream as the shared asynchronous queue (async.queue.redis_stream) -------------
