#include "triggers/cron/schedule.h"

#include <date/date.h>
#include <date/tz.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <exception>
#include <limits>
#include <optional>
#include <utility>

#include "config/units.h"
#include "core/text.h"

namespace switchyard::triggers::cron {

namespace {

using core::trim;
using std::chrono::system_clock;

constexpr std::int64_t kSecondsPerDay = 86400;
// The Gregorian calendar repeats every 400 years, so a day pattern that matches nothing in 400
// years never matches. It also bounds every search for the next fire time.
constexpr std::int64_t kSearchHorizonSeconds = 400LL * 366 * kSecondsPerDay;

constexpr std::array<std::string_view, 12> kMonthAbbreviations = {
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 12> kMonthNames = {
    "January", "February", "March",     "April",   "May",      "June",
    "July",    "August",   "September", "October", "November", "December"};
constexpr std::array<std::string_view, 7> kWeekdayAbbreviations = {"SUN", "MON", "TUE", "WED",
                                                                   "THU", "FRI", "SAT"};

enum class FieldKind { kSecond, kMinute, kHour, kDayOfMonth, kMonth, kDayOfWeek };

struct FieldInfo {
  std::string_view name;
  int min;
  int max;
};

FieldInfo info_of(FieldKind kind) {
  switch (kind) {
    case FieldKind::kSecond:
      return {"second", 0, 59};
    case FieldKind::kMinute:
      return {"minute", 0, 59};
    case FieldKind::kHour:
      return {"hour", 0, 23};
    case FieldKind::kDayOfMonth:
      return {"day-of-month", 1, 31};
    case FieldKind::kMonth:
      return {"month", 1, 12};
    case FieldKind::kDayOfWeek:
      // 7 is accepted as a second spelling of Sunday and folded into 0.
      return {"day-of-week", 0, 7};
  }
  return {"?", 0, 0};
}

core::Error invalid(std::string message) {
  return core::Error(core::ErrorCode::kInvalidArgument, std::move(message));
}

core::Error field_error(FieldKind kind, std::string_view detail) {
  return invalid(std::string(info_of(kind).name) + ": " + std::string(detail));
}

std::string quoted(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

std::string to_upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

bool all_digits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Parses a plain decimal number; a length cap keeps it far from overflow.
std::optional<int> parse_number(std::string_view text) {
  if (!all_digits(text) || text.size() > 6) {
    return std::nullopt;
  }
  int value = 0;
  for (char c : text) {
    value = value * 10 + (c - '0');
  }
  return value;
}

// Parses one value of a field: a number in range, or a month or weekday name where allowed.
core::Result<int> parse_value(std::string_view token, FieldKind kind) {
  const FieldInfo info = info_of(kind);
  if (auto number = parse_number(token)) {
    if (*number < info.min || *number > info.max) {
      return field_error(kind, quoted(token) + " out of range " + std::to_string(info.min) + "-" +
                                   std::to_string(info.max));
    }
    return *number;
  }
  if (all_digits(token)) {
    return field_error(kind, quoted(token) + " out of range " + std::to_string(info.min) + "-" +
                                 std::to_string(info.max));
  }
  const bool has_letters = !token.empty() && std::all_of(token.begin(), token.end(), [](char c) {
    return std::isalpha(static_cast<unsigned char>(c)) != 0;
  });
  if (kind == FieldKind::kMonth && has_letters) {
    for (std::size_t i = 0; i < kMonthAbbreviations.size(); ++i) {
      if (token == kMonthAbbreviations[i]) {
        return static_cast<int>(i) + 1;
      }
    }
    return invalid("unknown month name " + quoted(token));
  }
  if (kind == FieldKind::kDayOfWeek && has_letters) {
    for (std::size_t i = 0; i < kWeekdayAbbreviations.size(); ++i) {
      if (token == kWeekdayAbbreviations[i]) {
        return static_cast<int>(i);
      }
    }
    return invalid("unknown weekday name " + quoted(token));
  }
  if (token.empty()) {
    return field_error(kind, "missing value");
  }
  return field_error(kind, "cannot parse " + quoted(token));
}

// Parses a "*", "?", "a", "a-b" item with an optional "/step" into a bit mask.
core::Status parse_range_item(std::string_view item, FieldKind kind, std::uint64_t& mask) {
  const FieldInfo info = info_of(kind);
  std::string_view base = item;
  std::optional<int> step;
  if (const auto slash = item.find('/'); slash != std::string_view::npos) {
    base = item.substr(0, slash);
    const std::string_view step_text = item.substr(slash + 1);
    step = parse_number(step_text);
    if (!step || *step < 1) {
      return field_error(kind, "step " + quoted(step_text) + " must be a number of at least 1");
    }
  }
  int low = 0;
  int high = 0;
  if (base == "*" || base == "?") {
    if (base == "?" && kind != FieldKind::kDayOfMonth && kind != FieldKind::kDayOfWeek) {
      return field_error(kind, "\"?\" is only allowed in day-of-month and day-of-week");
    }
    low = info.min;
    high = kind == FieldKind::kDayOfWeek ? 6 : info.max;
  } else if (const auto dash = base.find('-'); dash != std::string_view::npos) {
    auto first = parse_value(base.substr(0, dash), kind);
    if (!first) {
      return first.error();
    }
    auto last = parse_value(base.substr(dash + 1), kind);
    if (!last) {
      return last.error();
    }
    low = *first;
    high = *last;
    if (low > high) {
      return field_error(kind, "range " + quoted(base) + " is reversed");
    }
  } else {
    auto value = parse_value(base, kind);
    if (!value) {
      return value.error();
    }
    low = *value;
    // "5/15" means "5-max/15", as in cronie and Quartz.
    high = step ? info.max : low;
  }
  for (int v = low; v <= high; v += step.value_or(1)) {
    mask |= std::uint64_t{1} << v;
  }
  return {};
}

std::vector<std::string_view> split_fields(std::string_view text) {
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) {
      ++i;
    }
    const std::size_t begin = i;
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) {
      ++i;
    }
    if (i > begin) {
      fields.push_back(text.substr(begin, i - begin));
    }
  }
  return fields;
}

std::optional<std::string_view> expand_macro(std::string_view upper) {
  if (upper == "@YEARLY" || upper == "@ANNUALLY") {
    return "0 0 1 1 *";
  }
  if (upper == "@MONTHLY") {
    return "0 0 1 * *";
  }
  if (upper == "@WEEKLY") {
    return "0 0 * * 0";
  }
  if (upper == "@DAILY" || upper == "@MIDNIGHT") {
    return "0 0 * * *";
  }
  if (upper == "@HOURLY") {
    // Cronie marks @hourly as an hour wildcard, which this expansion reproduces.
    return "0 * * * *";
  }
  return std::nullopt;
}

unsigned days_in_month(int year, unsigned month) {
  const date::year_month_day_last last{date::year{year} / date::month{month} / date::last};
  return static_cast<unsigned>(last.day());
}

std::string join_months(std::uint64_t mask) {
  std::vector<std::string_view> names;
  for (unsigned m = 1; m <= 12; ++m) {
    if ((mask >> m) & 1U) {
      names.push_back(kMonthNames[m - 1]);
    }
  }
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) {
      out += i + 1 == names.size() ? " or " : ", ";
    }
    out += names[i];
  }
  return out;
}

