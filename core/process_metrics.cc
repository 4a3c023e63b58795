#include "core/process_metrics.h"

#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace switchyard::core {

namespace {

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

ProcessMetrics::ProcessMetrics(MetricsRegistry& registry)
    : resident_bytes_(
          registry.gauge("process_resident_memory_bytes", "Resident memory size in bytes.")),
      virtual_bytes_(
          registry.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.")),
      open_fds_(registry.gauge("process_open_fds", "Number of open file descriptors.")),
      threads_(registry.gauge("process_threads", "Number of OS threads in the process.")),
      start_time_(registry.gauge("process_start_time_seconds",
                                 "Start time of the process since the Unix epoch in seconds.")),
      uptime_(registry.gauge("switchyard_uptime_seconds", "Seconds since switchyard started.")),
      started_at_(unix_now()) {
  start_time_.set(started_at_);
}

void ProcessMetrics::update() {
  long page = sysconf(_SC_PAGESIZE);
  if (FILE* statm = std::fopen("/proc/self/statm", "r")) {
    unsigned long size = 0;
    unsigned long resident = 0;
    if (std::fscanf(statm, "%lu %lu", &size, &resident) == 2) {
      virtual_bytes_.set(static_cast<double>(size) * page);
      resident_bytes_.set(static_cast<double>(resident) * page);
    }
    std::fclose(statm);
  }
  if (DIR* fds = opendir("/proc/self/fd")) {
    int count = 0;
    while (dirent* entry = readdir(fds)) {
      if (entry->d_name[0] != '.') {
        ++count;
      }
    }
    closedir(fds);
    open_fds_.set(count - 1);  // Not counting the directory handle itself.
  }
  if (FILE* status = std::fopen("/proc/self/status", "r")) {
    char line[256];
    while (std::fgets(line, sizeof(line), status) != nullptr) {
      if (std::strncmp(line, "Threads:", 8) == 0) {
        threads_.set(std::atof(line + 8));
        break;
      }
    }
    std::fclose(status);
  }
  uptime_.set(unix_now() - started_at_);
}

}  // namespace switchyard::core
