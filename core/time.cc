#include "core/time.h"

#include <cstddef>
#include <cstdio>
#include <string>

namespace switchyard::core {

std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text) {
  using namespace std::chrono;
  std::size_t pos = 0;
  auto digits = [&](std::size_t count, int& value) {
    if (pos + count > text.size()) {
      return false;
    }
    value = 0;
    for (std::size_t k = 0; k < count; ++k) {
      char c = text[pos + k];
      if (c < '0' || c > '9') {
        return false;
      }
      value = value * 10 + (c - '0');
    }
    pos += count;
    return true;
  };
  auto expect = [&](std::string_view options) {
    if (pos < text.size() && options.find(text[pos]) != std::string_view::npos) {
      ++pos;
      return true;
    }
    return false;
  };

  int year, month, day, hour, minute, second;
  if (!digits(4, year) || !expect("-") || !digits(2, month) || !expect("-") || !digits(2, day) ||
      !expect("Tt") || !digits(2, hour) || !expect(":") || !digits(2, minute) || !expect(":") ||
      !digits(2, second)) {
    return std::nullopt;
  }
  year_month_day date{std::chrono::year(year), std::chrono::month(static_cast<unsigned>(month)),
                      std::chrono::day(static_cast<unsigned>(day))};
  // Second 60 is a leap second, which RFC 3339 allows; it is counted as the next second.
  if (!date.ok() || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  nanoseconds fraction{0};
  if (expect(".")) {
    std::size_t start = pos;
    long long scale = 100000000;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      fraction += nanoseconds((text[pos] - '0') * scale);
      scale /= 10;
      ++pos;
    }
    if (pos == start) {
      return std::nullopt;
    }
  }
  minutes offset{0};
  if (!expect("Zz")) {
    if (pos >= text.size() || (text[pos] != '+' && text[pos] != '-')) {
      return std::nullopt;
    }
    bool negative = text[pos] == '-';
    ++pos;
    int offset_hours, offset_minutes;
    if (!digits(2, offset_hours) || !expect(":") || !digits(2, offset_minutes) ||
        offset_hours > 23 || offset_minutes > 59) {
      return std::nullopt;
    }
    offset = hours(offset_hours) + minutes(offset_minutes);
    if (negative) {
      offset = -offset;
    }
  }
  if (pos != text.size()) {
    return std::nullopt;
  }
  // In whole seconds first: the clock's nanoseconds only reach the years 1677 to 2262, and a
  // time outside them is refused rather than overflowed.
  sys_seconds whole = sys_days(date) + hours(hour) + minutes(minute) + seconds(second) - offset;
  constexpr auto kLimit = duration_cast<seconds>(system_clock::duration::max()) - seconds(1);
  if (whole.time_since_epoch() > kLimit || whole.time_since_epoch() < -kLimit) {
    return std::nullopt;
  }
  return time_point_cast<system_clock::duration>(whole) +
         duration_cast<system_clock::duration>(fraction);
}

std::string format_rfc3339(std::chrono::system_clock::time_point time) {
  using namespace std::chrono;
  auto millis = floor<milliseconds>(time);
  auto days = floor<std::chrono::days>(millis);
  year_month_day date{days};
  hh_mm_ss<milliseconds> clock{millis - days};
  char out[32];
  std::snprintf(
      out, sizeof(out), "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", static_cast<int>(date.year()),
      static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
      static_cast<int>(clock.hours().count()), static_cast<int>(clock.minutes().count()),
      static_cast<int>(clock.seconds().count()), static_cast<int>(clock.subseconds().count()));
  return out;
}

}  // namespace switchyard::core
