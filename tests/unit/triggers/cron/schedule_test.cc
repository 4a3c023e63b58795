#include "triggers/cron/schedule.h"

#include <date/date.h>
#include <date/tz.h>
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "config/units.h"

using switchyard::triggers::cron::format_iso8601;
using switchyard::triggers::cron::Schedule;
using TimePoint = std::chrono::system_clock::time_point;

namespace {

TimePoint utc(int year, unsigned month, unsigned day, int hour = 0, int minute = 0,
              int second = 0) {
  return date::sys_days{date::year{year} / month / day} + std::chrono::hours{hour} +
         std::chrono::minutes{minute} + std::chrono::seconds{second};
}

// The next `count` fire times after `after`, each fed back as the next `after`, as the cron
// trigger will do.
std::vector<std::string> fires(std::string_view expression, std::string_view timezone,
                               TimePoint after, int count) {
  auto schedule = Schedule::parse(expression, timezone);
  if (!schedule) {
    FAIL("parse failed for \"" << expression << "\": " << schedule.error().message());
  }
  std::vector<std::string> out;
  for (int i = 0; i < count; ++i) {
    after = schedule->next(after);
    out.push_back(format_iso8601(after, timezone));
  }
  return out;
}

std::string parse_error(std::string_view expression, std::string_view timezone = "UTC") {
  auto schedule = Schedule::parse(expression, timezone);
  if (schedule) {
    return "<parsed>";
  }
  return schedule.error().message();
}

using Fires = std::vector<std::string>;

}  // namespace

TEST_CASE("the system tz database is available") {
  const date::time_zone* berlin = date::locate_zone("Europe/Berlin");
  REQUIRE(berlin != nullptr);
  CHECK(format_iso8601(utc(2026, 7, 1, 12), "Europe/Berlin") == "2026-07-01T14:00:00+02:00");
  CHECK(format_iso8601(utc(2026, 1, 1, 12), "America/New_York") == "2026-01-01T07:00:00-05:00");
  CHECK(format_iso8601(utc(2026, 1, 1, 12), "UTC") == "2026-01-01T12:00:00+00:00");
  CHECK(format_iso8601(utc(2026, 1, 1, 12), "Asia/Kolkata") == "2026-01-01T17:30:00+05:30");
}

TEST_CASE("lists, ranges and steps") {
  const TimePoint after = utc(2026, 1, 1);
  CHECK(fires("*/15 * * * *", "UTC", after, 4) ==
        Fires{"2026-01-01T00:15:00+00:00", "2026-01-01T00:30:00+00:00", "2026-01-01T00:45:00+00:00",
              "2026-01-01T01:00:00+00:00"});
  CHECK(fires("0 9-17/4 * * *", "UTC", after, 4) ==
        Fires{"2026-01-01T09:00:00+00:00", "2026-01-01T13:00:00+00:00", "2026-01-01T17:00:00+00:00",
              "2026-01-02T09:00:00+00:00"});
  // "5/20" is "5-59/20".
  CHECK(fires("5/20 * * * *", "UTC", after, 4) ==
        Fires{"2026-01-01T00:05:00+00:00", "2026-01-01T00:25:00+00:00", "2026-01-01T00:45:00+00:00",
              "2026-01-01T01:05:00+00:00"});
  CHECK(fires("10-50/20,59 3 * * *", "UTC", after, 4) ==
        Fires{"2026-01-01T03:10:00+00:00", "2026-01-01T03:30:00+00:00", "2026-01-01T03:50:00+00:00",
              "2026-01-01T03:59:00+00:00"});
  CHECK(fires("0 0 1 1,7 *", "UTC", after, 3) == Fires{"2026-07-01T00:00:00+00:00",
                                                       "2027-01-01T00:00:00+00:00",
                                                       "2027-07-01T00:00:00+00:00"});
}

