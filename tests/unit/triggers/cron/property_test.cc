// A property test of the cron engine: for many random valid expressions, the fire times that
// Schedule::next() computes over a year equal those of an independent brute-force scan, minute by
// minute, of the same allowed values. The generator builds each field as a set of allowed values
// first and then writes it in cron syntax (lists, ranges, steps, names, `*`, `?`, `L`, `#`), so
// the scan never parses cron text: the two sides share nothing but the calendar.

#include <date/date.h>
#include <doctest/doctest.h>

#include <bitset>
#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "triggers/cron/schedule.h"

using switchyard::triggers::cron::Schedule;
using Clock = std::chrono::system_clock;

namespace {

constexpr const char* kMonthNames[] = {"",    "JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                       "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr const char* kDayNames[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

// One field: the allowed values and how they were written.
struct Field {
  std::vector<bool> allowed;  // Indexed by value.
  std::string text;
  bool star = false;  // Written starting with `*` or `?` (unrestricted for Vixie's rule).
};

// A random field over [low, high]: `*`, `*/step`, a value, a range, a stepped range, or a list
// of those; `names` (optional) spells some values by name.
Field random_field(std::mt19937& rng, int low, int high, const char* const* names) {
  Field field;
  field.allowed.assign(static_cast<std::size_t>(high + 1), false);
  auto pick = [&](int a, int b) { return std::uniform_int_distribution<int>(a, b)(rng); };
  auto spell = [&](int value) {
    if (names != nullptr && pick(0, 2) == 0) {
      return std::string(names[value]);
    }
    return std::to_string(value);
  };
  int shape = pick(0, 9);
  if (shape == 0) {
    field.text = "*";
    field.star = true;
    for (int v = low; v <= high; ++v) {
      field.allowed[static_cast<std::size_t>(v)] = true;
    }
    return field;
  }
  if (shape == 1) {
    int step = pick(2, std::max(2, (high - low) / 2));
    field.text = "*/" + std::to_string(step);
    field.star = true;
    for (int v = low; v <= high; v += step) {
      field.allowed[static_cast<std::size_t>(v)] = true;
    }
    return field;
  }
  int items = pick(1, 3);
  for (int i = 0; i < items; ++i) {
    std::string item;
    int kind = pick(0, 2);
    int a = pick(low, high);
    if (kind == 0) {
      item = spell(a);
      field.allowed[static_cast<std::size_t>(a)] = true;
    } else {
      int b = pick(a, high);
      item = spell(a) + "-" + spell(b);
      int step = 1;
      if (kind == 2) {
        step = pick(1, std::max(1, b - a + 1));
        item += "/" + std::to_string(step);
      }
      for (int v = a; v <= b; v += step) {
        field.allowed[static_cast<std::size_t>(v)] = true;
      }
    }
    field.text += (field.text.empty() ? "" : ",") + item;
  }
  return field;
}

struct Expression {
  Field minute, hour, dom, month, dow;
  bool last_day = false;  // dom is "L".
  int nth_weekday = 0;    // dow is "<weekday>#<k>" (k = nth_k).
  int nth_k = 0;
  std::string text;
};

Expression random_expression(std::mt19937& rng) {
  auto pick = [&](int a, int b) { return std::uniform_int_distribution<int>(a, b)(rng); };
  Expression e;
  e.minute = random_field(rng, 0, 59, nullptr);
  e.hour = random_field(rng, 0, 23, nullptr);
  e.dom = random_field(rng, 1, 31, nullptr);
  e.month = random_field(rng, 1, 12, kMonthNames);
  e.dow = random_field(rng, 0, 6, kDayNames);
  int special = pick(0, 9);
  if (special == 0) {
    e.last_day = true;
    e.dom.text = "L";
    e.dom.star = false;
  } else if (special == 1) {
    e.nth_weekday = pick(0, 6);
    e.nth_k = pick(1, 4);
    e.dow.text = std::string(kDayNames[e.nth_weekday]) + "#" + std::to_string(e.nth_k);
    e.dow.star = false;
  } else if (special == 2) {
    e.dow.text = "?";
    e.dow.star = true;
    e.dow.allowed.assign(7, true);
  }
  e.text =
      e.minute.text + " " + e.hour.text + " " + e.dom.text + " " + e.month.text + " " + e.dow.text;
  return e;
}

// Whether `e` fires at the UTC minute `t`, by looking at the calendar directly.
bool brute_matches(const Expression& e, date::sys_time<std::chrono::minutes> t) {
  auto day = date::floor<date::days>(t);
  date::year_month_day ymd{day};
  date::hh_mm_ss<std::chrono::minutes> time{t - day};
  auto minute = static_cast<std::size_t>(time.minutes().count());
  auto hour = static_cast<std::size_t>(time.hours().count());
  auto month = static_cast<unsigned>(ymd.month());
  auto mday = static_cast<unsigned>(ymd.day());
  unsigned weekday = date::weekday{day}.c_encoding();
  if (!e.minute.allowed[minute] || !e.hour.allowed[hour] || !e.month.allowed[month]) {
    return false;
  }
  bool dom_ok;
  if (e.last_day) {
    dom_ok = ymd.day() == (ymd.year() / ymd.month() / date::last).day();
  } else {
    dom_ok = e.dom.allowed[mday];
  }
  bool dow_ok;
  if (e.nth_k > 0) {
    dow_ok = weekday == static_cast<unsigned>(e.nth_weekday) &&
             (mday - 1) / 7 + 1 == static_cast<unsigned>(e.nth_k);
  } else {
    dow_ok = e.dow.allowed[weekday];
  }
  // Vixie cron: when both day fields are restricted, either may match.
  if (!e.dom.star && !e.dow.star) {
    return dom_ok || dow_ok;
  }
  return dom_ok && dow_ok;
}

}  // namespace

TEST_CASE("next() agrees with a minute-by-minute scan over a year for random expressions") {
  std::mt19937 rng(20261123);
  const auto begin = date::sys_days{date::year{2027} / 1 / 1} - std::chrono::minutes(7);
  const auto end = begin + date::days(366);
  int compared = 0;
  int fired_total = 0;
  for (int round = 0; round < 60; ++round) {
    Expression e = random_expression(rng);
    CAPTURE(e.text);
    auto schedule = Schedule::parse(e.text, "UTC");
    if (!schedule.ok()) {
      // Only "never fires" is acceptable (e.g. day 31 in a February-only schedule); the scan
      // must then agree that nothing fires.
      INFO(schedule.error().message());
      REQUIRE(schedule.error().message().find("never fires") != std::string::npos);
      continue;
    }
    std::vector<Clock::time_point> expected;
    for (auto t = date::floor<std::chrono::minutes>(begin) + std::chrono::minutes(1); t < end;
         t += std::chrono::minutes(1)) {
      if (brute_matches(e, t)) {
        expected.push_back(t);
      }
    }
    std::vector<Clock::time_point> actual;
    for (Clock::time_point t = schedule->next(begin); t < end; t = schedule->next(t)) {
      actual.push_back(t);
      if (actual.size() > expected.size() + 1) {
        break;
      }
    }
    REQUIRE(actual.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
      CAPTURE(i);
      REQUIRE(actual[i] == expected[i]);
    }
    ++compared;
    fired_total += static_cast<int>(expected.size());
  }
  // The generator must produce mostly valid schedules, or the test proves little.
  CHECK(compared >= 45);
  CHECK(fired_total > 1000);
}
