// The async Redis connection on a real loop against a real redis-server.

#include "triggers/redis/connection.h"

#include <doctest/doctest.h>

#include <memory>
#include <optional>

#include "integration/redis_server.h"
#include "support/run_until.h"

using namespace switchyard;
using namespace switchyard::triggers::redis;
using switchyard::testing::run_until;
using namespace std::chrono_literals;

namespace {

ConnectionOptions options_for(int port, std::chrono::milliseconds command_timeout = 2000ms) {
  ConnectionOptions options;
  options.endpoint.host = "127.0.0.1";
  options.endpoint.port = port;
  options.connect_timeout = 500ms;
  options.command_timeout = command_timeout;
  options.name = "test connection";
  return options;
}

}  // namespace

TEST_CASE("connects, answers commands, and fails them when closed") {
  testing::RedisServer redis;
  core::Loop loop;
  core::MetricsRegistry metrics;
  auto& reconnects = metrics.counter("reconnects", "test");
  {
    Connection connection(loop, options_for(redis.port()), &reconnects);
    int ready = 0;
    connection.on_ready([&] { ++ready; });
    CHECK_FALSE(connection.send({"PING"}, [](core::Result<Reply>) {}));
    connection.start();
    REQUIRE(run_until(
        loop, [&] { return connection.ready(); }, 5s));
    CHECK(ready == 1);

    std::optional<core::Result<Reply>> pong;
    REQUIRE(connection.send({"PING"}, [&](core::Result<Reply> reply) { pong = std::move(reply); }));
    REQUIRE(run_until(
        loop, [&] { return pong.has_value(); }, 5s));
    REQUIRE(pong->ok());
    CHECK(pong->value().str == "PONG");

    // A blocked command is failed by close(), and nothing reconnects.
    std::optional<core::Result<Reply>> blocked;
    REQUIRE(connection.send(
        {"BLPOP", "nothing-here", "5"},
        [&](core::Result<Reply> reply) { blocked = std::move(reply); }, 5s));
    connection.close();
    REQUIRE(blocked.has_value());
    CHECK_FALSE(blocked->ok());
    CHECK_FALSE(connection.ready());
    CHECK_FALSE(run_until(
        loop, [&] { return connection.ready(); }, 300ms));
    CHECK(reconnects.value() == 0);
  }
  CHECK(run_until(
            loop, [] { return false; }, 50ms) == false);
}

TEST_CASE("a command without a reply times out, fails, and the connection comes back") {
  testing::RedisServer redis;
  core::Loop loop;
  core::MetricsRegistry metrics;
  auto& reconnects = metrics.counter("reconnects", "test");
  Connection connection(loop, options_for(redis.port(), 200ms), &reconnects);
  int ready = 0;
  int lost = 0;
  connection.on_ready([&] { ++ready; });
  connection.on_lost([&] { ++lost; });
  connection.start();
  REQUIRE(run_until(
      loop, [&] { return connection.ready(); }, 5s));

  std::optional<core::Result<Reply>> reply;
  auto sent_at = std::chrono::steady_clock::now();
  // BLPOP for 10s without telling the connection it blocks: it must give up after ~200ms.
  REQUIRE(connection.send({"BLPOP", "nothing-here", "10"},
                          [&](core::Result<Reply> result) { reply = std::move(result); }));
  REQUIRE(run_until(
      loop, [&] { return reply.has_value(); }, 5s));
  CHECK(std::chrono::steady_clock::now() - sent_at < 3s);
  REQUIRE_FALSE(reply->ok());
  CHECK_MESSAGE(reply->error().message().find("command_timeout") != std::string::npos,
                reply->error().message());
  CHECK(lost == 1);
  REQUIRE(run_until(
      loop, [&] { return ready == 2 && connection.ready(); }, 5s));
  CHECK(reconnects.value() == 1);
}