TEST_CASE("month and weekday names are case-insensitive, also in ranges") {
  const TimePoint after = utc(2026, 1, 1);
  CHECK(fires("0 0 1 jan,JUL *", "UTC", after, 2) ==
        Fires{"2026-07-01T00:00:00+00:00", "2027-01-01T00:00:00+00:00"});
  CHECK(fires("0 0 1 Nov-dec *", "UTC", after, 3) == Fires{"2026-11-01T00:00:00+00:00",
                                                           "2026-12-01T00:00:00+00:00",
                                                           "2027-11-01T00:00:00+00:00"});
  // 2026-01-02 is a Friday.
  CHECK(
      fires("0 12 * * MON-fri", "UTC", utc(2026, 1, 2, 13), 3) ==
      Fires{"2026-01-05T12:00:00+00:00", "2026-01-06T12:00:00+00:00", "2026-01-07T12:00:00+00:00"});
  CHECK(fires("0 12 * * sat,SUN", "UTC", after, 3) == Fires{"2026-01-03T12:00:00+00:00",
                                                            "2026-01-04T12:00:00+00:00",
                                                            "2026-01-10T12:00:00+00:00"});
}

TEST_CASE("day-of-week 7 is Sunday, like 0") {
  const TimePoint after = utc(2026, 1, 1);
  const Fires sundays{"2026-01-04T00:00:00+00:00", "2026-01-11T00:00:00+00:00"};
  CHECK(fires("0 0 * * 7", "UTC", after, 2) == sundays);
  CHECK(fires("0 0 * * 0", "UTC", after, 2) == sundays);
  CHECK(fires("0 0 * * 6-7", "UTC", after, 3) == Fires{"2026-01-03T00:00:00+00:00",
                                                       "2026-01-04T00:00:00+00:00",
                                                       "2026-01-10T00:00:00+00:00"});
}

TEST_CASE("six fields add seconds") {
  const TimePoint after = utc(2026, 1, 1, 10, 0, 0);
  CHECK(fires("*/20 * * * * *", "UTC", after, 4) ==
        Fires{"2026-01-01T10:00:20+00:00", "2026-01-01T10:00:40+00:00", "2026-01-01T10:01:00+00:00",
              "2026-01-01T10:01:20+00:00"});
  CHECK(fires("30 15 10 * * *", "UTC", after, 2) ==
        Fires{"2026-01-01T10:15:30+00:00", "2026-01-02T10:15:30+00:00"});
  // Five fields fire at second 0; a sub-second `after` still moves strictly forward.
  CHECK(fires("* * * * *", "UTC", after + std::chrono::milliseconds(500), 2) ==
        Fires{"2026-01-01T10:01:00+00:00", "2026-01-01T10:02:00+00:00"});
}

TEST_CASE("macros") {
  const TimePoint after = utc(2026, 5, 5, 12, 30);  // A Tuesday.
  CHECK(fires("@yearly", "UTC", after, 1) == Fires{"2027-01-01T00:00:00+00:00"});
  CHECK(fires("@annually", "UTC", after, 1) == Fires{"2027-01-01T00:00:00+00:00"});
  CHECK(fires("@monthly", "UTC", after, 1) == Fires{"2026-06-01T00:00:00+00:00"});
  CHECK(fires("@weekly", "UTC", after, 1) == Fires{"2026-05-10T00:00:00+00:00"});
  CHECK(fires("@daily", "UTC", after, 1) == Fires{"2026-05-06T00:00:00+00:00"});
  CHECK(fires("@midnight", "UTC", after, 1) == Fires{"2026-05-06T00:00:00+00:00"});
  CHECK(fires("@HOURLY", "UTC", after, 2) ==
        Fires{"2026-05-05T13:00:00+00:00", "2026-05-05T14:00:00+00:00"});
}

