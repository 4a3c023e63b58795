#pragma once

// The cron triggers' memory across restarts: for each schedule, the scheduled time of the last
// tick it handled (fired or skipped), in one small JSON file in the state directory
// (`<state_dir>/cron-state.json`: {"<function> <schedule> <timezone>": <unix ms>, ...}). At
// start a trigger compares it with the clock to find ticks missed while the daemon was down.
//
// Writes are coalesced: a change is handed within a second (at once by flush()) to a writer
// thread, which writes the latest contents to a temporary file and renames it over the old one,
// so a crash of the daemon leaves the old or the new file, never half of one. The file system
// work stays off the loop: replacing a file by rename can take hundreds of milliseconds (ext4
// flushes the new data first), which made per-second ticks late. Not fsynced: after a power loss
// the file may be old or empty, which counts as no state. A crash can lose the last second of
// changes; the worst outcome is that a tick that did run is seen as missed once more (misfire:
// run_once then runs it again: at-least-once). The destructor writes what is pending and joins.
//
// Thread rules: every method on the loop thread. Shared (shared_ptr) by the cron triggers of one
// daemon.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/error.h"
#include "core/loop.h"

namespace switchyard::triggers::cron {

class CronState {
 public:
  using Clock = std::chrono::system_clock;

  CronState(core::Loop& loop, std::filesystem::path file);
  ~CronState();
  CronState(const CronState&) = delete;
  CronState& operator=(const CronState&) = delete;

  // Reads the file. A missing file is an empty state. A file that does not parse is reported
  // (and then overwritten by the next write): the daemon should not refuse to start over it.
  core::Status load();

  std::optional<Clock::time_point> last(const std::string& key) const;
  // Remembers `scheduled` as the last tick `key` handled; written within a second.
  void record(const std::string& key, Clock::time_point scheduled);
  // Hands the current contents to the writer now if anything changed.
  void flush();
  // flush(), then waits until the writer has written it: for a trigger's stop(), so that a
  // trigger built right after (a reload) reads what this one handled. Blocks the loop for one
  // write; stops are rare.
  void flush_and_wait();

  const std::filesystem::path& file() const { return file_; }

 private:
  std::filesystem::path file_;
  std::map<std::string, std::int64_t> last_ms_;
  void write_loop();

  bool dirty_ = false;
  core::Timer flush_timer_;

  // The writer thread: it writes `pending_` whenever `has_pending_` is set.
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable written_;
  std::string pending_;
  bool has_pending_ = false;
  std::uint64_t handed_ = 0;  // Contents handed to the writer so far.
  std::uint64_t done_ = 0;    // Of those, written (or failed) so far.
  bool quit_ = false;
  std::thread writer_;
};

}  // namespace switchyard::triggers::cron