TEST_CASE("a redis restart: pending commands fail, the connection comes back by itself") {
  testing::RedisServer redis;
  core::Loop loop;
  Connection connection(loop, options_for(redis.port()));
  int lost = 0;
  connection.on_lost([&] { ++lost; });
  connection.start();
  REQUIRE(run_until(
      loop, [&] { return connection.ready(); }, 5s));
  std::optional<core::Result<Reply>> blocked;
  REQUIRE(connection.send(
      {"BLPOP", "nothing-here", "30"},
      [&](core::Result<Reply> reply) { blocked = std::move(reply); }, 30s));
  redis.restart();
  REQUIRE(run_until(
      loop, [&] { return blocked.has_value(); }, 10s));
  CHECK_FALSE(blocked->ok());
  CHECK(lost == 1);
  REQUIRE(run_until(
      loop, [&] { return connection.ready(); }, 10s));
  std::optional<core::Result<Reply>> pong;
  REQUIRE(connection.send({"PING"}, [&](core::Result<Reply> reply) { pong = std::move(reply); }));
  REQUIRE(run_until(
      loop, [&] { return pong.has_value(); }, 5s));
  CHECK(pong->ok());
}

TEST_CASE("nothing listening: never ready, retries with backoff, destroyable at any time") {
  core::Loop loop;
  int port = testing::free_port();
  int calls = 0;
  {
    Connection connection(loop, options_for(port));
    connection.on_ready([&] { ++calls; });
    connection.start();
    CHECK_FALSE(run_until(
        loop, [&] { return connection.ready(); }, 500ms));
    CHECK(calls == 0);
  }
  {
    // Destroyed with a command pending: its callback is never called.
    testing::RedisServer redis;
    Connection connection(loop, options_for(redis.port()));
    connection.start();
    REQUIRE(run_until(
        loop, [&] { return connection.ready(); }, 5s));
    REQUIRE(connection.send(
        {"BLPOP", "nothing-here", "5"}, [&](core::Result<Reply>) { ++calls; }, 5s));
  }
  CHECK_FALSE(run_until(
      loop, [&] { return calls > 0; }, 100ms));
}

TEST_CASE("a restarted Redis still loading its dataset: ready only once it has loaded") {
  // A restarted Redis accepts connections, AUTH and SELECT while it loads, and refuses every
  // other command with LOADING: a connection ready then would have its reads, acknowledgements
  // and give-backs refused.
  testing::RedisServerOptions server_options;
  server_options.slow_loading = true;
  testing::RedisServer redis(server_options);
  constexpr int kKeys = 2000;
  {
    auto client = redis.client();
    for (int first = 0; first < kKeys; first += 100) {
      std::vector<std::string> mset = {"MSET"};
      for (int i = first; i < first + 100; ++i) {
        mset.push_back("key:" + std::to_string(i));
        mset.push_back(std::to_string(i));
      }
      auto reply = client.command(mset);
      REQUIRE(reply.ok());
    }
  }
  redis.rewrite_aof();

  core::Loop loop;
  Connection connection(loop, options_for(redis.port()));
  // What a command sent as soon as the connection is ready gets.
  std::vector<core::Result<Reply>> first_replies;
  connection.on_ready([&] {
    connection.send({"DBSIZE"},
                    [&](core::Result<Reply> reply) { first_replies.push_back(std::move(reply)); });
  });
  connection.start();
  REQUIRE(run_until(
      loop, [&] { return first_replies.size() == 1; }, 5s));

  redis.restart(SIGTERM, testing::RedisServer::Wait::kAnswering);
  // Otherwise this test would show nothing.
  REQUIRE_MESSAGE(redis.loading(), "redis-server loaded its dataset too fast for this test");
  REQUIRE(run_until(
      loop, [&] { return first_replies.size() == 2; }, 30s));
  CHECK_FALSE(redis.loading());
  for (const auto& reply : first_replies) {
    REQUIRE(reply.ok());
    CHECK_MESSAGE(reply->type == Reply::Type::kInteger, reply->str);
    CHECK(reply->integer == kKeys);
  }
}