TEST_CASE("@every counts real time from the previous fire") {
  auto schedule = Schedule::parse("@every 90s");
  REQUIRE(schedule.ok());
  CHECK(schedule->is_every());
  CHECK(schedule->every() == std::chrono::seconds(90));
  CHECK(fires("@every 90s", "UTC", utc(2026, 1, 1, 12), 3) == Fires{"2026-01-01T12:01:30+00:00",
                                                                    "2026-01-01T12:03:00+00:00",
                                                                    "2026-01-01T12:04:30+00:00"});
  auto long_every = Schedule::parse("@every 1h30m");
  REQUIRE(long_every.ok());
  CHECK(long_every->every() == std::chrono::minutes(90));
  CHECK(Schedule::parse("@every 1s").ok());
  // The longest interval saturates at the end of the clock's range instead of overflowing.
  auto century = Schedule::parse("@every 876000h");
  REQUIRE(century.ok());
  auto t = utc(2026, 1, 1);
  t = century->next(century->next(t));
  CHECK(t > utc(2225, 1, 1));
  CHECK(century->next(t) == std::chrono::system_clock::time_point::max());
  CHECK_FALSE(Schedule::parse("0 * * * *")->is_every());
  // The repeated hour is real time too, so the interval does not stretch across it.
  CHECK(
      fires("@every 30m", "Europe/Berlin", utc(2026, 10, 25, 0, 0), 3) ==
      Fires{"2026-10-25T02:30:00+02:00", "2026-10-25T02:00:00+01:00", "2026-10-25T02:30:00+01:00"});
}

TEST_CASE("February 29 fires only in leap years, February 30 never") {
  CHECK(fires("0 0 29 2 *", "UTC", utc(2026, 1, 1), 2) ==
        Fires{"2028-02-29T00:00:00+00:00", "2032-02-29T00:00:00+00:00"});
  CHECK(parse_error("0 0 30 2 *") == "never fires: day-of-month 30 does not occur in February");
  CHECK(parse_error("0 0 31 4,6 *") ==
        "never fires: day-of-month 31 does not occur in April or June");
  CHECK(parse_error("0 0 30,31 FEB *") ==
        "never fires: day-of-month 30,31 does not occur in February");
  CHECK(parse_error("0 0 31W 2 *") == "never fires: day-of-month 31W does not occur in February");
  // The fifth Friday of February needs a leap year starting on a Friday: every 28 years.
  CHECK(fires("0 0 ? 2 FRI#5", "UTC", utc(2026, 1, 1), 1) == Fires{"2036-02-29T00:00:00+00:00"});
}

TEST_CASE("L is the last day of the month, L-n counts back from it") {
  CHECK(fires("0 0 L * *", "UTC", utc(2026, 1, 1), 4) ==
        Fires{"2026-01-31T00:00:00+00:00", "2026-02-28T00:00:00+00:00", "2026-03-31T00:00:00+00:00",
              "2026-04-30T00:00:00+00:00"});
  CHECK(fires("0 0 L 2 *", "UTC", utc(2027, 3, 1), 2) ==
        Fires{"2028-02-29T00:00:00+00:00", "2029-02-28T00:00:00+00:00"});
  CHECK(fires("0 0 L-3 * *", "UTC", utc(2026, 1, 1), 2) ==
        Fires{"2026-01-28T00:00:00+00:00", "2026-02-25T00:00:00+00:00"});
  CHECK(fires("0 0 1,L * *", "UTC", utc(2026, 1, 1), 3) == Fires{"2026-01-31T00:00:00+00:00",
                                                                 "2026-02-01T00:00:00+00:00",
                                                                 "2026-02-28T00:00:00+00:00"});
}

