#include "triggers/redis/reply.h"

#include <doctest/doctest.h>

#include "triggers/redis/connection.h"

using namespace switchyard::triggers::redis;

namespace {

Reply entry(const std::string& id, std::vector<std::string> fields) {
  std::vector<Reply> values;
  for (auto& field : fields) {
    values.push_back(Reply::string(field));
  }
  return Reply::array({Reply::string(id), Reply::array(std::move(values))});
}

}  // namespace

TEST_CASE("XREADGROUP replies: entries, a nil timeout, deleted pending entries, errors") {
  auto none = parse_xreadgroup(Reply::nil());
  REQUIRE(none.ok());
  CHECK(none->empty());

  Reply reply = Reply::array(
      {Reply::array({Reply::string("jobs"),
                     Reply::array({entry("1-0", {"data", "a"}), entry("2-0", {"x", "1", "y", "2"}),
                                   Reply::array({Reply::string("3-0"), Reply::nil()})})})});
  auto entries = parse_xreadgroup(reply);
  REQUIRE(entries.ok());
  REQUIRE(entries->size() == 3);
  CHECK(entries->at(0).id == "1-0");
  CHECK(entries->at(0).fields.at(0).second == "a");
  CHECK(entries->at(1).fields.size() == 2);
  CHECK(entries->at(2).deleted);

  auto error = parse_xreadgroup(Reply::error("NOGROUP No such key 'jobs' or consumer group"));
  REQUIRE_FALSE(error.ok());
  CHECK(error.error().message().find("NOGROUP") != std::string::npos);
  CHECK(Reply::error("NOGROUP No such key").error_code() == "NOGROUP");

  auto odd = parse_xreadgroup(
      Reply::array({Reply::array({Reply::string("jobs"), Reply::array({entry("1-0", {"a"})})})}));
  CHECK_FALSE(odd.ok());
}

TEST_CASE("XAUTOCLAIM replies (Redis 7): cursor, entries, deleted ids") {
  Reply reply = Reply::array({Reply::string("5-0"), Reply::array({entry("4-0", {"data", "z"})}),
                              Reply::array({Reply::string("3-0")})});
  auto claim = parse_xautoclaim(reply);
  REQUIRE(claim.ok());
  CHECK(claim->cursor == "5-0");
  REQUIRE(claim->entries.size() == 1);
  CHECK(claim->entries[0].id == "4-0");
  REQUIRE(claim->deleted.size() == 1);
  CHECK(claim->deleted[0] == "3-0");
  CHECK_FALSE(parse_xautoclaim(Reply::string("nope")).ok());
}

TEST_CASE("XINFO GROUPS: the lag of one group") {
  auto group = [](const std::string& name, Reply lag) {
    return Reply::array({Reply::string("name"), Reply::string(name), Reply::string("consumers"),
                         Reply::integer_reply(1), Reply::string("lag"), std::move(lag)});
  };
  Reply reply = Reply::array(
      {group("other", Reply::integer_reply(9)), group("switchyard", Reply::integer_reply(42))});
  CHECK(parse_group_lag(reply, "switchyard") == 42);
  CHECK(parse_group_lag(reply, "other") == 9);
  CHECK_FALSE(parse_group_lag(reply, "missing").has_value());
  CHECK_FALSE(parse_group_lag(Reply::array({group("g", Reply::nil())}), "g").has_value());
}

TEST_CASE("stream ids carry their time") {
  CHECK(stream_id_ms("1700000000123-7") == 1700000000123LL);
  CHECK(stream_id_ms("5") == 5);
  CHECK_FALSE(stream_id_ms("abc-1").has_value());
}

TEST_CASE("reconnection backoff doubles from 100ms to a 5s cap, with jitter") {
  using std::chrono::milliseconds;
  CHECK(Connection::backoff(0, 1.0) == milliseconds(100));
  CHECK(Connection::backoff(0, 0.0) == milliseconds(50));
  CHECK(Connection::backoff(3, 1.0) == milliseconds(800));
  CHECK(Connection::backoff(10, 1.0) == milliseconds(5000));
  CHECK(Connection::backoff(100, 0.0) == milliseconds(2500));
}
