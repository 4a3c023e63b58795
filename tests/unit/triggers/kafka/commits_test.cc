#include "triggers/kafka/commits.h"

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

// The partition -> offset entries of a commit list.
std::map<std::int32_t, std::int64_t> entries(const PartitionListHolder& list) {
  std::map<std::int32_t, std::int64_t> out;
  for (int i = 0; i < list->cnt; ++i) {
    CHECK(std::string(list->elems[i].topic) == kTopic);
    out[list->elems[i].partition] = list->elems[i].offset;
  }
  return out;
}

}  // namespace

TEST_CASE(
    "the commit list offers each partition's offset only up to its lowest unfinished "
    "record, and only when it moved") {
  PartitionDriver running(Ordering::kNone, 0);  // 0..3 read; 0, 1 and 3 done, 2 still runs.
  for (std::int64_t offset = 0; offset < 4; ++offset) {
    REQUIRE(running.read(offset));
  }
  REQUIRE(running.dispatch(Order::kIndependent) == 4u);
  for (std::uint64_t offset : {0, 1, 3}) {
    REQUIRE(running.answer(offset, testing::succeeded()) == Settlement::kFinished);
  }
  PartitionDriver confirmed(Ordering::kPartition, 1);  // 7 done and its commit confirmed.
  REQUIRE(confirmed.read(7));
  REQUIRE(confirmed.dispatch(Order::kSequence) == 1u);
  REQUIRE(confirmed.answer(7, testing::succeeded()) == Settlement::kFinished);
  confirmed.partition.confirm_commit(8);
  PartitionDriver idle(Ordering::kKey, 2);  // Nothing read.

  PartitionMap partitions{{0, running.shared}, {1, confirmed.shared}, {2, idle.shared}};
  CHECK(entries(commit_list(kTopic, partitions)) == std::map<std::int32_t, std::int64_t>{{0, 2}});

  // Once 2 is done, the whole run up to 4 may be committed.
  REQUIRE(running.answer(2, testing::succeeded()) == Settlement::kFinished);
  CHECK(entries(commit_list(kTopic, partitions)) == std::map<std::int32_t, std::int64_t>{{0, 4}});

  // Only the partitions asked for (a revoke commits its own).
  const std::vector<std::int32_t> ids{1, 2};
  CHECK(commit_list(kTopic, partitions, ids)->cnt == 0);
}

TEST_CASE("confirmed commits are recorded; failed entries and gone partitions are not") {
  PartitionDriver first(Ordering::kNone, 0);
  PartitionDriver second(Ordering::kNone, 1);
  for (auto* driver : {&first, &second}) {
    REQUIRE(driver->read(0));
    REQUIRE(driver->dispatch(Order::kIndependent) == 1u);
    REQUIRE(driver->answer(0, testing::succeeded()) == Settlement::kFinished);
  }
  PartitionMap partitions{{0, first.shared}, {1, second.shared}};
  PartitionListHolder answer(rd_kafka_topic_partition_list_new(3));
  rd_kafka_topic_partition_list_add(answer.get(), kTopic.c_str(), 0)->offset = 1;
  auto* refused = rd_kafka_topic_partition_list_add(answer.get(), kTopic.c_str(), 1);
  refused->offset = 1;
  refused->err = RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION;
  rd_kafka_topic_partition_list_add(answer.get(), kTopic.c_str(), 9)->offset = 5;  // Revoked.

  CHECK(record_commits(answer.get(), partitions));
  CHECK(first.partition.committed == 1);
  CHECK(second.partition.committed == -1);
  // What is confirmed is not committed again; what failed is.
  CHECK(entries(commit_list(kTopic, partitions)) == std::map<std::int32_t, std::int64_t>{{1, 1}});

  PartitionListHolder failed(rd_kafka_topic_partition_list_new(1));
  auto* entry = rd_kafka_topic_partition_list_add(failed.get(), kTopic.c_str(), 1);
  entry->offset = 1;
  entry->err = RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS;
  CHECK_FALSE(record_commits(failed.get(), partitions));
}

TEST_CASE(
    "a revoke commits a revoked partition's finished records, never past an unfinished "
    "one") {
  PartitionDriver driver(Ordering::kKey, 4);
  for (std::int64_t offset = 0; offset < 5; ++offset) {
    REQUIRE(driver.read(offset, offset % 2 == 0 ? "even" : "odd"));
  }
  REQUIRE(driver.dispatch(Order::kIndependent) == 2u);  // One per key: 0 and 1.
  REQUIRE(driver.answer(0, testing::succeeded()) == Settlement::kFinished);
  driver.partition.start_revoke();
  PartitionMap partitions{{4, driver.shared}};
  const std::vector<std::int32_t> revoked{4};
  CHECK(entries(commit_list(kTopic, partitions, revoked)) ==
        std::map<std::int32_t, std::int64_t>{{4, 1}});
  // 1 fails while its partition is revoked: it is not dispatched again, and stays uncommitted.
  CHECK(driver.answer(1, testing::failed()) == Settlement::kAbandoned);
  CHECK(driver.dispatcher.running.empty());
  CHECK(entries(commit_list(kTopic, partitions, revoked)) ==
        std::map<std::int32_t, std::int64_t>{{4, 1}});
}

TEST_CASE("the commit gate: held by a rebalance, open again on assignment or after the hold") {
  CommitGate gate;
  CHECK(gate.state() == CommitGateState::kOpen);
  CHECK(gate.allows(0, /*cooperative=*/true));

  const std::uint64_t hold = static_cast<std::uint64_t>(kCommitHold.count());
  gate.hold(1000);
  CHECK(gate.state() == CommitGateState::kHeld);
  CHECK_FALSE(gate.allows(1000, true));
  CHECK_FALSE(gate.allows(1000 + hold - 1, false));
  CHECK(gate.allows(1000 + hold, true));  // The hold is over: the gate opens.
  CHECK(gate.state() == CommitGateState::kOpen);

  gate.hold(5000);
  gate.open();  // Partitions were assigned: this member is in the new generation.
  CHECK(gate.state() == CommitGateState::kOpen);
  CHECK(gate.allows(5001, true));
}

TEST_CASE("the commit gate: a cooperative member that is rejoining does not commit") {
  CommitGate gate;
  CHECK(gate.set_rejoining(true));        // Just started: worth a log line.
  CHECK_FALSE(gate.set_rejoining(true));  // Still.
  CHECK_FALSE(gate.allows(0, /*cooperative=*/true));
  CHECK(gate.allows(0, /*cooperative=*/false));  // An eager member commits before it revokes.
  CHECK_FALSE(gate.set_rejoining(false));
  CHECK(gate.allows(0, true));
}

TEST_CASE("the join state is read from librdkafka's statistics") {
  CHECK(join_state_of(R"({"name":"c","cgrp":{"state":"up","join_state":"steady"}})") == "steady");
  CHECK(join_state_of(R"({"cgrp":{"join_state":"wait-join"}})") == "wait-join");
  CHECK_FALSE(join_state_of(R"({"name":"c"})").has_value());
  CHECK_FALSE(join_state_of(R"({"cgrp":{"join_state":3}})").has_value());
  CHECK_FALSE(join_state_of("not json").has_value());
  CHECK_FALSE(is_rejoining("steady"));
  CHECK_FALSE(is_rejoining("init"));
  CHECK(is_rejoining("wait-join"));
  CHECK(is_rejoining("wait-metadata"));
}
