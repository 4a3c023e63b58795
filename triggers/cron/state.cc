#include "triggers/cron/state.h"

#include <fcntl.h>
#include <rapidjson/document.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include "core/log.h"

namespace switchyard::triggers::cron {

namespace {

// Writes `json` to `file` through a temporary file and a rename. Any thread.
core::Status write_file(const std::filesystem::path& file, const std::string& json) {
  std::filesystem::path temp = file;
  temp += ".tmp";
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return core::Error::from_errno(errno, "cannot write " + temp.string());
  }
  std::size_t written = 0;
  while (written < json.size()) {
    ssize_t n = ::write(fd, json.data() + written, json.size() - written);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      return core::Error::from_errno(err, "cannot write " + temp.string());
    }
    written += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (::rename(temp.c_str(), file.c_str()) != 0) {
    return core::Error::from_errno(errno, "cannot replace " + file.string());
  }
  return {};
}

}  // namespace

CronState::CronState(core::Loop& loop, std::filesystem::path file)
    : file_(std::move(file)),
      flush_timer_(loop, [this] { flush(); }),
      writer_([this] { write_loop(); }) {}

CronState::~CronState() {
  flush();
  {
    std::lock_guard lock(mutex_);
    quit_ = true;
  }
  wake_.notify_one();
  writer_.join();
}

void CronState::write_loop() {
  bool failed = false;  // Logged once until a write works again.
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return has_pending_ || quit_; });
    if (!has_pending_) {
      return;  // quit_, and everything written.
    }
    std::string json = std::move(pending_);
    has_pending_ = false;
    std::uint64_t generation = handed_;
    lock.unlock();
    core::Status status = write_file(file_, json);
    if (!status.ok() && !failed) {
      spdlog::error("cron state: {}; ticks missed while the daemon is down may go unnoticed",
                    status.error().message());
    } else if (status.ok() && failed) {
      spdlog::info("cron state: {} written again", file_.string());
    }
    failed = !status.ok();
    lock.lock();
    done_ = generation;
    written_.notify_all();
  }
}

core::Status CronState::load() {
  std::ifstream in(file_, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) {
      return {};
    }
    return core::Error::from_errno(errno, "cannot read " + file_.string());
  }
  std::stringstream text;
  text << in.rdbuf();
  std::string content = text.str();
  rapidjson::Document doc;
  doc.Parse(content.data(), content.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    spdlog::warn(
        "cron state {} is not a JSON object; starting without it (ticks missed while "
        "the daemon was down are not detected this time)",
        file_.string());
    return {};
  }
  for (const auto& member : doc.GetObject()) {
    if (member.value.IsInt64()) {
      last_ms_[std::string(member.name.GetString(), member.name.GetStringLength())] =
          member.value.GetInt64();
    }
  }
  return {};
}

std::optional<CronState::Clock::time_point> CronState::last(const std::string& key) const {
  auto it = last_ms_.find(key);
  if (it == last_ms_.end()) {
    return std::nullopt;
  }
  return Clock::time_point(std::chrono::milliseconds(it->second));
}

void CronState::record(const std::string& key, Clock::time_point scheduled) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(scheduled.time_since_epoch());
  std::int64_t& slot = last_ms_[key];
  if (slot == ms.count()) {
    return;
  }
  slot = ms.count();
  if (!dirty_) {
    dirty_ = true;
    flush_timer_.start(std::chrono::seconds(1));
  }
}

void CronState::flush() {
  if (!dirty_) {
    return;
  }
  flush_timer_.stop();
  dirty_ = false;
  std::string json = "{";
  for (const auto& [key, ms] : last_ms_) {
    json += json.size() > 1 ? ",\n\"" : "\n\"";
    core::append_json_escaped(json, key);
    json += "\":" + std::to_string(ms);
  }
  json += "\n}\n";
  {
    std::lock_guard lock(mutex_);
    pending_ = std::move(json);
    has_pending_ = true;
    ++handed_;
  }
  wake_.notify_one();
}

void CronState::flush_and_wait() {
  flush();
  std::unique_lock lock(mutex_);
  written_.wait(lock, [this] { return done_ >= handed_; });
}

}  // namespace switchyard::triggers::cron