const date::time_zone* find_zone(std::string_view name) {
  try {
    return date::locate_zone(name);
  } catch (const std::exception&) {
    return nullptr;
  }
}

}  // namespace

core::Result<Schedule> Schedule::parse(std::string_view expression, std::string_view timezone) {
  Schedule schedule;
  const std::string_view text = trim(expression);
  schedule.expression_ = std::string(text);
  schedule.timezone_ = std::string(timezone);
  schedule.zone_ = find_zone(timezone);
  if (schedule.zone_ == nullptr) {
    return invalid("unknown time zone " + quoted(timezone));
  }
  if (text.empty()) {
    return invalid("empty expression");
  }

  std::string_view body = text;
  const std::string upper = to_upper(text);
  if (text.front() == '@') {
    if (upper.rfind("@EVERY", 0) == 0 &&
        (upper.size() == 6 || std::isspace(static_cast<unsigned char>(upper[6])))) {
      const std::string_view duration_text = trim(text.substr(6));
      // The daemon's one duration syntax ("90s", "1h30m"), capped at config::kMaxDuration.
      const auto duration = config::parse_duration(duration_text);
      if (!duration) {
        return invalid("@every: " + duration.error().message());
      }
      if (*duration < std::chrono::seconds(1)) {
        return invalid("@every: duration " + quoted(duration_text) + " is shorter than 1s");
      }
      schedule.every_ = *duration;
      schedule.wildcard_ = true;
      return schedule;
    }
    const auto macro = expand_macro(upper);
    if (!macro) {
      return invalid("unknown macro " + quoted(text));
    }
    body = *macro;
  }

  const std::string upper_body = to_upper(body);
  std::vector<std::string_view> fields = split_fields(upper_body);
  if (fields.size() != 5 && fields.size() != 6) {
    return invalid("expected 5 or 6 fields (got " + std::to_string(fields.size()) + ")");
  }
  if (fields.size() == 5) {
    fields.insert(fields.begin(), "0");
  }

  constexpr std::array<FieldKind, 6> kKinds = {FieldKind::kSecond, FieldKind::kMinute,
                                               FieldKind::kHour,   FieldKind::kDayOfMonth,
                                               FieldKind::kMonth,  FieldKind::kDayOfWeek};
  std::array<std::uint64_t, 6> masks{};
  for (std::size_t f = 0; f < kKinds.size(); ++f) {
    const FieldKind kind = kKinds[f];
    std::string_view rest = fields[f];
    while (true) {
      const auto comma = rest.find(',');
      const std::string_view item = rest.substr(0, comma);
      if (item.empty()) {
        return field_error(kind, "empty list item in " + quoted(fields[f]));
      }
      if (kind == FieldKind::kDayOfMonth && item.front() == 'L') {
        // "L", "L-n" and "LW": the last day, n days before it, the last weekday.
        if (item == "L") {
          schedule.dom_specials_.push_back({DomSpecial::Kind::kLastMinus, 0});
        } else if (item == "LW") {
          schedule.dom_specials_.push_back({DomSpecial::Kind::kLastWeekday, 0});
        } else if (item.size() > 2 && item[1] == '-') {
          const auto offset = parse_number(item.substr(2));
          if (!offset || *offset > 30) {
            return field_error(kind, quoted(item) + " offset out of range 0-30");
          }
          schedule.dom_specials_.push_back({DomSpecial::Kind::kLastMinus, *offset});
        } else {
          return field_error(kind, "cannot parse " + quoted(item));
        }
      } else if (kind == FieldKind::kDayOfMonth && item.size() > 1 && item.back() == 'W') {
        auto day = parse_value(item.substr(0, item.size() - 1), kind);
        if (!day) {
          return day.error();
        }
        schedule.dom_specials_.push_back({DomSpecial::Kind::kNearestWeekday, *day});
      } else if (kind == FieldKind::kDayOfWeek && item.find('#') != std::string_view::npos) {
        const auto hash = item.find('#');
        auto weekday = parse_value(item.substr(0, hash), kind);
        if (!weekday) {
          return weekday.error();
        }
        const std::string_view nth_text = item.substr(hash + 1);
        const auto nth = parse_number(nth_text);
        if (!nth || *nth < 1 || *nth > 5) {
          return field_error(kind, quoted(item) + " occurrence out of range 1-5");
        }
        schedule.dow_specials_.push_back({*weekday % 7, *nth});
      } else if (kind == FieldKind::kDayOfWeek && item.size() > 1 && item.back() == 'L') {
        auto weekday = parse_value(item.substr(0, item.size() - 1), kind);
        if (!weekday) {
          return weekday.error();
        }
        schedule.dow_specials_.push_back({*weekday % 7, 0});
      } else {
        if (auto status = parse_range_item(item, kind, masks[f]); !status) {
          return status.error();
        }
      }
      if (comma == std::string_view::npos) {
        break;
      }
      rest = rest.substr(comma + 1);
    }
  }
  // Day-of-week 7 is Sunday.
  if ((masks[5] >> 7) & 1U) {
    masks[5] = (masks[5] | 1U) & 0x7FU;
  }

  schedule.seconds_ = std::bitset<60>(masks[0]);
  schedule.minutes_ = std::bitset<60>(masks[1]);
  schedule.hours_ = std::bitset<24>(masks[2]);
  schedule.days_ = std::bitset<32>(masks[3]);
  schedule.months_ = std::bitset<13>(masks[4]);
  schedule.weekdays_ = std::bitset<7>(masks[5]);
  // Like cronie, these are syntactic: they look at the first character as written.
  const auto starts_wild = [](std::string_view field) {
    return field.front() == '*' || field.front() == '?';
  };
  schedule.dom_restricted_ = !starts_wild(fields[3]);
  schedule.dow_restricted_ = !starts_wild(fields[5]);
  schedule.wildcard_ = fields[1].front() == '*' || fields[2].front() == '*';

  // Every time field is non-empty, so the schedule fires if and only if some day matches.
  bool fires = false;
  for (int year = 2000; year < 2400 && !fires; ++year) {
    for (unsigned month = 1; month <= 12 && !fires; ++month) {
      if (!schedule.month_matches(month)) {
        continue;
      }
      const unsigned last = days_in_month(year, month);
      for (unsigned day = 1; day <= last && !fires; ++day) {
        const date::weekday weekday{date::sys_days{date::year{year} / month / day}};
        fires = schedule.day_matches(year, month, day, weekday.c_encoding());
      }
    }
  }
  if (!fires) {
    if (schedule.dom_restricted_ && !schedule.dow_restricted_) {
      return invalid("never fires: day-of-month " + std::string(fields[3]) + " does not occur in " +
                     join_months(masks[4]));
    }
    return invalid("never fires: no day matches day-of-month " + quoted(fields[3]) + ", month " +
                   quoted(fields[4]) + " and day-of-week " + quoted(fields[5]));
  }
  return schedule;
}

