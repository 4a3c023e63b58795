#include "triggers/kafka/held_records.h"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "tests/unit/triggers/kafka/partition_driver.h"

using namespace switchyard;
using namespace switchyard::triggers::kafka;
using std::chrono::milliseconds;
using switchyard::triggers::kafka::testing::PartitionDriver;

namespace {

std::vector<core::Event> events_at(std::initializer_list<std::uint64_t> offsets) {
  std::vector<core::Event> events;
  for (std::uint64_t offset : offsets) {
    core::Event event;
    event.source_tag = offset;
    events.push_back(std::move(event));
  }
  return events;
}

// What redispatch() offered: (partition id, first offset) per call.
struct Offered {
  std::int32_t partition;
  std::uint64_t offset;
  bool operator==(const Offered&) const = default;
};

}  // namespace

TEST_CASE("held records go again when due, oldest first, and count as in flight until then") {
  PartitionDriver a(Ordering::kNone, 0);
  PartitionDriver b(Ordering::kNone, 1);
  HeldRecords held;
  CHECK_FALSE(held.next_due_ms().has_value());
  held.hold(a.shared, events_at({3}), 100, milliseconds(0));         // Refused: at once.
  held.hold(b.shared, events_at({7, 8}), 2000, milliseconds(1000));  // Failed: after a pause.
  held.hold(a.shared, events_at({4}), 100, milliseconds(0));
  CHECK(a.partition.held == 2);
  CHECK(b.partition.held == 2);
  CHECK(held.next_due_ms() == 100u);

  std::vector<Offered> offered;
  auto dispatch = [&offered](const std::shared_ptr<Partition>& partition,
                             std::vector<core::Event> events, milliseconds) {
    offered.push_back({partition->id, events.front().source_tag});
    return true;
  };
  CHECK(held.redispatch(500, 10, dispatch) == 2);
  CHECK(offered == std::vector<Offered>{{0, 3}, {0, 4}});
  CHECK(a.partition.held == 0);
  CHECK(b.partition.held == 2);  // Not due yet: still held, still in flight.
  CHECK(held.next_due_ms() == 2000u);

  CHECK(held.redispatch(2000, 10, dispatch) == 1);
  CHECK(offered.back() == Offered{1, 7});
  CHECK(b.partition.held == 0);
  CHECK(held.empty());
}

TEST_CASE("held records of a revoked partition are never dispatched again") {
  PartitionDriver kept(Ordering::kNone, 0);
  PartitionDriver revoked(Ordering::kNone, 1);
  HeldRecords held;
  held.hold(revoked.shared, events_at({1}), 0, milliseconds(0));
  held.hold(kept.shared, events_at({2}), 0, milliseconds(0));
  held.hold(revoked.shared, events_at({5}), 0, milliseconds(0));
  revoked.partition.start_revoke();

  std::vector<Offered> offered;
  CHECK(held.redispatch(10, 10,
                        [&offered](const std::shared_ptr<Partition>& partition,
                                   std::vector<core::Event> events, milliseconds) {
                          offered.push_back({partition->id, events.front().source_tag});
                          return true;
                        }) == 1);
  CHECK(offered == std::vector<Offered>{{0, 2}});
  CHECK(held.empty());  // The revoked partition's records were dropped on the way.
}

TEST_CASE("a revoke drops the held records of partitions no longer assigned") {
  PartitionDriver kept(Ordering::kNone, 0);
  HeldRecords held;
  {
    PartitionDriver gone(Ordering::kNone, 1);
    held.hold(gone.shared, events_at({1}), 0, milliseconds(0));
    held.hold(kept.shared, events_at({2}), 0, milliseconds(0));
    PartitionDriver revoked(Ordering::kNone, 2);
    held.hold(revoked.shared, events_at({3}), 0, milliseconds(0));
    revoked.partition.start_revoke();
    held.drop_unassigned();
    CHECK(held.size() == 2);  // `gone` still lives here.
  }
  held.drop_unassigned();  // Its partition is freed now.
  CHECK(held.size() == 1);
}

TEST_CASE("a refusal ends the round, and no more than the capacity is offered") {
  PartitionDriver driver(Ordering::kNone, 0);
  HeldRecords held;
  for (std::uint64_t offset = 0; offset < 4; ++offset) {
    held.hold(driver.shared, events_at({offset}), 0, milliseconds(0));
  }
  std::vector<std::uint64_t> offered;
  // A refused record is held again by the dispatcher's caller (the trigger's hold()).
  auto refuse_second = [&](const std::shared_ptr<Partition>& partition,
                           std::vector<core::Event> events, milliseconds delay) {
    offered.push_back(events.front().source_tag);
    if (offered.size() == 2) {
      held.hold(partition, std::move(events), 0, delay);
      return false;
    }
    return true;
  };
  CHECK(held.redispatch(0, 10, refuse_second) == 2);
  CHECK(offered == std::vector<std::uint64_t>{0, 1});
  CHECK(driver.partition.held == 3);  // 2 and 3 waited; 1 is held again.

  offered.clear();
  CHECK(held.redispatch(
            0, 1,
            [&](const std::shared_ptr<Partition>&, std::vector<core::Event> events, milliseconds) {
              offered.push_back(events.front().source_tag);
              return true;
            }) == 1);
  CHECK(offered == std::vector<std::uint64_t>{2});
}
