// Asynchronous invocations whose queue is shared (async.queue.redis_stream, kafka_topic) against
// real daemons: a real redis-server and librdkafka's mock cluster; two daemons, one killed with
// -9, the other running what it had accepted; attempts carried with a put-back entry; 429 and
// 503; a reload. The function is fault_recorder, as in async_test.cc.

#include <doctest/doctest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
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

// Two daemons (host-a, host-b) whose function `slow` keeps its asynchronous queue in the Redis
// stream async:slow, each with its own state_dir and record file.
struct SharedSetup {
  SharedSetup(RedisServer& redis, const std::string& function, const std::string& env = {})
      : a(daemon_yaml(redis, "host-a"), function + shared_queue, env),
        b(daemon_yaml(redis, "host-b"), function + shared_queue, env) {}

  static std::string daemon_yaml(RedisServer& redis, const std::string& instance) {
    return "instance: " + instance + "\nredis: { url: \"" + redis.url() +
           "\" }\nlimits: { shutdown_timeout: 2s }\n";
  }

  // Every event id recorded by either daemon, with how many times.
  std::map<std::string, int> seen() const {
    auto ids = recorded(a.out);
    for (auto& [id, count] : recorded(b.out)) {
      ids[id] += count;
    }
    return ids;
  }

  static inline const std::string shared_queue =
      "async:\n  queue: { redis_stream: \"async:slow\", claim_after: 1s }\n";
  Setup a;
  Setup b;
};

long long stream_length(RedisServer& redis) {
  auto client = redis.client();
  auto reply = client.command({"XLEN", "async:slow"});
  return reply.ok() ? reply->integer : -1;
}

// Entries of async:slow held by a daemon (pending in the group): 0 once all have settled.
long long stream_pending(RedisServer& redis) {
  auto client = redis.client();
  auto reply = client.command({"XPENDING", "async:slow", "switchyard-async"});
  return reply.ok() && !reply->is_error() ? reply->elements.at(0).integer : -1;
}

std::string stream_bytes(RedisServer& redis) {
  auto client = redis.client();
  auto reply = client.command({"GET", "async:slow:bytes"});
  return reply.ok() ? reply->str : "?";
}

// The `attempts` field of every entry of async:slow.
std::vector<std::string> stream_attempts(RedisServer& redis) {
  auto client = redis.client();
  auto reply = client.command({"XRANGE", "async:slow", "-", "+"});
  std::vector<std::string> attempts;
  if (reply.ok()) {
    for (const auto& entry : reply->elements) {
      const auto& fields = entry.elements.at(1).elements;
      for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
        if (fields[i].str == "attempts") {
          attempts.push_back(fields[i + 1].str);
        }
      }
    }
  }
  return attempts;
}

}  // namespace

TEST_CASE("a shared Redis stream queue: what a daemon killed with -9 accepted runs on another") {
  RedisServer redis;
  SharedSetup setup(redis, "concurrency: 2\ntimeout: 5s\n", "  HANG_MS: \"100\"\n");
  std::map<std::string, std::string> accepted;
  {
    auto a = setup.a.start();
    for (int n = 0; n < 40; ++n) {
      const std::string data = "hang-" + std::to_string(n);
      HttpReply reply = n % 2 == 0 ? http_request(a->http_port(), "POST", "/slow", data,
                                                  "X-Amz-Invocation-Type: Event\r\n")
                                   : http_request(a->admin_port(), "POST", invoke_path("slow"),
                                                  data, "X-Amz-Invocation-Type: Event\r\n");
      REQUIRE_MESSAGE(reply.status == 202, reply.body);
      accepted[reply.header("x-amzn-requestid")] = data;
    }
    // Under way: some ran on host-a, some are held by it (read, running), the rest wait.
    REQUIRE(eventually(
        [&] {
          (void)a->process().err();
          return recorded(setup.a.out).size() >= 3;
        },
        10s));
    a->process().signal(SIGKILL);
    (void)a->process().wait(10s);
  }
  const std::size_t ran_on_a = recorded(setup.a.out).size();
  CHECK(ran_on_a < accepted.size());
  CHECK(stream_length(redis) > 0);

  // host-b reads what is new, and takes over what host-a held once it has been idle 1 s.
  auto b = setup.b.start();
  const bool done = eventually(
      [&] {
        (void)b->process().err();
        auto seen = setup.seen();
        for (auto& [id, data] : accepted) {
          if (seen.find(id) == seen.end()) {
            return false;
          }
        }
        return stream_length(redis) == 0;
      },
      60s, 50ms);
  CHECK(done);
  auto seen = setup.seen();
  const auto on_a = recorded(setup.a.out);
  std::size_t lost = 0, duplicated = 0;
  for (auto& [id, data] : accepted) {
    auto it = seen.find(id);
    if (it == seen.end()) {
      if (lost++ < 5) {
        FAIL_CHECK("accepted " << data << " (" << id << ") never ran");
      }
    } else if (it->second > 1) {
      ++duplicated;
      // At least once: only what host-a had taken before it was killed may run again.
      CHECK_MESSAGE(on_a.count(id) == 1, data << " ran " << it->second << " times");
    }
  }
  MESSAGE(accepted.size() << " accepted on host-a, " << ran_on_a << " ran there before the kill; "
                          << "lost " << lost << ", " << duplicated << " ran twice");
  CHECK(lost == 0);
  CHECK(stream_length(redis) == 0);
  CHECK(stream_pending(redis) == 0);
  CHECK(stream_bytes(redis) == "0");
  auto metrics = http_request(b->admin_port(), "GET", "/metrics").body;
  CHECK(metric(metrics,
               R"(switchyard_redis_entries_claimed_total{function="slow",key="async:slow"})") >= 1);
  CHECK(b->stop().exit_code == 0);
}

