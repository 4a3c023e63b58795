#include "triggers/kafka/partition.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "tests/unit/triggers/kafka/partition_driver.h"

using namespace switchyard;
using namespace switchyard::triggers::kafka;
using switchyard::triggers::kafka::testing::kCost;
using switchyard::triggers::kafka::testing::PartitionDriver;
using Order = scheduler::Dispatcher::RunOrder;

namespace {

std::vector<std::uint64_t> offsets_of(const std::deque<core::Event>& events) {
  std::vector<std::uint64_t> offsets;
  for (const auto& event : events) {
    offsets.push_back(event.source_tag);
  }
  return offsets;
}

}  // namespace

TEST_CASE("a partition goes from assigned to revoking to dropped") {
  Partition partition(3, Ordering::kPartition);
  CHECK(partition.state() == PartitionState::kAssigned);
  CHECK(partition.assigned());

  partition.start_revoke();
  CHECK(partition.state() == PartitionState::kRevoking);
  CHECK_FALSE(partition.assigned());

  CHECK_FALSE(partition.drop());  // Nothing of it in the scheduler: it may go at once.
  CHECK(partition.state() == PartitionState::kDropped);

  partition.start_revoke();  // A dropped partition is never revoked again.
  CHECK(partition.state() == PartitionState::kDropped);
}

TEST_CASE("an assigned partition may be dropped directly, kept while records of it run") {
  PartitionDriver h(Ordering::kNone);
  REQUIRE(h.read(0));
  REQUIRE(h.dispatch(Order::kIndependent) == 1u);
  CHECK(h.partition.drop());  // Its record is in the scheduler: the caller keeps it.
  CHECK(h.partition.state() == PartitionState::kDropped);
  CHECK(h.answer(0, testing::succeeded()) == Settlement::kPartitionDropped);
  CHECK(h.partition.in_scheduler == 0);
}

TEST_CASE("no offset is committed past a record that is still in the scheduler") {
  PartitionDriver h(Ordering::kNone);
  for (std::int64_t offset = 10; offset < 15; ++offset) {
    REQUIRE(h.read(offset));
  }
  REQUIRE(h.dispatch(Order::kIndependent) == 5u);
  CHECK(h.partition.in_scheduler == 5);
  CHECK(h.partition.commit_offset() == 10);  // The next record to read is 10: nothing is done.

  for (std::uint64_t offset : {11, 12, 14, 13}) {
    CHECK(h.answer(offset, testing::succeeded()) == Settlement::kFinished);
  }
  CHECK(h.partition.commit_offset() == 10);  // 10 still runs.

  CHECK(h.answer(10, testing::succeeded()) == Settlement::kFinished);
  CHECK(h.partition.commit_offset() == 15);
  h.partition.confirm_commit(15);
  CHECK(h.partition.commit_offset() == -1);  // Nothing new since the confirmed commit.
  h.partition.confirm_commit(12);            // A late answer to an older commit.
  CHECK(h.partition.committed == 15);
}

TEST_CASE("a failed record without a dead letter holds the commit point and goes again") {
  PartitionDriver h(Ordering::kNone);
  REQUIRE(h.read(0));
  REQUIRE(h.read(1));
  REQUIRE(h.dispatch(Order::kIndependent) == 2u);
  CHECK(h.answer(1, testing::succeeded()) == Settlement::kFinished);

  CHECK(h.answer(0, testing::failed()) == Settlement::kRedeliver);
  CHECK(h.partition.redeliver_delay == kRedeliverDelay);
  CHECK(h.partition.commit_offset() == 0);  // Never past the failed record.
  CHECK(h.partition.offsets.unfinished() == 1);

  // The trigger dispatches it again; it fails again, and waits longer.
  core::Event again;
  again.source_tag = 0;
  again.completion = [&h](core::Event& event, core::Outcome& outcome) {
    h.settled.push_back(h.partition.settle(event, outcome, h.stopping));
  };
  ++h.partition.in_scheduler;
  REQUIRE(h.dispatcher.dispatch("f", std::move(again)) == scheduler::Admission::kStarted);
  CHECK(h.answer(0, testing::failed()) == Settlement::kRedeliver);
  CHECK(h.partition.redeliver_delay == 2 * kRedeliverDelay);
  CHECK(h.partition.commit_offset() == 0);

  // Its dead letter written at last: it is done, and the commit point passes it.
  core::Event last;
  last.source_tag = 0;
  last.completion = [&h](core::Event& event, core::Outcome& outcome) {
    h.settled.push_back(h.partition.settle(event, outcome, h.stopping));
  };
  ++h.partition.in_scheduler;
  REQUIRE(h.dispatcher.dispatch("f", std::move(last)) == scheduler::Admission::kStarted);
  CHECK(h.answer(0, testing::dead_lettered()) == Settlement::kFinished);
  CHECK(h.partition.redeliver_delay.count() == 0);
  CHECK(h.partition.commit_offset() == 2);
}