bool Schedule::day_matches(int year, unsigned month, unsigned day, unsigned weekday) const {
  const unsigned last = days_in_month(year, month);
  bool dom = days_.test(day);
  for (const DomSpecial& special : dom_specials_) {
    if (dom) {
      break;
    }
    switch (special.kind) {
      case DomSpecial::Kind::kLastMinus:
        dom = static_cast<int>(day) == static_cast<int>(last) - special.value;
        break;
      case DomSpecial::Kind::kNearestWeekday: {
        // The weekday nearest to the given day without leaving the month; a day the month
        // lacks never matches.
        const unsigned target = static_cast<unsigned>(special.value);
        if (target > last) {
          break;
        }
        const unsigned target_weekday = (weekday + 35 + target - day) % 7;
        unsigned nearest = target;
        if (target_weekday == 6) {
          nearest = target == 1 ? target + 2 : target - 1;
        } else if (target_weekday == 0) {
          nearest = target == last ? target - 2 : target + 1;
        }
        dom = day == nearest;
        break;
      }
      case DomSpecial::Kind::kLastWeekday: {
        const unsigned last_weekday = (weekday + 35 + last - day) % 7;
        unsigned nearest = last;
        if (last_weekday == 6) {
          nearest = last - 1;
        } else if (last_weekday == 0) {
          nearest = last - 2;
        }
        dom = day == nearest;
        break;
      }
    }
  }
  bool dow = weekdays_.test(weekday);
  for (const DowSpecial& special : dow_specials_) {
    if (dow) {
      break;
    }
    if (static_cast<unsigned>(special.weekday) != weekday) {
      continue;
    }
    dow =
        special.nth == 0 ? day + 7 > last : (day - 1) / 7 + 1 == static_cast<unsigned>(special.nth);
  }
  if (dom_restricted_ && dow_restricted_) {
    return dom || dow;
  }
  return dom && dow;
}

