#include "triggers/kafka/lifecycle.h"

#include <doctest/doctest.h>

using namespace switchyard::triggers::kafka;

TEST_CASE("a trigger stops in order: running, draining, closing, stopped") {
  Lifecycle lifecycle;
  CHECK(lifecycle.state() == LifecycleState::kRunning);
  CHECK_FALSE(lifecycle.stopping());
  CHECK_FALSE(lifecycle.closing());
  // Nothing closes or finishes a running trigger but stop().
  CHECK_FALSE(lifecycle.begin_close());
  CHECK_FALSE(lifecycle.finish());
  CHECK(lifecycle.state() == LifecycleState::kRunning);

  CHECK(lifecycle.begin_drain());
  CHECK(lifecycle.state() == LifecycleState::kDraining);
  CHECK(lifecycle.stopping());       // No record is taken or dispatched any more.
  CHECK_FALSE(lifecycle.closing());  // Periodic commits and backpressure still run.
  CHECK_FALSE(lifecycle.finish());

  CHECK(lifecycle.begin_close());
  CHECK(lifecycle.state() == LifecycleState::kClosing);
  CHECK(lifecycle.stopping());
  CHECK(lifecycle.closing());

  CHECK(lifecycle.finish());
  CHECK(lifecycle.state() == LifecycleState::kStopped);
  CHECK(lifecycle.stopping());
  CHECK(lifecycle.closing());
}

TEST_CASE("each step of stopping happens once") {
  Lifecycle lifecycle;
  CHECK(lifecycle.begin_drain());
  CHECK_FALSE(lifecycle.begin_drain());  // A second stop() is ignored.
  CHECK(lifecycle.begin_close());
  CHECK_FALSE(lifecycle.begin_close());  // A late completion does not close again.
  CHECK_FALSE(lifecycle.begin_drain());
  CHECK(lifecycle.finish());
  CHECK_FALSE(lifecycle.finish());  // The stop callback is called once.
  CHECK_FALSE(lifecycle.begin_drain());
  CHECK(lifecycle.state() == LifecycleState::kStopped);
}
