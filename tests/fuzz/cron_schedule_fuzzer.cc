// libFuzzer target over the cron expression parser and next-fire computation: the first line is
// the expression, the second the time zone.

#include <chrono>
#include <cstdint>
#include <string>

#include "triggers/cron/schedule.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  auto newline = input.find('\n');
  std::string expression = input.substr(0, newline);
  std::string zone = newline == std::string::npos ? "UTC" : input.substr(newline + 1);
  auto schedule = switchyard::triggers::cron::Schedule::parse(expression, zone);
  if (!schedule.ok()) {
    return 0;
  }
  auto t = std::chrono::system_clock::time_point(std::chrono::seconds(1774000000));
  for (int i = 0; i < 4; ++i) {
    t = schedule->next(t);
    (void)switchyard::triggers::cron::format_iso8601(t, zone);
  }
  return 0;
}