int Schedule::first_time_of_day(int second_of_day) const {
  const int first_hour = second_of_day / 3600;
  const int first_minute = second_of_day / 60 % 60;
  const int first_second = second_of_day % 60;
  for (int h = first_hour; h < 24; ++h) {
    if (!hours_.test(h)) {
      continue;
    }
    for (int m = h == first_hour ? first_minute : 0; m < 60; ++m) {
      if (!minutes_.test(m)) {
        continue;
      }
      for (int s = (h == first_hour && m == first_minute) ? first_second : 0; s < 60; ++s) {
        if (seconds_.test(s)) {
          return h * 3600 + m * 60 + s;
        }
      }
    }
  }
  return -1;
}

std::int64_t Schedule::next_local(std::int64_t start, std::int64_t limit) const {
  // Walks whole days and skips whole months, so a search across years costs a few thousand
  // cheap day checks at most.
  std::int64_t day_number =
      start >= 0 ? start / kSecondsPerDay : -((-start + kSecondsPerDay - 1) / kSecondsPerDay);
  int second_of_day = static_cast<int>(start - day_number * kSecondsPerDay);
  while (day_number * kSecondsPerDay < limit) {
    const date::sys_days days{date::days{day_number}};
    const date::year_month_day ymd{days};
    const unsigned month = static_cast<unsigned>(ymd.month());
    if (!month_matches(month)) {
      const date::year_month next_month = ymd.year() / ymd.month() + date::months{1};
      day_number = date::sys_days{next_month / 1}.time_since_epoch().count();
      second_of_day = 0;
      continue;
    }
    const int year = static_cast<int>(ymd.year());
    const unsigned day = static_cast<unsigned>(ymd.day());
    if (day_matches(year, month, day, date::weekday{days}.c_encoding())) {
      const int time = first_time_of_day(second_of_day);
      if (time >= 0) {
        return std::min(limit, day_number * kSecondsPerDay + time);
      }
    }
    ++day_number;
    second_of_day = 0;
  }
  return limit;
}