TEST_CASE("a shared Redis stream queue: a failed attempt is put back with its attempts") {
  RedisServer redis;
  SharedSetup setup(redis,
                    "retry: { attempts: 3, backoff: 1500ms, max_backoff: 1500ms, jitter: 0 }\n"
                    "dead_letter: { redis_list: dead }\n");
  std::vector<std::string> ids;
  {
    auto a = setup.a.start();
    for (int i = 0; i < 3; ++i) {
      auto reply = http_request(a->admin_port(), "POST", invoke_path("slow"),
                                "poison-" + std::to_string(i), "X-Amz-Invocation-Type: Event\r\n");
      REQUIRE(reply.status == 202);
      ids.push_back(reply.header("x-amzn-requestid"));
    }
    // Each failed once on host-a and is back in the stream with attempts 1, its retry 1.5 s
    // away.
    REQUIRE(eventually(
        [&] {
          (void)a->process().err();
          auto attempts = stream_attempts(redis);
          return attempts == std::vector<std::string>{"1", "1", "1"};
        },
        10s));
    a->process().signal(SIGKILL);
    (void)a->process().wait(10s);
  }
  CHECK(recorded(setup.a.out).size() == 3);

  // host-b makes the two attempts left, then gives them up to the dead letter.
  auto b = setup.b.start();
  auto client = redis.client();
  const bool given_up = eventually(
      [&] {
        (void)b->process().err();
        auto dead = client.command({"LLEN", "dead"});
        return dead.ok() && dead->integer == 3 && stream_length(redis) == 0;
      },
      30s, 50ms);
  CHECK(given_up);
  auto seen = setup.seen();
  for (const std::string& id : ids) {
    CHECK_MESSAGE(seen[id] == 3, id);  // One attempt on host-a, two on host-b.
  }
  CHECK(recorded(setup.b.out).size() == 3);
  CHECK(stream_bytes(redis) == "0");
  CHECK(stream_pending(redis) == 0);
  CHECK(b->stop().exit_code == 0);
}

