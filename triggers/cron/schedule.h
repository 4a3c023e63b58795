#pragma once

// A parsed cron expression and the computation of its next fire time in an IANA time zone.
//
// Schedules evaluate on the zone's local wall clock and treat daylight-saving changes as cronie
// does. A "wildcard" schedule (its minute or its hour field begins with `*`, as cronie's MIN_STAR
// and HR_STAR flags, plus @hourly) follows real elapsed time: local times skipped by a
// spring-forward gap do not fire, and local times repeated by a fall-back hour fire twice. Every
// other schedule is "fixed-time": a local time skipped by the gap fires once at the end of the
// gap, and a repeated local time fires once, at its first occurrence. `@every` counts real time.
//
// Thread rules: a Schedule is immutable after parse(), so const methods may be called from any
// thread at once.

#include <bitset>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace date {
class time_zone;
}  // namespace date

namespace switchyard::triggers::cron {

class Schedule {
 public:
  // Parses a 5-field (min hour dom month dow) or 6-field (sec min hour dom month dow)
  // expression, a macro (@yearly @annually @monthly @weekly @daily @midnight @hourly) or
  // "@every <duration>" (units h, m, s, ms; e.g. "@every 1h30m"; at least 1s). `timezone` is an
  // IANA name. Errors name the field they are about, e.g. `minute: "61" out of range 0-59`.
  static core::Result<Schedule> parse(std::string_view expression,
                                      std::string_view timezone = "UTC");

  // The first fire time strictly after `after`. For `@every` it is `after + every()`, so a caller
  // feeding back the previous fire time gets a steady interval.
  std::chrono::system_clock::time_point next(std::chrono::system_clock::time_point after) const;

  bool is_every() const { return every_.count() > 0; }
  std::chrono::milliseconds every() const { return every_; }
  const std::string& expression() const { return expression_; }
  const std::string& timezone() const { return timezone_; }
  // True when the schedule follows real elapsed time across DST changes (see the file comment).
  bool is_wildcard() const { return wildcard_; }

 private:
  // A `L`, `L-n`, `nW` or `LW` item of the day-of-month field.
  struct DomSpecial {
    enum class Kind : std::uint8_t { kLastMinus, kNearestWeekday, kLastWeekday };
    Kind kind;
    int value;  // n of `L-n` or `nW`.
  };
  // A `n#k` (k >= 1) or `nL` (k == 0) item of the day-of-week field.
  struct DowSpecial {
    int weekday;  // 0 = Sunday.
    int nth;      // 1-5, or 0 for "last in the month".
  };

  Schedule() = default;

  bool month_matches(unsigned month) const { return months_.test(month); }
  // Whether the schedule fires on any time of the local day y-m-d (weekday 0 = Sunday).
  bool day_matches(int year, unsigned month, unsigned day, unsigned weekday) const;
  // The first second of day at or after `second_of_day` that the time fields allow, or -1.
  int first_time_of_day(int second_of_day) const;
  // The first matching local time (seconds since the local epoch) at or after `start` and before
  // `limit`, or `limit` when there is none.
  std::int64_t next_local(std::int64_t start, std::int64_t limit) const;
  std::chrono::system_clock::time_point next_fixed(std::chrono::sys_seconds after) const;
  std::chrono::system_clock::time_point next_wildcard(std::chrono::sys_seconds after) const;

  std::string expression_;
  std::string timezone_;
  const date::time_zone* zone_ = nullptr;
  std::chrono::milliseconds every_{0};
  bool wildcard_ = false;

  std::bitset<60> seconds_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;    // 1-31.
  std::bitset<13> months_;  // 1-12.
  std::bitset<7> weekdays_;
  std::vector<DomSpecial> dom_specials_;
  std::vector<DowSpecial> dow_specials_;
  // Vixie cron ORs day-of-month and day-of-week when both are restricted (neither begins with
  // `*` or `?`), and ANDs them otherwise.
  bool dom_restricted_ = false;
  bool dow_restricted_ = false;
};

// ISO 8601 with the zone's offset at `t`, e.g. "2026-03-29T03:00:00+02:00". Fractions of a
// second are dropped. An unknown zone formats in UTC.
std::string format_iso8601(std::chrono::system_clock::time_point t, std::string_view timezone);

}  // namespace switchyard::triggers::cron