TEST_CASE("the redeliver delay doubles up to its maximum") {
  Partition partition(0, Ordering::kNone);
  for (std::int64_t offset = 0; offset < 8; ++offset) {
    REQUIRE(
        partition.take(std::nullopt, BufferedRecord{MessageHolder(), offset, kCost, nullptr}, 0));
  }
  std::vector<BufferedRecord> taken;
  REQUIRE(partition.take_ready(8, taken, 0) == 8);
  partition.in_scheduler = 8;
  for (std::int64_t offset = 0; offset < 8; ++offset) {
    core::Event event;
    event.source_tag = static_cast<std::uint64_t>(offset);
    core::Outcome outcome = testing::failed();
    CHECK(partition.settle(event, outcome, false) == Settlement::kRedeliver);
  }
  CHECK(partition.redeliver_delay == kMaxRedeliverDelay);
}

TEST_CASE(
    "partition ordering: what a run does not take, and what it hands back unrun, goes "
    "again first, in offset order, once the failed record is done") {
  PartitionDriver h(Ordering::kPartition);
  for (std::int64_t offset = 0; offset < 6; ++offset) {
    REQUIRE(h.read(offset));
  }
  h.dispatcher.room = 4;
  REQUIRE(h.dispatch(Order::kSequence) == 4u);
  CHECK(h.dispatcher.running_offsets() == std::vector<std::uint64_t>{0, 1, 2, 3});
  // One record in flight per partition: nothing else goes while the run is out.
  CHECK_FALSE(h.dispatch(Order::kSequence).has_value());

  // 1 fails; 2 and 3 come back unrun, in any order.
  CHECK(h.answer(0, testing::succeeded()) == Settlement::kFinished);
  CHECK(h.answer(3, testing::not_run()) == Settlement::kTakenBack);
  CHECK(h.answer(2, testing::not_run()) == Settlement::kTakenBack);
  CHECK(offsets_of(h.partition.returned) == std::vector<std::uint64_t>{2, 3});
  CHECK(h.answer(1, testing::failed()) == Settlement::kRedeliver);
  CHECK(h.partition.commit_offset() == 1);

  // The trigger holds 1 to go again: the records handed back wait for it.
  h.partition.held = 1;
  CHECK_FALSE(h.dispatch(Order::kSequence).has_value());
  h.partition.held = 0;
  ++h.partition.in_scheduler;  // 1 dispatched again.
  CHECK_FALSE(h.dispatch(Order::kSequence).has_value());
  --h.partition.in_scheduler;  // ... and done (its dead letter written).
  h.partition.offsets.finish(1);

  // Now 2 and 3 go, before 4 and 5; the dispatcher takes one, the other goes back in front.
  h.dispatcher.room = 1;
  REQUIRE(h.dispatch(Order::kSequence) == 1u);
  CHECK(h.dispatcher.running_offsets() == std::vector<std::uint64_t>{2});
  CHECK(offsets_of(h.partition.returned) == std::vector<std::uint64_t>{3});
  CHECK(h.partition.commit_offset() == 2);
}

TEST_CASE("independent runs: what the dispatcher does not take is left to the caller") {
  PartitionDriver h(Ordering::kNone);
  for (std::int64_t offset = 0; offset < 3; ++offset) {
    REQUIRE(h.read(offset));
  }
  h.dispatcher.room = 1;
  h.partition.take_run(3, h.now_ms, h.scratch, h.run);
  REQUIRE(h.run.size() == 3);
  CHECK(h.partition.offer_run(Order::kIndependent, h.run, [&h](auto events) {
    return h.dispatcher.dispatch_run("f", events, Order::kIndependent);
  }) == 1);
  CHECK(h.dispatcher.orders.back() == Order::kIndependent);
  CHECK(h.partition.in_scheduler == 1);
  CHECK(h.partition.returned.empty());
  CHECK(h.run[1].source_tag == 1);  // Left in place for the caller to hold.
  CHECK(h.run[2].source_tag == 2);
}