TEST_CASE("a shared Redis stream queue: full answers 429, Redis gone answers 503") {
  RedisServer redis;
  Setup setup(SharedSetup::daemon_yaml(redis, "host-a"),
              "concurrency: 1\ntimeout: 30s\n"
              "async:\n  max_attempts: 1\n"
              "  queue: { events: 2, redis_stream: \"async:slow\" }\n",
              "  HANG_MS: \"20000\"\n");
  auto a = setup.start();
  const std::string event = "X-Amz-Invocation-Type: Event\r\n";
  CHECK(http_request(a->http_port(), "POST", "/slow", "hang-1", event).status == 202);
  CHECK(http_request(a->admin_port(), "POST", invoke_path("slow"), "hang-2", event).status == 202);
  auto full = http_request(a->http_port(), "POST", "/slow", "hang-3", event);
  CHECK(full.status == 429);
  CHECK(full.body.find("async.queue") != std::string::npos);
  auto full_api = http_request(a->admin_port(), "POST", invoke_path("slow"), "hang-4", event);
  CHECK(full_api.status == 429);
  CHECK(full_api.header("x-amzn-errortype") == "TooManyRequestsException");
  CHECK(stream_length(redis) == 2);
  CHECK(eventually(
      [&] {
        auto functions = http_request(a->admin_port(), "GET", "/functions").body;
        return functions.find(R"("async":{"queued":2,)") != std::string::npos &&
               functions.find(R"("redis_stream":"async:slow")") != std::string::npos;
      },
      5s));

  redis.stop();
  auto gone = http_request(a->http_port(), "POST", "/slow", "hang-5", event, 10s);
  CHECK(gone.status == 503);
  auto gone_api = http_request(a->admin_port(), "POST", invoke_path("slow"), "hang-6", event, 10s);
  CHECK(gone_api.status == 503);
  CHECK(gone_api.header("x-amzn-errortype") == "ServiceException");
  auto metrics = http_request(a->admin_port(), "GET", "/metrics").body;
  CHECK(metric(metrics, R"(switchyard_async_refused_total{function="slow",reason="full"})") == 2);
  CHECK(metric(metrics,
               R"(switchyard_async_refused_total{function="slow",reason="write_failed"})") == 2);
  CHECK(metric(metrics, R"(switchyard_async_accepted_total{function="slow"})") == 2);
  // The one running past shutdown_timeout: not a clean drain (exit 1), and no crash.
  CHECK(a->stop().exit_code == 1);
}

TEST_CASE("a shared Redis stream queue across a reload; an entry it cannot read is left pending") {
  RedisServer redis;
  Setup setup(SharedSetup::daemon_yaml(redis, "host-a"),
              "concurrency: 1\ntimeout: 5s\n" + SharedSetup::shared_queue, "  HANG_MS: \"300\"\n");
  auto client = redis.client();
  // Not an invocation: written by something else.
  REQUIRE(client.command({"XADD", "async:slow", "*", "data", "hello"}).ok());
  auto a = setup.start();
  std::vector<std::string> ids;
  for (int n = 0; n < 6; ++n) {
    auto reply = http_request(a->http_port(), "POST", "/slow", "hang-" + std::to_string(n),
                              "X-Amz-Invocation-Type: Event\r\n");
    REQUIRE(reply.status == 202);
    ids.push_back(reply.header("x-amzn-requestid"));
  }
  REQUIRE(eventually([&] { return !recorded(setup.out).empty(); }, 10s));
  // A reload that rebuilds the reader and the writer while one invocation runs and others are
  // held: the new reader reads what the old one held, and nothing waits for claim_after.
  setup.dir.write("functions.d/slow.yaml",
                  "name: slow\nlibrary: " FAULT_RECORDER_LIB
                  "\nconcurrency: 1\ntimeout: 5s\n"
                  "async:\n  queue: { redis_stream: \"async:slow\", claim_after: 30s }\n"
                  "env:\n  RECORD_FILE: \"" +
                      setup.out + "\"\n  HANG_MS: \"300\"\n" +
                      "triggers:\n  - http: { path: /slow, methods: [POST] }\n");
  a->process().signal(SIGHUP);
  const bool done = eventually(
      [&] {
        (void)a->process().err();
        auto seen = recorded(setup.out);
        for (const std::string& id : ids) {
          if (seen.find(id) == seen.end()) {
            return false;
          }
        }
        return stream_length(redis) == 1;
      },
      20s, 50ms);
  CHECK(done);
  const std::string log = a->process().err();
  CHECK(log.find("reload: stopping asynchronous queue of slow") != std::string::npos);
  CHECK(log.find("is not serving") == std::string::npos);
  for (const std::string& id : ids) {
    CHECK(recorded(setup.out)[id] == 1);  // No kill: each ran once.
  }
  CHECK(log.find("is not an asynchronous invocation this daemon can read") != std::string::npos);
  auto metrics = http_request(a->admin_port(), "GET", "/metrics").body;
  CHECK(metric(metrics, R"(switchyard_async_unreadable_total{function="slow"})") >= 1);
  CHECK(a->stop().exit_code == 0);
  // Only the one it could not read is left, pending.
  CHECK(stream_length(redis) == 1);
  CHECK(stream_pending(redis) == 1);
}

