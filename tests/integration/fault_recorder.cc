// fault_recorder: the soak's test function (bench/soak/soak.py), written with the C++ SDK
// (<switchyard/function.hpp>) so that its exceptions go through the SDK's mapping. It records
// every invocation and misbehaves on request, by the prefix of the event's data:
//
//   FAIL_PREFIX  (default "poison") returns an error (type PoisonError) without throwing;
//   THROW_PREFIX (default "throw")  throws std::runtime_error;
//   HANG_PREFIX  (default "hang")   sleeps HANG_MS (default 1000) milliseconds, ignoring
//                                    cancellation, then succeeds: past the manifest's `timeout`
//                                    it is a timed-out invocation that holds its slot meanwhile;
//   anything else                    succeeds.
//
// An empty prefix turns that behaviour off. RECORD_FILE gets one line per invocation, written
// with one write(2) on an O_APPEND descriptor before the outcome is decided (so before the
// function returns, and whole with several invocations at once): "<data> <event id>". Single
// events only (no batches); the data should not contain a newline.

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <switchyard/function.hpp>
#include <thread>

namespace {

int g_record_fd = -1;
std::string g_fail_prefix = "poison";
std::string g_throw_prefix = "throw";
std::string g_hang_prefix = "hang";
long g_hang_ms = 1000;

bool starts_with(std::string_view data, const std::string& prefix) {
  return !prefix.empty() && data.substr(0, prefix.size()) == prefix;
}

void init(const switchyard::InitArgs& args) {
  if (auto file = args.env("RECORD_FILE"); file && !file->empty()) {
    g_record_fd =
        ::open(std::string(*file).c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (g_record_fd < 0) {
      throw std::runtime_error("cannot open RECORD_FILE " + std::string(*file));
    }
  }
  if (auto value = args.env("FAIL_PREFIX")) {
    g_fail_prefix = std::string(*value);
  }
  if (auto value = args.env("THROW_PREFIX")) {
    g_throw_prefix = std::string(*value);
  }
  if (auto value = args.env("HANG_PREFIX")) {
    g_hang_prefix = std::string(*value);
  }
  if (auto value = args.env("HANG_MS")) {
    g_hang_ms = std::strtol(std::string(*value).c_str(), nullptr, 10);
  }
}

void shutdown() {
  if (g_record_fd >= 0) {
    ::close(g_record_fd);
    g_record_fd = -1;
  }
}

switchyard::Result handle(const switchyard::Event& event, switchyard::Context&) {
  std::string_view data = event.data();
  if (g_record_fd >= 0) {
    std::string line = std::string(data) + " " + std::string(event.id()) + "\n";
    (void)!::write(g_record_fd, line.data(), line.size());
  }
  if (starts_with(data, g_fail_prefix)) {
    return switchyard::Error("PoisonError", "cannot process " + std::string(data));
  }
  if (starts_with(data, g_throw_prefix)) {
    throw std::runtime_error("thrown on " + std::string(data));
  }
  if (starts_with(data, g_hang_prefix)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(g_hang_ms));
  }
  return "ok";
}

}  // namespace

SWITCHYARD_HANDLER(handle);
SWITCHYARD_INIT(init);
SWITCHYARD_SHUTDOWN(shutdown);