TEST_CASE("W is the nearest weekday within the same month") {
  // 2026-08-01 is a Saturday: the nearest weekday in August is Monday the 3rd, not Friday
  // July 31st. 2027-08-01 is a Sunday: Monday the 2nd.
  CHECK(fires("0 0 1W 8 *", "UTC", utc(2026, 1, 1), 2) ==
        Fires{"2026-08-03T00:00:00+00:00", "2027-08-02T00:00:00+00:00"});
  // 2026-05-31 is a Sunday: Friday the 29th, not Monday June 1st. Months without a 31st are
  // skipped; 2026-07-31 is a Friday, 2026-08-31 a Monday.
  CHECK(fires("0 0 31W * *", "UTC", utc(2026, 4, 1), 3) == Fires{"2026-05-29T00:00:00+00:00",
                                                                 "2026-07-31T00:00:00+00:00",
                                                                 "2026-08-31T00:00:00+00:00"});
  // 15th: Sunday -> Monday 16th, Sunday -> Monday 16th, Wednesday, Friday.
  CHECK(fires("0 0 15W * *", "UTC", utc(2026, 2, 1), 4) ==
        Fires{"2026-02-16T00:00:00+00:00", "2026-03-16T00:00:00+00:00", "2026-04-15T00:00:00+00:00",
              "2026-05-15T00:00:00+00:00"});
  // 2026-08-15 is a Saturday: Friday the 14th.
  CHECK(fires("0 0 15W 8 *", "UTC", utc(2026, 1, 1), 1) == Fires{"2026-08-14T00:00:00+00:00"});
}

TEST_CASE("LW is the last weekday of the month") {
  // January 31st and February 28th 2026 are Saturdays; March 31st is a Tuesday; May 31st is a
  // Sunday.
  CHECK(fires("0 0 LW * *", "UTC", utc(2026, 1, 1), 5) ==
        Fires{"2026-01-30T00:00:00+00:00", "2026-02-27T00:00:00+00:00", "2026-03-31T00:00:00+00:00",
              "2026-04-30T00:00:00+00:00", "2026-05-29T00:00:00+00:00"});
}

TEST_CASE("# picks the nth weekday, L the last one") {
  const TimePoint after = utc(2026, 1, 1);
  CHECK(fires("0 0 * * FRI#2", "UTC", after, 4) ==
        Fires{"2026-01-09T00:00:00+00:00", "2026-02-13T00:00:00+00:00", "2026-03-13T00:00:00+00:00",
              "2026-04-10T00:00:00+00:00"});
  CHECK(fires("0 0 * * 5#3", "UTC", after, 3) == Fires{"2026-01-16T00:00:00+00:00",
                                                       "2026-02-20T00:00:00+00:00",
                                                       "2026-03-20T00:00:00+00:00"});
  const Fires last_fridays{"2026-01-30T00:00:00+00:00", "2026-02-27T00:00:00+00:00",
                           "2026-03-27T00:00:00+00:00", "2026-04-24T00:00:00+00:00"};
  CHECK(fires("0 0 * * 5L", "UTC", after, 4) == last_fridays);
  CHECK(fires("0 0 ? * FRIL", "UTC", after, 4) == last_fridays);
  CHECK(fires("0 0 * * 1#1,FRI#2", "UTC", after, 3) == Fires{"2026-01-05T00:00:00+00:00",
                                                             "2026-01-09T00:00:00+00:00",
                                                             "2026-02-02T00:00:00+00:00"});
}

TEST_CASE("Vixie rule: restricted day-of-month and day-of-week match either") {
  // 2026-06-01 is a Monday; strictly after its midnight.
  const TimePoint after = utc(2026, 6, 1);
  CHECK(fires("0 0 1,15 * MON", "UTC", after, 6) ==
        Fires{"2026-06-08T00:00:00+00:00", "2026-06-15T00:00:00+00:00", "2026-06-22T00:00:00+00:00",
              "2026-06-29T00:00:00+00:00", "2026-07-01T00:00:00+00:00",
              "2026-07-06T00:00:00+00:00"});
  // `?` or a field beginning with `*` is not a restriction, so the other field alone decides,
  // and `*/10` (days 1, 11, 21, 31) is ANDed with Monday, as in cronie.
  CHECK(fires("0 0 ? * MON", "UTC", after, 2) ==
        Fires{"2026-06-08T00:00:00+00:00", "2026-06-15T00:00:00+00:00"});
  CHECK(fires("0 0 1,15 * ?", "UTC", after, 2) ==
        Fires{"2026-06-15T00:00:00+00:00", "2026-07-01T00:00:00+00:00"});
  CHECK(fires("0 0 */10 * MON", "UTC", after, 3) == Fires{"2026-08-31T00:00:00+00:00",
                                                          "2026-09-21T00:00:00+00:00",
                                                          "2026-12-21T00:00:00+00:00"});
}

