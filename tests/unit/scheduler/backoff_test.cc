#include "scheduler/backoff.h"

#include <doctest/doctest.h>

using std::chrono::milliseconds;
using switchyard::config::RetryPolicy;
using switchyard::scheduler::retry_delay;

TEST_CASE("retry delays double from the base and stop at the cap") {
  RetryPolicy policy;
  policy.backoff = milliseconds(100);
  policy.max_backoff = milliseconds(500);
  policy.jitter = 0;
  std::mt19937_64 random(1);
  CHECK(retry_delay(policy, 1, random) == milliseconds(100));
  CHECK(retry_delay(policy, 2, random) == milliseconds(200));
  CHECK(retry_delay(policy, 3, random) == milliseconds(400));
  CHECK(retry_delay(policy, 4, random) == milliseconds(500));
  CHECK(retry_delay(policy, 60, random) == milliseconds(500));
}

TEST_CASE("jitter only shortens a delay, by at most its fraction") {
  RetryPolicy policy;
  policy.backoff = milliseconds(1000);
  policy.max_backoff = milliseconds(1000);
  policy.jitter = 0.5;
  std::mt19937_64 random(7);
  bool varied = false;
  milliseconds first = retry_delay(policy, 1, random);
  for (int i = 0; i < 200; ++i) {
    milliseconds delay = retry_delay(policy, 1, random);
    CHECK(delay >= milliseconds(500));
    CHECK(delay <= milliseconds(1000));
    varied = varied || delay != first;
  }
  CHECK(varied);
}
