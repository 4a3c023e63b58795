#pragma once

#include <chrono>
#include <random>

#include "config/config.h"

namespace switchyard::scheduler {

// The delay before retry number `retry` (1 = the first retry): backoff * 2^(retry-1), capped
// at max_backoff, then up to `jitter` of it randomised downwards ("equal jitter" when jitter is
// 0.5, none at 0) so that retries of many events spread out.
std::chrono::milliseconds retry_delay(const config::RetryPolicy& policy, int retry,
                                      std::mt19937_64& random);

}  // namespace switchyard::scheduler