TEST_CASE("Europe/Berlin spring forward: a fixed time in the gap fires once at its end") {
  // 2026-03-29 02:00 CET jumps to 03:00 CEST.
  const TimePoint after = utc(2026, 3, 28, 12);
  CHECK(fires("30 2 * * *", "Europe/Berlin", after, 3) == Fires{"2026-03-29T03:00:00+02:00",
                                                                "2026-03-30T02:30:00+02:00",
                                                                "2026-03-31T02:30:00+02:00"});
  // Several times in the gap still fire only once.
  CHECK(fires("0,30 2 * * *", "Europe/Berlin", after, 3) == Fires{"2026-03-29T03:00:00+02:00",
                                                                  "2026-03-30T02:00:00+02:00",
                                                                  "2026-03-30T02:30:00+02:00"});
  // A time at the end of the gap is not doubled by the skipped ones.
  CHECK(fires("30 2,3 * * *", "Europe/Berlin", after, 3) == Fires{"2026-03-29T03:00:00+02:00",
                                                                  "2026-03-29T03:30:00+02:00",
                                                                  "2026-03-30T02:30:00+02:00"});
  CHECK(fires("0 30 2 * * *", "Europe/Berlin", after, 1) == Fires{"2026-03-29T03:00:00+02:00"});
}

TEST_CASE("Europe/Berlin spring forward: wildcard schedules keep real time") {
  CHECK(
      fires("* * * * *", "Europe/Berlin", utc(2026, 3, 29, 0, 58), 3) ==
      Fires{"2026-03-29T01:59:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-29T03:01:00+02:00"});
  CHECK(
      fires("@hourly", "Europe/Berlin", utc(2026, 3, 28, 23, 30), 3) ==
      Fires{"2026-03-29T01:00:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-29T04:00:00+02:00"});
  // A minute wildcard inside the skipped hour does not fire at all that day (cronie).
  CHECK(fires("*/30 2 * * *", "Europe/Berlin", utc(2026, 3, 29), 1) ==
        Fires{"2026-03-30T02:00:00+02:00"});
}

TEST_CASE("Europe/Berlin fall back: a fixed time in the repeated hour fires once") {
  // 2026-10-25 03:00 CEST goes back to 02:00 CET.
  const TimePoint after = utc(2026, 10, 24, 12);
  CHECK(fires("30 2 * * *", "Europe/Berlin", after, 2) ==
        Fires{"2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"});
  CHECK(fires("0,30 2 * * *", "Europe/Berlin", after, 3) == Fires{"2026-10-25T02:00:00+02:00",
                                                                  "2026-10-25T02:30:00+02:00",
                                                                  "2026-10-26T02:00:00+01:00"});
  // Asked from inside the second 02:xx, the first occurrences are past.
  CHECK(fires("0,30 2 * * *", "Europe/Berlin", utc(2026, 10, 25, 1, 10), 1) ==
        Fires{"2026-10-26T02:00:00+01:00"});
  CHECK(fires("0 3 * * *", "Europe/Berlin", after, 1) == Fires{"2026-10-25T03:00:00+01:00"});
}

