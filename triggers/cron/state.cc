#include "triggers/cron/state.h"

#include <fcntl.h>
#include <unistd.h>

#include <rapidjson/document.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include "core/log.h"

namespace switchyard::triggers::cron {

CronState::CronState(core::Loop& loop, std::filesystem::path file)
    : file_(std::move(file)), flush_timer_(loop, [this] {
        auto status = flush();
        (void)status;  // Logged by flush().
      }) {}

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
    spdlog::warn("cron state {} is not a JSON object; starting without it (ticks missed while "
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

core::Status CronState::flush() {
  if (!dirty_) {
    return {};
  }
  flush_timer_.stop();
  std::string json = "{";
  for (const auto& [key, ms] : last_ms_) {
    json += json.size() > 1 ? ",\n\"" : "\n\"";
    core::append_json_escaped(json, key);
    json += "\":" + std::to_string(ms);
  }
  json += "\n}\n";
  std::filesystem::path temp = file_;
  temp += ".tmp";
  core::Status status;
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    status = core::Error::from_errno(errno, "cannot write " + temp.string());
  } else {
    std::size_t written = 0;
    while (written < json.size()) {
      ssize_t n = ::write(fd, json.data() + written, json.size() - written);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        status = core::Error::from_errno(errno, "cannot write " + temp.string());
        break;
      }
      written += static_cast<std::size_t>(n);
    }
    if (status.ok() && ::fsync(fd) != 0) {
      status = core::Error::from_errno(errno, "cannot sync " + temp.string());
    }
    ::close(fd);
    if (status.ok() && ::rename(temp.c_str(), file_.c_str()) != 0) {
      status = core::Error::from_errno(errno, "cannot replace " + file_.string());
    }
  }
  if (!status.ok()) {
    if (!write_failed_) {
      spdlog::error("cron state: {}; ticks missed while the daemon is down may go unnoticed",
                    status.error().message());
    }
    write_failed_ = true;
    flush_timer_.start(std::chrono::seconds(10));  // Try again later; dirty_ stays set.
    return status;
  }
  if (write_failed_) {
    spdlog::info("cron state: {} written again", file_.string());
  }
  write_failed_ = false;
  dirty_ = false;
  return {};
}

}  // namespace switchyard::triggers::cron
