#include "triggers/kafka/offset_tracker.h"

#include <doctest/doctest.h>

using switchyard::triggers::kafka::PartitionOffsets;

TEST_CASE("the commit point is the lowest unfinished offset") {
  PartitionOffsets offsets;
  CHECK(offsets.committable() == -1);
  for (int offset = 10; offset < 15; ++offset) {
    CHECK(offsets.take(offset));
  }
  CHECK(offsets.committable() == 10);
  offsets.finish(11);
  offsets.finish(12);
  CHECK(offsets.committable() == 10);  // 10 still runs: nothing past it may be committed.
  CHECK(offsets.unfinished() == 3);
  offsets.finish(10);
  CHECK(offsets.committable() == 13);
  offsets.finish(14);
  CHECK(offsets.committable() == 13);
  offsets.finish(13);
  CHECK(offsets.committable() == 15);  // All done: the next record to read.
  CHECK(offsets.unfinished() == 0);
}

TEST_CASE("gaps in offsets (compaction, transaction markers) are jumped over") {
  PartitionOffsets offsets;
  CHECK(offsets.take(3));
  CHECK(offsets.take(7));
  offsets.finish(3);
  CHECK(offsets.committable() == 7);
  offsets.finish(7);
  CHECK(offsets.committable() == 8);
}

TEST_CASE("a record never finished holds the commit point however many finish after it") {
  PartitionOffsets offsets;
  for (int offset = 0; offset < 1000; ++offset) {
    REQUIRE(offsets.take(offset));
  }
  for (int offset = 1; offset < 1000; ++offset) {
    offsets.finish(offset);
  }
  CHECK(offsets.committable() == 0);
  offsets.finish(0);
  CHECK(offsets.committable() == 1000);
}

TEST_CASE("duplicates and unknown offsets are ignored") {
  PartitionOffsets offsets(100);
  CHECK(offsets.committable() == 100);
  CHECK_FALSE(offsets.take(99));  // Before the start.
  CHECK(offsets.take(100));
  CHECK_FALSE(offsets.take(100));  // Delivered twice.
  offsets.finish(5);
  offsets.finish(100);
  offsets.finish(100);  // Finished twice.
  CHECK(offsets.committable() == 101);
  CHECK(offsets.unfinished() == 0);
}
