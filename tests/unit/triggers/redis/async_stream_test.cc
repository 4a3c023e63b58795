// A shared asynchronous queue on a Redis stream (triggers/redis/async_stream.h): an invocation
// as an entry and back, and the writer's scripts against a real redis-server (the bound shared
// by every daemon, putting a failed attempt back, removing a settled entry, the usage).

#include "triggers/redis/async_stream.h"

#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include "integration/redis_server.h"
#include "support/run_until.h"
#include "triggers/redis/mapping.h"

using namespace switchyard;
using namespace std::chrono_literals;
using switchyard::testing::RedisServer;
using switchyard::testing::run_until;
using switchyard::triggers::redis::Reply;
using switchyard::triggers::redis::StreamEntry;
namespace redis = switchyard::triggers::redis;

namespace {

async::Record sample_record(const std::string& id, std::string data = "payload") {
  async::Record record;
  record.id = id;
  record.function = "thumbnail";
  record.attempts = 2;
  record.enqueued_at_ms = 1'700'000'000'123;
  record.next_attempt_at_ms = 1'700'000'004'567;
  record.event.id = id;
  record.event.source = "switchyard/http";
  record.event.type = "switchyard.http.request";
  record.event.attributes.push_back({"http.method", "POST"});
  record.event.data = std::move(data);
  return record;
}

// The event the stream trigger makes of an entry with these fields.
core::Event as_read(const std::vector<std::string>& fields) {
  StreamEntry entry;
  entry.id = "1700000000123-0";
  for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
    entry.fields.emplace_back(fields[i], fields[i + 1]);
  }
  return redis::stream_entry_event("redis://127.0.0.1:6379/0/async:thumbnail", "async:thumbnail",
                                   entry);
}

redis::SourceSettings settings_for(RedisServer& server, const std::string& key) {
  redis::SourceSettings settings;
  settings.function = "thumbnail";
  settings.consumer = "host-a";
  settings.endpoint = server.endpoint();
  settings.key = key;
  settings.connect_timeout = 2000ms;
  settings.command_timeout = 5000ms;
  return settings;
}

std::vector<std::string> entry_ids(redis::BlockingClient& client, const std::string& key) {
  auto reply = client.command({"XRANGE", key, "-", "+"});
  REQUIRE(reply.ok());
  std::vector<std::string> ids;
  for (const auto& entry : reply->elements) {
    ids.push_back(entry.elements.at(0).str);
  }
  return ids;
}

}  // namespace

TEST_CASE("an invocation becomes an entry and comes back whole from what the trigger reads") {
  const async::Record record = sample_record("req-1", std::string("bin\0ary\xff", 8));
  const std::vector<std::string> fields = redis::invocation_fields(record);
  auto back = redis::invocation_from_event(as_read(fields));
  REQUIRE_MESSAGE(back.ok(), back.error().message());
  CHECK(back->id == "req-1");
  CHECK(back->function == "thumbnail");
  CHECK(back->attempts == 2);
  CHECK(back->enqueued_at_ms == record.enqueued_at_ms);
  CHECK(back->next_attempt_at_ms == record.next_attempt_at_ms);
  CHECK(back->event.id == "req-1");
  CHECK(back->event.type == "switchyard.http.request");
  CHECK(back->event.data == record.event.data);
  REQUIRE(back->event.attributes.size() == 1);
  CHECK(back->event.attributes[0].value == "POST");
  // `size` is the bytes of `data`, as the bound counts them.
  CHECK(fields[10] == "size");
  CHECK(fields[11] == std::to_string(fields[13].size()));
  CHECK(back->size == fields[13].size());
}

TEST_CASE("an entry that is not an invocation is an error naming what is wrong") {
  std::vector<std::string> fields = redis::invocation_fields(sample_record("req-2"));
  SUBCASE("no request id") {
    fields[1] = "";
    CHECK(redis::invocation_from_event(as_read(fields)).error().message().find("request_id") !=
          std::string::npos);
  }
  SUBCASE("attempts not a number") {
    fields[5] = "two";
    CHECK(redis::invocation_from_event(as_read(fields)).error().message().find("attempts") !=
          std::string::npos);
  }
  SUBCASE("data not an event") {
    fields[13] = "[1,2]";
    CHECK(redis::invocation_from_event(as_read(fields)).error().message().find("data") !=
          std::string::npos);
  }
  SUBCASE("an entry someone else wrote") {
    CHECK(!redis::invocation_from_event(as_read({"data", "hello"})).ok());
  }
}