TEST_CASE("Europe/Berlin fall back: wildcard schedules fire through both hours") {
  CHECK(
      fires("* * * * *", "Europe/Berlin", utc(2026, 10, 25, 0, 58), 3) ==
      Fires{"2026-10-25T02:59:00+02:00", "2026-10-25T02:00:00+01:00", "2026-10-25T02:01:00+01:00"});
  CHECK(
      fires("@hourly", "Europe/Berlin", utc(2026, 10, 24, 23, 30), 3) ==
      Fires{"2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00", "2026-10-25T03:00:00+01:00"});
  CHECK(fires("*/30 2 * * *", "Europe/Berlin", utc(2026, 10, 24, 12), 4) ==
        Fires{"2026-10-25T02:00:00+02:00", "2026-10-25T02:30:00+02:00", "2026-10-25T02:00:00+01:00",
              "2026-10-25T02:30:00+01:00"});
}

TEST_CASE("America/New_York spring forward") {
  // 2026-03-08 02:00 EST jumps to 03:00 EDT.
  CHECK(fires("30 2 * * *", "America/New_York", utc(2026, 3, 7, 12), 2) ==
        Fires{"2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"});
  CHECK(
      fires("* * * * *", "America/New_York", utc(2026, 3, 8, 6, 58), 3) ==
      Fires{"2026-03-08T01:59:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T03:01:00-04:00"});
}

TEST_CASE("America/New_York fall back") {
  // 2026-11-01 02:00 EDT goes back to 01:00 EST.
  CHECK(fires("30 1 * * *", "America/New_York", utc(2026, 10, 31, 12), 2) ==
        Fires{"2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"});
  CHECK(
      fires("* * * * *", "America/New_York", utc(2026, 11, 1, 5, 58), 3) ==
      Fires{"2026-11-01T01:59:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T01:01:00-05:00"});
}

TEST_CASE("wildcard classification follows cronie's minute-or-hour rule") {
  CHECK(Schedule::parse("* * * * *")->is_wildcard());
  CHECK(Schedule::parse("*/5 * * * * *")->is_wildcard());
  CHECK(Schedule::parse("0 * * * *")->is_wildcard());
  CHECK(Schedule::parse("* 3 * * *")->is_wildcard());
  CHECK(Schedule::parse("@hourly")->is_wildcard());
  CHECK_FALSE(Schedule::parse("0-59 0-23 * * *")->is_wildcard());
  CHECK_FALSE(Schedule::parse("30 2 * * *")->is_wildcard());
  CHECK_FALSE(Schedule::parse("@daily")->is_wildcard());
}

TEST_CASE("the expression and zone are kept as given") {
  auto schedule = Schedule::parse("  0 9 * * MON-FRI ", "Europe/Berlin");
  REQUIRE(schedule.ok());
  CHECK(schedule->expression() == "0 9 * * MON-FRI");
  CHECK(schedule->timezone() == "Europe/Berlin");
}

