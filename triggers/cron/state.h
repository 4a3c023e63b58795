#pragma once

// The cron triggers' memory across restarts: for each schedule, the scheduled time of the last
// tick it handled (fired or skipped), in one small JSON file in the state directory
// (`<state_dir>/cron-state.json`: {"<function> <schedule> <timezone>": <unix ms>, ...}). At
// start a trigger compares it with the clock to find ticks missed while the daemon was down.
//
// Writes are coalesced: a change is written within a second (to a temporary file, then renamed
// over the old one, so a crash leaves the old or the new file, never half of one), and at once
// by flush(). A crash can lose the last second of changes; the worst outcome is that a tick that
// did run is seen as missed once more (misfire: run_once then runs it again: at-least-once).
//
// Thread rules: loop thread only. Shared (shared_ptr) by the cron triggers of one daemon.

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "core/error.h"
#include "core/loop.h"

namespace switchyard::triggers::cron {

class CronState {
 public:
  using Clock = std::chrono::system_clock;

  CronState(core::Loop& loop, std::filesystem::path file);

  // Reads the file. A missing file is an empty state. A file that does not parse is reported
  // (and then overwritten by the next write): the daemon should not refuse to start over it.
  core::Status load();

  std::optional<Clock::time_point> last(const std::string& key) const;
  // Remembers `scheduled` as the last tick `key` handled; written within a second.
  void record(const std::string& key, Clock::time_point scheduled);
  // Writes the file now if anything changed since the last write.
  core::Status flush();

  const std::filesystem::path& file() const { return file_; }

 private:
  std::filesystem::path file_;
  std::map<std::string, std::int64_t> last_ms_;
  bool dirty_ = false;
  bool write_failed_ = false;  // Logged once until a write works again.
  core::Timer flush_timer_;
};

}  // namespace switchyard::triggers::cron
