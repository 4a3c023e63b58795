#include "triggers/kafka/ordering.h"

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

using namespace switchyard::triggers::kafka;

namespace {

std::optional<std::string> key(const char* name) {
  return std::string(name);
}

// An OrderedBuffer<int> that remembers the lane push() gave each record, as the Kafka trigger
// does (with the record's offset), so that a test finishes records by value.
struct Buffer {
  explicit Buffer(Ordering ordering) : buffer(ordering) {}
  void push(std::optional<std::string> key, int item) { lanes[item] = buffer.push(key, item); }
  std::vector<int> take_ready(std::size_t max) { return buffer.take_ready(max); }
  void finish(int item) { buffer.finish(lanes.at(item)); }
  std::size_t buffered() const { return buffer.buffered(); }
  std::size_t in_flight() const { return buffer.in_flight(); }
  std::size_t lanes_held() const { return buffer.lanes(); }
  void clear() { buffer.clear(); }

  OrderedBuffer<int> buffer;
  std::map<int, OrderedBuffer<int>::LaneId> lanes;
};

}  // namespace

TEST_CASE("partition ordering: one record or batch in flight, in offset order") {
  Buffer buffer(Ordering::kPartition);
  for (int i = 0; i < 5; ++i) {
    buffer.push(key("a"), i);
  }
  CHECK(buffer.take_ready(1) == std::vector<int>{0});
  CHECK(buffer.take_ready(1).empty());  // 0 is in flight.
  buffer.finish(0);
  CHECK(buffer.take_ready(3) == std::vector<int>{1, 2, 3});
  CHECK(buffer.take_ready(3).empty());
  buffer.finish(1);
  buffer.finish(2);
  buffer.finish(3);
  CHECK(buffer.take_ready(3) == std::vector<int>{4});
  CHECK(buffer.buffered() == 0);
}

TEST_CASE("key ordering: in order per key, keys in parallel, keyless records in their own lane") {
  Buffer buffer(Ordering::kKey);
  buffer.push(key("a"), 0);
  buffer.push(key("b"), 1);
  buffer.push(key("a"), 2);
  buffer.push(std::nullopt, 3);
  buffer.push(std::nullopt, 4);
  buffer.push(key("c"), 5);
  buffer.push(key(""), 6);  // An empty key is a key, not "no key".
  std::vector<int> first = buffer.take_ready(10);
  CHECK(first == std::vector<int>{0, 1, 3, 5, 6});
  CHECK(buffer.take_ready(10).empty());  // Every lane is busy.
  buffer.finish(1);
  CHECK(buffer.take_ready(10).empty());  // b has nothing more.
  buffer.finish(0);
  CHECK(buffer.take_ready(10) == std::vector<int>{2});
  buffer.finish(3);
  CHECK(buffer.take_ready(10) == std::vector<int>{4});
  CHECK(buffer.in_flight() == 4);  // 2, 4, 5 and 6.
  CHECK(buffer.buffered() == 0);
}

TEST_CASE("key ordering: a batch takes at most one record per key") {
  Buffer buffer(Ordering::kKey);
  for (int i = 0; i < 6; ++i) {
    buffer.push(key(i % 2 == 0 ? "even" : "odd"), i);
  }
  CHECK(buffer.take_ready(10) == std::vector<int>{0, 1});
  buffer.finish(1);
  buffer.finish(0);
  CHECK(buffer.take_ready(1) == std::vector<int>{3});
  CHECK(buffer.take_ready(1) == std::vector<int>{2});
}

TEST_CASE("key ordering: idle lanes are kept for their keys, but only so many") {
  Buffer buffer(Ordering::kKey);
  // 5,000 keys seen once each: once their records finish, at most 1,024 idle lanes stay.
  for (int i = 0; i < 5000; ++i) {
    buffer.push(std::to_string(i), i);
  }
  CHECK(buffer.lanes_held() == 5000);
  std::vector<int> all = buffer.take_ready(5000);
  REQUIRE(all.size() == 5000);
  for (int i = 0; i < 5000; ++i) {
    buffer.finish(i);
  }
  CHECK(buffer.in_flight() == 0);
  CHECK(buffer.lanes_held() == 1024);
  // Lanes freed are reused for new keys.
  const auto lane = buffer.buffer.push(key("new"), 0);
  CHECK(lane < 5000);
  CHECK(buffer.take_ready(10) == std::vector<int>{0});
  buffer.buffer.finish(lane);
  CHECK(buffer.in_flight() == 0);
  // A finish for a record that is not in flight changes nothing.
  buffer.push(key("a"), 5000);
  buffer.finish(5000);
  CHECK(buffer.take_ready(10) == std::vector<int>{5000});
  CHECK(buffer.take_ready(10).empty());
  // Record slots are reused: many records of a few keys keep their order.
  buffer.finish(5000);
  std::vector<int> seen;
  for (int round = 0; round < 100; ++round) {
    for (int k = 0; k < 3; ++k) {
      buffer.push(std::to_string(k), round * 3 + k);
    }
    for (int v : buffer.take_ready(10)) {
      seen.push_back(v);
      buffer.finish(v);
    }
  }
  while (buffer.buffered() > 0) {
    for (int v : buffer.take_ready(10)) {
      seen.push_back(v);
      buffer.finish(v);
    }
  }
  REQUIRE(seen.size() == 300);
  std::vector<int> last(3, -1);
  for (int v : seen) {
    CHECK(v > last[v % 3]);
    last[v % 3] = v;
  }
}

TEST_CASE("none ordering: anything goes as capacity allows; clear() drops only what is buffered") {
  Buffer buffer(Ordering::kNone);
  for (int i = 0; i < 4; ++i) {
    buffer.push(key("same"), i);
  }
  CHECK(buffer.take_ready(2) == std::vector<int>{0, 1});
  CHECK(buffer.take_ready(1) == std::vector<int>{2});
  CHECK(buffer.in_flight() == 3);
  buffer.clear();
  CHECK(buffer.buffered() == 0);
  CHECK(buffer.in_flight() == 3);
  CHECK(buffer.take_ready(5).empty());
}

TEST_CASE("ordering names") {
  CHECK(parse_ordering("partition") == Ordering::kPartition);
  CHECK(parse_ordering("key") == Ordering::kKey);
  CHECK(parse_ordering("none") == Ordering::kNone);
}