TEST_CASE("error messages point at the field") {
  CHECK(parse_error("61 * * * *") == "minute: \"61\" out of range 0-59");
  CHECK(parse_error("60 * * * * *") == "second: \"60\" out of range 0-59");
  CHECK(parse_error("0 24 * * *") == "hour: \"24\" out of range 0-23");
  CHECK(parse_error("0 0 32 * *") == "day-of-month: \"32\" out of range 1-31");
  CHECK(parse_error("0 0 0 * *") == "day-of-month: \"0\" out of range 1-31");
  CHECK(parse_error("0 0 * 13 *") == "month: \"13\" out of range 1-12");
  CHECK(parse_error("0 0 * * 8") == "day-of-week: \"8\" out of range 0-7");
  CHECK(parse_error("0 10-61 * * *") == "hour: \"61\" out of range 0-23");
  CHECK(parse_error("* * * *") == "expected 5 or 6 fields (got 4)");
  CHECK(parse_error("* * * * * * *") == "expected 5 or 6 fields (got 7)");
  CHECK(parse_error("") == "empty expression");
  CHECK(parse_error("0 0 1 FOO *") == "unknown month name \"FOO\"");
  CHECK(parse_error("0 0 * * fun") == "unknown weekday name \"FUN\"");
  CHECK(parse_error("*/0 * * * *") == "minute: step \"0\" must be a number of at least 1");
  CHECK(parse_error("*/x * * * *") == "minute: step \"X\" must be a number of at least 1");
  CHECK(parse_error("30-10 * * * *") == "minute: range \"30-10\" is reversed");
  CHECK(parse_error("? * * * *") ==
        "minute: \"?\" is only allowed in day-of-month and day-of-week");
  CHECK(parse_error("1,,2 * * * *") == "minute: empty list item in \"1,,2\"");
  CHECK(parse_error("1a * * * *") == "minute: cannot parse \"1A\"");
  CHECK(parse_error("0 0 32W * *") == "day-of-month: \"32\" out of range 1-31");
  CHECK(parse_error("0 0 L-31 * *") == "day-of-month: \"L-31\" offset out of range 0-30");
  CHECK(parse_error("0 0 LX * *") == "day-of-month: cannot parse \"LX\"");
  CHECK(parse_error("0 0 * * FRI#6") == "day-of-week: \"FRI#6\" occurrence out of range 1-5");
  CHECK(parse_error("0 0 * * 5#0") == "day-of-week: \"5#0\" occurrence out of range 1-5");
  CHECK(parse_error("@fortnightly") == "unknown macro \"@fortnightly\"");
  CHECK(parse_error("@every 500ms") == "@every: duration \"500ms\" is shorter than 1s");
  // @every takes the config's duration syntax, and its messages.
  CHECK(parse_error("@every soon") ==
        "@every: " + switchyard::config::parse_duration("soon").error().message());
  CHECK(parse_error("@every") ==
        "@every: " + switchyard::config::parse_duration("").error().message());
  // Found by the fuzzer: a duration of centuries overflowed the nanosecond clock in next().
  CHECK(parse_error("@every 99999h999h99h995h99560h99h995h999h93h999h999990h") ==
        "@every: invalid duration \"99999h999h99h995h99560h99h995h999h93h999h999990h\": too large "
        "(at most 876000h, 100 years)");
  CHECK(parse_error("0 0 * * *", "Mars/Olympus_Mons") == "unknown time zone \"Mars/Olympus_Mons\"");
  CHECK(parse_error("0 0 30 2 *") == "never fires: day-of-month 30 does not occur in February");
}

TEST_CASE("fire times past the end of system_clock are never, not an overflow") {
  auto schedule = Schedule::parse("0 0 ? 2 FRI#5", "UTC");
  REQUIRE(schedule.ok());
  TimePoint after = utc(2250, 1, 1);
  after = schedule->next(after);
  CHECK(format_iso8601(after, "UTC") == "2256-02-29T00:00:00+00:00");
  CHECK(schedule->next(after) == std::chrono::system_clock::time_point::max());
  CHECK(schedule->next(std::chrono::system_clock::time_point::max()) ==
        std::chrono::system_clock::time_point::max());
}

TEST_CASE("next() is fast for rare schedules") {
  const char* expressions[] = {"0 0 29 2 *",  "0 0 ? 2 FRI#5", "0 0 31W * *",
                               "* * * * * *", "30 2 * * *",    "0 0 1,15 * MON"};
  for (const char* expression : expressions) {
    auto schedule = Schedule::parse(expression, "Europe/Berlin");
    REQUIRE(schedule.ok());
    TimePoint after = utc(2026, 1, 1);
    const auto started = std::chrono::steady_clock::now();
    constexpr int kCalls = 200;
    for (int i = 0; i < kCalls; ++i) {
      after = schedule->next(after);
    }
    // FRI#5 in February comes every 28 years: 200 of them run past the clock's end in 2262,
    // where next() says "never" instead of overflowing.
    const auto per_call = (std::chrono::steady_clock::now() - started) / kCalls;
    INFO(expression);
    CHECK(per_call < std::chrono::milliseconds(1));
  }
}
