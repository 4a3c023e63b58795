#include "scheduler/backoff.h"

#include <algorithm>
#include <cmath>

namespace switchyard::scheduler {

std::chrono::milliseconds retry_delay(const config::RetryPolicy& policy, int retry,
                                      std::mt19937_64& random) {
  double base = static_cast<double>(policy.backoff.count());
  double cap = static_cast<double>(std::max(policy.max_backoff, policy.backoff).count());
  double exponent = std::min(std::max(retry - 1, 0), 62);
  double delay = std::min(cap, base * std::pow(2.0, exponent));
  double jitter = std::clamp(policy.jitter, 0.0, 1.0);
  if (jitter > 0) {
    std::uniform_real_distribution<double> spread(0.0, jitter);
    delay *= 1.0 - spread(random);
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(delay)));
}

}  // namespace switchyard::scheduler
