#pragma once

// Process metrics in the Prometheus conventions (process_resident_memory_bytes,
// process_open_fds, process_start_time_seconds, process_threads), read from /proc when asked:
// call before rendering.

#include "core/metrics.h"

namespace switchyard::core {

class ProcessMetrics {
 public:
  explicit ProcessMetrics(MetricsRegistry& registry);
  // Reads /proc/self and updates the gauges. Any thread.
  void update();

 private:
  Gauge& resident_bytes_;
  Gauge& virtual_bytes_;
  Gauge& open_fds_;
  Gauge& threads_;
  Gauge& start_time_;
  Gauge& uptime_;
  double started_at_;
};

}  // namespace switchyard::core
