#include "triggers/kafka/pump_state.h"

#include <doctest/doctest.h>

using namespace switchyard::triggers::kafka;

TEST_CASE("an idle pump does not take a request: the caller starts one") {
  PumpLoop pump;
  CHECK(pump.state() == PumpState::kIdle);
  CHECK_FALSE(pump.ask_again());
  CHECK(pump.state() == PumpState::kIdle);
}

TEST_CASE("a request during a round makes the running pump go round again, not recurse") {
  PumpLoop pump;
  int rounds = 0;
  int depth = 0;
  int deepest = 0;
  auto round = [&] {
    ++rounds;
    ++depth;
    deepest = depth > deepest ? depth : deepest;
    CHECK(pump.state() == PumpState::kPumping);
    if (rounds < 3) {
      // An inline function's completion: it asks for more, and a nested pump runs nothing.
      CHECK(pump.ask_again());
      CHECK(pump.state() == PumpState::kPumpAgain);
      CHECK_FALSE(pump.run([&] { FAIL("a nested pump ran"); }, [] { return false; }));
    }
    --depth;
  };
  CHECK(pump.run(round, [] { return false; }));
  CHECK(rounds == 3);  // Two rounds asked for more; the third did not.
  CHECK(deepest == 1);
  CHECK(pump.state() == PumpState::kIdle);
}

TEST_CASE("a pump asked for more stops going round once the trigger stops") {
  PumpLoop pump;
  int rounds = 0;
  bool stopping = false;
  CHECK(pump.run(
      [&] {
        ++rounds;
        pump.ask_again();
        stopping = true;  // stop() ran during the round.
      },
      [&] { return stopping; }));
  CHECK(rounds == 1);
  CHECK(pump.state() == PumpState::kIdle);
}