// ---- A Kafka topic as the shared asynchronous queue (async.queue.kafka_topic) ----------------

namespace {

std::string kafka_daemon_yaml(KafkaMockCluster& cluster, const std::string& instance,
                              const std::string& shutdown_timeout = "2s") {
  return "instance: " + instance + "\nkafka:\n  brokers: \"" + cluster.bootstraps() +
         "\"\n  properties:\n"
         // A killed member leaves the group quickly, so that tests do not wait 45s.
         "    session.timeout.ms: \"6000\"\n"
         "    heartbeat.interval.ms: \"500\"\n"
         "    auto.commit.interval.ms: \"200\"\n"
         "limits: { shutdown_timeout: " +
         shutdown_timeout + " }\n";
}

// Whether the group has committed every record of the queue's two partitions (one that never
// had a record has no commit).
bool all_committed(KafkaMockCluster& cluster) {
  auto committed = cluster.committed("switchyard-async.async.slow", "async.slow", 2);
  auto ends = cluster.end_offsets("async.slow", 2);
  if (committed.size() != 2 || ends.size() != 2) {
    return false;
  }
  for (auto [partition, end] : ends) {
    if (end < 0 || (end > 0 && committed[partition] != end)) {
      return false;
    }
  }
  return true;
}

}  // namespace

TEST_CASE("a shared Kafka topic queue: what a daemon killed with -9 accepted runs on another") {
  KafkaMockCluster cluster;
  REQUIRE(cluster.ok());
  cluster.create_topic("async.slow", 2);
  const std::string function =
      "concurrency: 2\ntimeout: 5s\nasync:\n  queue: { kafka_topic: async.slow }\n";
  Setup a(kafka_daemon_yaml(cluster, "host-a"), function, "  HANG_MS: \"100\"\n");
  Setup b(kafka_daemon_yaml(cluster, "host-b"), function, "  HANG_MS: \"100\"\n");
  std::map<std::string, std::string> accepted;
  {
    auto daemon = a.start();
    for (int n = 0; n < 30; ++n) {
      const std::string data = "hang-" + std::to_string(n);
      HttpReply reply = n % 2 == 0 ? http_request(daemon->http_port(), "POST", "/slow", data,
                                                  "X-Amz-Invocation-Type: Event\r\n")
                                   : http_request(daemon->admin_port(), "POST", invoke_path("slow"),
                                                  data, "X-Amz-Invocation-Type: Event\r\n");
      REQUIRE_MESSAGE(reply.status == 202, reply.body);
      accepted[reply.header("x-amzn-requestid")] = data;
    }
    REQUIRE(eventually(
        [&] {
          (void)daemon->process().err();
          return recorded(a.out).size() >= 3;
        },
        20s));
    daemon->process().signal(SIGKILL);
    (void)daemon->process().wait(10s);
  }
  const auto on_a = recorded(a.out);
  CHECK(on_a.size() < accepted.size());

  // host-b gets the partitions once host-a's session has timed out, and reads from the last
  // committed offsets.
  auto daemon = b.start();
  auto seen = [&] {
    auto ids = recorded(a.out);
    for (auto& [id, count] : recorded(b.out)) {
      ids[id] += count;
    }
    return ids;
  };
  const bool done = eventually(
      [&] {
        (void)daemon->process().err();
        auto ids = seen();
        for (auto& [id, data] : accepted) {
          if (ids.find(id) == ids.end()) {
            return false;
          }
        }
        return all_committed(cluster);
      },
      60s, 100ms);
  CHECK(done);
  auto ids = seen();
  std::size_t lost = 0, duplicated = 0;
  for (auto& [id, data] : accepted) {
    auto it = ids.find(id);
    if (it == ids.end()) {
      if (lost++ < 5) {
        FAIL_CHECK("accepted " << data << " (" << id << ") never ran");
      }
    } else if (it->second > 1) {
      ++duplicated;
      // At least once: what host-a ran and had not committed runs again on host-b.
      CHECK_MESSAGE(on_a.count(id) == 1, data << " ran " << it->second << " times");
    }
  }
  MESSAGE(accepted.size() << " accepted on host-a, " << on_a.size()
                          << " ran there before the kill; lost " << lost << ", " << duplicated
                          << " ran twice");
  CHECK(lost == 0);
  CHECK(daemon->stop().exit_code == 0);
}