namespace {

// system_clock counts nanoseconds and ends in 2262: a fire time past it is "never".
system_clock::time_point to_time_point(std::int64_t unix_seconds) {
  constexpr std::int64_t kLastSecond =
      std::chrono::duration_cast<std::chrono::seconds>(system_clock::duration::max()).count() - 1;
  if (unix_seconds > kLastSecond) {
    return system_clock::time_point::max();
  }
  return system_clock::time_point{std::chrono::seconds{unix_seconds}};
}

}  // namespace

system_clock::time_point Schedule::next_fixed(std::chrono::sys_seconds after) const {
  using std::chrono::seconds;
  const std::int64_t after_local = zone_->to_local(after).time_since_epoch().count();
  std::int64_t start = after_local + 1;
  const std::int64_t limit = start + kSearchHorizonSeconds;
  while (start < limit) {
    const std::int64_t local = next_local(start, limit);
    if (local >= limit) {
      break;
    }
    const date::local_info info = zone_->get_info(date::local_seconds{seconds{local}});
    const std::int64_t first_offset = info.first.offset.count();
    switch (info.result) {
      case date::local_info::unique:
        if (local - first_offset > after.time_since_epoch().count()) {
          return to_time_point(local - first_offset);
        }
        start = local + 1;
        break;
      case date::local_info::nonexistent:
        // A time skipped by the gap fires once, at the first instant after it.
        if (info.second.begin > after) {
          return to_time_point(info.second.begin.time_since_epoch().count());
        }
        start = local + 1;
        break;
      case date::local_info::ambiguous: {
        // A repeated time fires at its first occurrence only. If that is past, so is every
        // first occurrence up to the end of the repeated range, so jump over it.
        if (local - first_offset > after.time_since_epoch().count()) {
          return to_time_point(local - first_offset);
        }
        const std::int64_t overlap_end =
            info.second.begin.time_since_epoch().count() + first_offset;
        start = std::max(local + 1, overlap_end);
        break;
      }
    }
  }
  return system_clock::time_point::max();
}

system_clock::time_point Schedule::next_wildcard(std::chrono::sys_seconds after) const {
  using std::chrono::seconds;
  // Walk the zone's constant-offset periods in real time; in each one the local clock is a
  // plain shift of real time, so the first match there is the answer.
  std::int64_t instant = after.time_since_epoch().count() + 1;
  const std::int64_t horizon = instant + kSearchHorizonSeconds;
  while (instant < horizon) {
    const date::sys_info info = zone_->get_info(date::sys_seconds{seconds{instant}});
    const std::int64_t offset = info.offset.count();
    const std::int64_t period_end = std::min(horizon, info.end.time_since_epoch().count());
    const std::int64_t limit = period_end + offset;
    const std::int64_t local = next_local(instant + offset, limit);
    if (local < limit) {
      return to_time_point(local - offset);
    }
    instant = period_end;
  }
  return system_clock::time_point::max();
}

system_clock::time_point Schedule::next(system_clock::time_point after) const {
  if (after == system_clock::time_point::max()) {
    return after;
  }
  if (is_every()) {
    return after > system_clock::time_point::max() - every_ ? system_clock::time_point::max()
                                                            : after + every_;
  }
  const auto after_seconds = std::chrono::floor<std::chrono::seconds>(after);
  return wildcard_ ? next_wildcard(after_seconds) : next_fixed(after_seconds);
}

std::string format_iso8601(system_clock::time_point t, std::string_view timezone) {
  const date::time_zone* zone = find_zone(timezone);
  const auto seconds = std::chrono::floor<std::chrono::seconds>(t);
  const std::int64_t offset = zone != nullptr ? zone->get_info(seconds).offset.count() : 0;
  const auto local = date::sys_seconds{seconds.time_since_epoch() + std::chrono::seconds{offset}};
  const auto day = std::chrono::floor<date::days>(local);
  const date::year_month_day ymd{day};
  const date::hh_mm_ss<std::chrono::seconds> time{local - day};
  const std::int64_t offset_minutes = (offset < 0 ? -offset : offset) / 60;
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%04d-%02u-%02uT%02d:%02d:%02d%c%02d:%02d",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(time.hours().count()),
                static_cast<int>(time.minutes().count()), static_cast<int>(time.seconds().count()),
                offset < 0 ? '-' : '+', static_cast<int>(offset_minutes / 60),
                static_cast<int>(offset_minutes % 60));
  return buffer;
}

}  // namespace switchyard::triggers::cron