TEST_CASE("the writer: one bound for every daemon, put back in place, removed once settled") {
  RedisServer server;
  core::Loop loop;
  auto client = server.client();
  const std::string key = "async:thumbnail";
  auto writer = redis::make_async_writer(loop, settings_for(server, key));
  CHECK(writer->describe() == "redis stream async:thumbnail");

  auto add = [&](const async::Record& record, async::Limits limits) {
    // The first waits for the connection.
    std::optional<async::SharedQueue::Added> added;
    std::string message;
    writer->add(record, limits, [&](async::SharedQueue::Added result, const std::string& why) {
      added = result;
      message = why;
    });
    REQUIRE(run_until(loop, [&] { return added.has_value(); }));
    return std::make_pair(*added, message);
  };

  const std::size_t size = std::stoul(redis::invocation_fields(sample_record("a"))[11]);
  const async::Limits two{2, 1 << 20};
  CHECK(add(sample_record("a"), two).first == async::SharedQueue::Added::kAdded);
  CHECK(add(sample_record("b"), two).first == async::SharedQueue::Added::kAdded);
  auto full = add(sample_record("c"), two);
  CHECK(full.first == async::SharedQueue::Added::kFull);
  CHECK(full.second.find("2 invocation(s)") != std::string::npos);
  CHECK(client.command({"GET", redis::bytes_key(key)})->str == std::to_string(2 * size));
  // The bytes bound: a third would pass it.
  CHECK(add(sample_record("c"), async::Limits{10, 2 * size + size - 1}).first ==
        async::SharedQueue::Added::kFull);
  CHECK(entry_ids(client, key).size() == 2);

  // This daemon (consumer host-a) reads both; another (host-b) reads nothing yet.
  auto ids = entry_ids(client, key);
  const std::string group(redis::kAsyncGroup);
  REQUIRE(client.command({"XGROUP", "CREATE", key, group, "0"}).ok());
  REQUIRE(client.command({"XREADGROUP", "GROUP", group, "host-a", "STREAMS", key, ">"}).ok());
  auto pending = [&] {
    auto reply = client.command({"XPENDING", key, group});
    REQUIRE(reply.ok());
    return reply->elements.at(0).integer;
  };
  CHECK(pending() == 2);

  // A failed attempt goes back as a new entry, with its attempts; the old one is gone, and no
  // longer pending.
  async::Record retry = sample_record("a");
  retry.attempts = 3;
  auto requeue = [&](async::SharedQueue& by, const std::string& entry) {
    std::optional<core::Status> put_back;
    by.requeue(entry, retry, [&](core::Status status) { put_back = status; });
    REQUIRE(run_until(loop, [&] { return put_back.has_value(); }));
    return *put_back;
  };
  CHECK(requeue(*writer, ids[0]).ok());
  auto after = entry_ids(client, key);
  REQUIRE(after.size() == 2);
  CHECK(after[0] == ids[1]);
  CHECK(after[1] != ids[0]);
  auto moved = client.command({"XRANGE", key, after[1], after[1]});
  REQUIRE(moved.ok());
  CHECK(moved->elements.at(0).elements.at(1).elements.at(5).str == "3");
  CHECK(client.command({"GET", redis::bytes_key(key)})->str == std::to_string(2 * size));
  CHECK(pending() == 1);

  // The same entry again: it is gone, kNotFound.
  core::Status again = requeue(*writer, ids[0]);
  CHECK(again.error().code() == core::ErrorCode::kNotFound);
  // An entry another daemon holds is not this one's to put back: kNotFound, and nothing moves.
  auto other_settings = settings_for(server, key);
  other_settings.consumer = "host-b";
  auto other = redis::make_async_writer(loop, other_settings);
  CHECK(requeue(*other, ids[1]).error().code() == core::ErrorCode::kNotFound);
  CHECK(entry_ids(client, key) == after);

  // Settling is for the daemon that holds the entry: host-b's changes nothing; host-a's removes
  // the entry, its bytes and its pending place; again, nothing.
  auto settle = [&](const std::string& consumer) {
    auto reply = client.command(redis::settle_command(key, group, consumer, ids[1]));
    REQUIRE(reply.ok());
    REQUIRE_MESSAGE(!reply->is_error(), reply->str);
    return reply->integer;
  };
  CHECK(settle("host-b") == 0);
  CHECK(entry_ids(client, key) == after);
  CHECK(settle("host-a") == 1);
  CHECK(settle("host-a") == 0);
  CHECK(entry_ids(client, key) == std::vector<std::string>{after[1]});
  CHECK(client.command({"GET", redis::bytes_key(key)})->str == std::to_string(size));
  CHECK(pending() == 0);

  // The usage every daemon sees, refreshed every second.
  REQUIRE(run_until(
      loop, [&] { return writer->usage().events == 1; }, 5s));
  CHECK(writer->usage().bytes == size);
  CHECK(writer->usage().oldest_enqueued_at_ms == 1'700'000'000'123);
  CHECK(writer->idle());

  // A deleted stream leaves no bytes behind: the next add starts from nothing.
  REQUIRE(client.command({"DEL", key}).ok());
  CHECK(add(sample_record("d"), async::Limits{10, size}).first ==
        async::SharedQueue::Added::kAdded);
  CHECK(client.command({"GET", redis::bytes_key(key)})->str == std::to_string(size));
}