TEST_CASE("records of a revoking partition are neither read, dispatched, nor committed past") {
  PartitionDriver h(Ordering::kNone);
  for (std::int64_t offset = 0; offset < 6; ++offset) {
    REQUIRE(h.read(offset));
  }
  h.dispatcher.room = 3;
  REQUIRE(h.dispatch(Order::kIndependent) == 3u);  // 0, 1 and 2 run.

  h.partition.start_revoke();
  CHECK(h.partition.buffer.buffered() == 0);  // 3, 4 and 5 are let go, uncommitted.
  CHECK(h.partition.buffered_bytes == 0);
  CHECK_FALSE(h.read(6));
  CHECK_FALSE(h.dispatch(Order::kIndependent).has_value());
  std::vector<BufferedRecord> taken;
  CHECK(h.partition.take_ready(10, taken, h.now_ms) == 0);

  // A finished record still counts (the revoke commits it); a failed one is not dispatched
  // again and one handed back unrun is not taken back: both stay uncommitted.
  CHECK(h.answer(0, testing::succeeded()) == Settlement::kFinished);
  CHECK(h.answer(1, testing::failed()) == Settlement::kAbandoned);
  CHECK(h.answer(2, testing::not_run()) == Settlement::kAbandoned);
  CHECK(h.partition.returned.empty());
  CHECK(h.partition.in_scheduler == 0);
  CHECK(h.partition.commit_offset() == 1);
}

TEST_CASE("stopping: records refused or handed back are not run again and not committed past") {
  PartitionDriver h(Ordering::kPartition);
  for (std::int64_t offset = 0; offset < 3; ++offset) {
    REQUIRE(h.read(offset));
  }
  REQUIRE(h.dispatch(Order::kSequence) == 3u);
  h.stopping = true;
  h.partition.discard_waiting();
  CHECK(h.answer(1, testing::not_run()) == Settlement::kAbandoned);
  CHECK(h.answer(0, testing::rejected()) == Settlement::kAbandoned);
  CHECK(h.answer(2, testing::failed()) == Settlement::kAbandoned);
  CHECK(h.partition.returned.empty());
  CHECK(h.partition.commit_offset() == 0);
}

TEST_CASE("a record refused while the trigger runs (rejected) is not redelivered") {
  PartitionDriver h(Ordering::kNone);
  REQUIRE(h.read(7));
  REQUIRE(h.dispatch(Order::kIndependent) == 1u);
  CHECK(h.answer(7, testing::rejected()) == Settlement::kAbandoned);
  CHECK(h.partition.commit_offset() == 7);
}

TEST_CASE("a duplicate delivery is not taken twice") {
  PartitionDriver h(Ordering::kNone);
  REQUIRE(h.read(5));
  CHECK_FALSE(h.read(5));
  CHECK_FALSE(h.read(4));
  CHECK(h.partition.buffer.buffered() == 1);
  CHECK(h.partition.buffered_bytes == kCost);
}

TEST_CASE("backpressure: paused at the high bound, resumed at half of it") {
  PartitionDriver h(Ordering::kNone);
  const BufferLimits limits{10 * kCost, 8};
  for (std::int64_t offset = 0; offset < 7; ++offset) {
    REQUIRE(h.read(offset));
  }
  CHECK_FALSE(h.partition.over_high(limits));
  REQUIRE(h.read(7));
  CHECK(h.partition.over_high(limits));  // 8 records.
  CHECK_FALSE(h.partition.over_high(limits, 2));
  CHECK_FALSE(h.partition.under_low(limits));

  h.dispatcher.room = 4;
  REQUIRE(h.dispatch(Order::kIndependent) == 4u);
  CHECK(h.partition.buffered_bytes == 4 * kCost);
  CHECK(h.partition.under_low(limits));  // 4 records, 400 bytes: at half.
  h.partition.held = 1;                  // Held records count against the bound too.
  CHECK_FALSE(h.partition.under_low(limits));
}