TEST_CASE("a shared Kafka topic queue: retries put back with their attempts, a bound, 429") {
  KafkaMockCluster cluster;
  REQUIRE(cluster.ok());
  cluster.create_topic("async.slow", 2);
  cluster.create_topic("dead", 1);
  Setup setup(kafka_daemon_yaml(cluster, "host-a", "30s"),
              "concurrency: 1\ntimeout: 30s\n"
              "retry: { attempts: 3, backoff: 200ms, max_backoff: 200ms, jitter: 0 }\n"
              "dead_letter: { kafka_topic: dead }\n"
              "async:\n  queue: { events: 3, kafka_topic: async.slow }\n",
              "  HANG_MS: \"4000\"\n");
  auto daemon = setup.start();
  const std::string event = "X-Amz-Invocation-Type: Event\r\n";
  // Two fail three times each, then go to the dead letter; the attempts travel with them.
  std::vector<std::string> ids;
  for (int i = 0; i < 2; ++i) {
    auto reply = http_request(daemon->admin_port(), "POST", invoke_path("slow"),
                              "poison-" + std::to_string(i), event);
    REQUIRE(reply.status == 202);
    ids.push_back(reply.header("x-amzn-requestid"));
  }
  std::vector<ReadRecord> dead;
  CHECK(eventually(
      [&] {
        (void)daemon->process().err();
        dead = cluster.read_all("dead", 1, 2, 2000);
        return dead.size() == 2;
      },
      30s, 100ms));
  auto seen = recorded(setup.out);
  for (const std::string& id : ids) {
    CHECK_MESSAGE(seen[id] == 3, id);
  }
  CHECK(eventually([&] { return all_committed(cluster); }, 20s, 200ms));
  // The bound counts the group's lag as last measured (every second).
  REQUIRE(eventually(
      [&] {
        auto functions = http_request(daemon->admin_port(), "GET", "/functions").body;
        return functions.find(R"("async":{"queued":0,)") != std::string::npos;
      },
      10s));

  // Three hang (one runs, two wait): the group's lag is 3, the bound; the next is refused.
  for (int i = 0; i < 3; ++i) {
    REQUIRE(http_request(daemon->http_port(), "POST", "/slow", "hang-" + std::to_string(i), event)
                .status == 202);
  }
  // Read and running (the group's lag does not drop while they are unfinished).
  REQUIRE(eventually(
      [&] {
        for (const std::string& line : file_lines(setup.out)) {
          if (line.rfind("hang-", 0) == 0) {
            return true;
          }
        }
        return false;
      },
      10s));
  REQUIRE(eventually(
      [&] {
        auto functions = http_request(daemon->admin_port(), "GET", "/functions").body;
        return functions.find(R"("async":{"queued":3,)") != std::string::npos;
      },
      10s));
  auto full = http_request(daemon->admin_port(), "POST", invoke_path("slow"), "hang-4", event);
  CHECK(full.status == 429);
  CHECK(full.header("x-amzn-errortype") == "TooManyRequestsException");
  auto functions = http_request(daemon->admin_port(), "GET", "/functions").body;
  CHECK(functions.find(R"("kafka_topic":"async.slow")") != std::string::npos);
  // A stop drains what the reader handed over (it reads only as far as the function can take);
  // what it had not is still in the topic, uncommitted, and the next start runs it: all three
  // run once, and are committed.
  auto hangs = [&] {
    auto lines = file_lines(setup.out);
    return std::count_if(lines.begin(), lines.end(),
                         [](const std::string& line) { return line.rfind("hang-", 0) == 0; });
  };
  CHECK(daemon->stop().exit_code == 0);
  MESSAGE("run in the stop's drain: " << hangs() << " of 3");
  daemon.reset();
  auto again = setup.start();
  CHECK(eventually([&] { return hangs() >= 3 && all_committed(cluster); }, 30s, 200ms));
  CHECK(again->stop().exit_code == 0);
  CHECK(hangs() == 3);
}
