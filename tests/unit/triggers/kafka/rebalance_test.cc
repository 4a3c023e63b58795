#include "triggers/kafka/rebalance.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tests/unit/triggers/kafka/partition_driver.h"

using namespace switchyard;
using namespace switchyard::triggers::kafka;
using switchyard::triggers::kafka::testing::PartitionDriver;
using Order = scheduler::Dispatcher::RunOrder;

namespace {

const std::string kTopic = "orders";

PartitionListHolder list_of(const std::vector<std::int32_t>& ids) {
  PartitionListHolder list(rd_kafka_topic_partition_list_new(static_cast<int>(ids.size())));
  for (std::int32_t id : ids) {
    rd_kafka_topic_partition_list_add(list.get(), kTopic.c_str(), id);
  }
  return list;
}

// Three partitions, 0 to 2, each with records 0..3 read and 0 and 1 running.
struct Assignment {
  Assignment() {
    for (auto* driver : {&p0, &p1, &p2}) {
      for (std::int64_t offset = 0; offset < 4; ++offset) {
        REQUIRE(driver->read(offset));
      }
      driver->dispatcher.room = 2;
      REQUIRE(driver->dispatch(Order::kIndependent) == 2u);
    }
    partitions = {{0, p0.shared}, {1, p1.shared}, {2, p2.shared}};
  }

  PartitionDriver p0{Ordering::kNone, 0};
  PartitionDriver p1{Ordering::kNone, 1};
  PartitionDriver p2{Ordering::kNone, 2};
  PartitionMap partitions;
};

}  // namespace

TEST_CASE("a revoke stops the revoked partitions at once and leaves the others alone") {
  Assignment a;
  PendingRevoke revoke;
  CHECK(revoke.state() == RebalanceState::kSteady);

  // 5 is not this member's: librdkafka may name partitions the trigger never saw.
  revoke.begin(list_of({0, 2, 5}).get(), /*lost=*/false, a.partitions);
  CHECK(revoke.state() == RebalanceState::kRevoking);
  CHECK(revoke.ids() == std::vector<std::int32_t>{0, 2, 5});
  CHECK_FALSE(revoke.lost());
  CHECK(a.p0.partition.state() == PartitionState::kRevoking);
  CHECK(a.p1.partition.state() == PartitionState::kAssigned);
  CHECK(a.p2.partition.state() == PartitionState::kRevoking);

  // Their buffered records are let go and nothing more of them is read or dispatched.
  CHECK(a.p0.partition.buffer.buffered() == 0);
  CHECK_FALSE(a.p0.read(4));
  CHECK_FALSE(a.p0.dispatch(Order::kIndependent).has_value());
  CHECK(a.p1.dispatch(Order::kIndependent) == 2u);  // The kept partition goes on.
}

TEST_CASE("a revoke waits for the revoked partitions' records in the scheduler, and only theirs") {
  Assignment a;
  PendingRevoke revoke;
  revoke.begin(list_of({0, 1}).get(), /*lost=*/false, a.partitions);
  CHECK(revoke.in_flight(a.partitions) == 4);

  REQUIRE(a.p0.answer(0, testing::succeeded()) == Settlement::kFinished);
  REQUIRE(a.p0.answer(1, testing::not_run()) == Settlement::kAbandoned);
  REQUIRE(a.p2.answer(0, testing::succeeded()) == Settlement::kFinished);  // Not revoked.
  CHECK(revoke.in_flight(a.partitions) == 2);
  REQUIRE(a.p1.answer(1, testing::failed()) == Settlement::kAbandoned);
  REQUIRE(a.p1.answer(0, testing::succeeded()) == Settlement::kFinished);
  CHECK(revoke.in_flight(a.partitions) == 0);

  // What the revoke then commits: each revoked partition up to its lowest unfinished record.
  PartitionListHolder commits = commit_list(kTopic, a.partitions, revoke.ids());
  std::map<std::int32_t, std::int64_t> offsets;
  for (int i = 0; i < commits->cnt; ++i) {
    offsets[commits->elems[i].partition] = commits->elems[i].offset;
  }
  CHECK(offsets == std::map<std::int32_t, std::int64_t>{{0, 1}, {1, 1}});

  PartitionListHolder unassign = revoke.finish();
  CHECK(revoke.state() == RebalanceState::kSteady);
  REQUIRE(unassign);
  CHECK(unassign->cnt == 2);
  CHECK(revoke.ids() == std::vector<std::int32_t>{0, 1});  // For the trigger to drop them.
}

TEST_CASE("a lost assignment is revoked without commits") {
  Assignment a;
  PendingRevoke revoke;
  revoke.begin(list_of({1}).get(), /*lost=*/true, a.partitions);
  CHECK(revoke.lost());
  CHECK(a.p1.partition.state() == PartitionState::kRevoking);
  revoke.finish();
  CHECK(revoke.state() == RebalanceState::kSteady);
}

TEST_CASE(
    "records still running when the revoke wait is over are answered to a dropped "
    "partition") {
  Assignment a;
  PendingRevoke revoke;
  revoke.begin(list_of({2}).get(), /*lost=*/false, a.partitions);
  CHECK(revoke.in_flight(a.partitions) == 2);
  revoke.finish();  // kRevokeWait is over: the trigger drops the partition anyway.
  CHECK(a.p2.partition.drop());
  CHECK(a.p2.answer(0, testing::succeeded()) == Settlement::kPartitionDropped);
  CHECK(a.p2.answer(1, testing::failed()) == Settlement::kPartitionDropped);
  CHECK(a.p2.partition.in_scheduler == 0);
  CHECK(a.p2.dispatcher.running.empty());  // Nothing was dispatched again.
}

TEST_CASE("an abandoned revoke (the client is gone) returns to steady") {
  Assignment a;
  PendingRevoke revoke;
  revoke.begin(list_of({0}).get(), /*lost=*/false, a.partitions);
  revoke.abandon();
  CHECK(revoke.state() == RebalanceState::kSteady);
  CHECK(revoke.ids().empty());
  CHECK_FALSE(revoke.finish());
}
