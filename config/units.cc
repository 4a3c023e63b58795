#include "config/units.h"

#include <limits>
#include <optional>

namespace switchyard::config {
namespace {

constexpr std::string_view kDurationExpected =
    "expected a number followed by ms, s, m or h (e.g. 250ms, 5s)";
constexpr std::string_view kSizeExpected =
    "expected a number of bytes, optionally followed by B, KiB, MiB, GiB, KB, MB or GB "
    "(e.g. 512, 64KiB, 6MiB)";

// Fractions longer than this cannot be scaled exactly in 128 bits; nobody writes them anyway.
constexpr int kMaxFractionDigits = 18;

// A non-negative decimal number kept as integers, so "1.5s" scales to exactly 1500ms instead of
// going through floating point.
struct Decimal {
  std::uint64_t whole = 0;
  std::uint64_t fraction = 0;
  int fraction_digits = 0;
};

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Reads [0-9]+(\.[0-9]+)? from the front of text. Returns the number of characters consumed,
// or 0 if text does not start with a well-formed number (or it overflows).
std::size_t read_decimal(std::string_view text, Decimal& out) {
  std::size_t i = 0;
  out = Decimal{};
  while (i < text.size() && is_digit(text[i])) {
    std::uint64_t digit = static_cast<std::uint64_t>(text[i] - '0');
    if (__builtin_mul_overflow(out.whole, 10, &out.whole) ||
        __builtin_add_overflow(out.whole, digit, &out.whole)) {
      return 0;
    }
    ++i;
  }
  if (i == 0) {
    return 0;
  }
  if (i < text.size() && text[i] == '.') {
    std::size_t start = ++i;
    while (i < text.size() && is_digit(text[i])) {
      if (out.fraction_digits == kMaxFractionDigits) {
        return 0;
      }
      out.fraction = out.fraction * 10 + static_cast<std::uint64_t>(text[i] - '0');
      ++out.fraction_digits;
      ++i;
    }
    if (i == start) {
      return 0;
    }
  }
  return i;
}

enum class ScaleError { kNone, kInexact, kOverflow };

// Returns number * multiplier, which must be a whole number that fits in 63 bits.
std::optional<std::uint64_t> scale(const Decimal& number, std::uint64_t multiplier,
                                   ScaleError& error) {
  using Wide = unsigned __int128;
  Wide pow10 = 1;
  for (int i = 0; i < number.fraction_digits; ++i) {
    pow10 *= 10;
  }
  Wide fraction = static_cast<Wide>(number.fraction) * multiplier;
  if (fraction % pow10 != 0) {
    error = ScaleError::kInexact;
    return std::nullopt;
  }
  Wide total = static_cast<Wide>(number.whole) * multiplier + fraction / pow10;
  if (total > static_cast<Wide>(std::numeric_limits<std::int64_t>::max())) {
    error = ScaleError::kOverflow;
    return std::nullopt;
  }
  error = ScaleError::kNone;
  return static_cast<std::uint64_t>(total);
}

core::Error invalid(std::string_view what, std::string_view text, std::string_view detail) {
  std::string message = "invalid ";
  message += what;
  message += " \"";
  message += text;
  message += "\": ";
  message += detail;
  return core::Error(core::ErrorCode::kInvalidArgument, std::move(message));
}

std::optional<std::uint64_t> duration_unit(std::string_view unit) {
  if (unit == "ms") {
    return 1;
  }
  if (unit == "s") {
    return 1000;
  }
  if (unit == "m") {
    return 60 * 1000;
  }
  if (unit == "h") {
    return 60 * 60 * 1000;
  }
  return std::nullopt;
}

std::optional<std::uint64_t> size_unit(std::string_view unit) {
  struct Unit {
    std::string_view name;
    std::uint64_t bytes;
  };
  static constexpr Unit kUnits[] = {
      {"", 1},
      {"B", 1},
      {"KiB", 1ull << 10},
      {"MiB", 1ull << 20},
      {"GiB", 1ull << 30},
      {"TiB", 1ull << 40},
      {"KB", 1000ull},
      {"MB", 1000ull * 1000},
      {"GB", 1000ull * 1000 * 1000},
      {"TB", 1000ull * 1000 * 1000 * 1000},
  };
  for (const Unit& unit_entry : kUnits) {
    if (unit_entry.name == unit) {
      return unit_entry.bytes;
    }
  }
  return std::nullopt;
}

}  // namespace

core::Result<std::chrono::milliseconds> parse_duration(std::string_view text) {
  if (text == "0") {
    return std::chrono::milliseconds(0);
  }
  if (!text.empty() && text.front() == '-') {
    return invalid("duration", text, "durations cannot be negative");
  }
  std::uint64_t total = 0;
  std::size_t i = 0;
  if (text.empty()) {
    return invalid("duration", text, kDurationExpected);
  }
  // Compounds such as "1m30s" are a sequence of number-unit pairs.
  while (i < text.size()) {
    Decimal number;
    std::size_t consumed = read_decimal(text.substr(i), number);
    if (consumed == 0) {
      return invalid("duration", text, kDurationExpected);
    }
    i += consumed;
    std::size_t unit_start = i;
    while (i < text.size() && !is_digit(text[i]) && text[i] != '.') {
      ++i;
    }
    std::string_view unit = text.substr(unit_start, i - unit_start);
    if (unit.empty()) {
      return invalid("duration", text,
                     std::string("missing unit; ") + std::string(kDurationExpected));
    }
    if (unit == "us" || unit == "ns" || unit == "\xc2\xb5s") {
      return invalid(
          "duration", text,
          std::string("durations have millisecond resolution; ") + std::string(kDurationExpected));
    }
    std::optional<std::uint64_t> multiplier = duration_unit(unit);
    if (!multiplier) {
      return invalid("duration", text, kDurationExpected);
    }
    ScaleError error = ScaleError::kNone;
    std::optional<std::uint64_t> part = scale(number, *multiplier, error);
    if (error == ScaleError::kInexact) {
      return invalid("duration", text,
                     "durations have millisecond resolution; the value must be a whole number "
                     "of milliseconds");
    }
    if (!part || __builtin_add_overflow(total, *part, &total) ||
        total > static_cast<std::uint64_t>(kMaxDuration.count())) {
      return invalid("duration", text, "too large (at most 876000h, 100 years)");
    }
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(total));
}

core::Result<std::uint64_t> parse_size(std::string_view text) {
  if (!text.empty() && text.front() == '-') {
    return invalid("size", text, "sizes cannot be negative");
  }
  Decimal number;
  std::size_t consumed = read_decimal(text, number);
  if (consumed == 0) {
    return invalid("size", text, kSizeExpected);
  }
  std::optional<std::uint64_t> multiplier = size_unit(text.substr(consumed));
  if (!multiplier) {
    return invalid("size", text, kSizeExpected);
  }
  ScaleError error = ScaleError::kNone;
  std::optional<std::uint64_t> bytes = scale(number, *multiplier, error);
  if (error == ScaleError::kInexact) {
    return invalid("size", text, "not a whole number of bytes");
  }
  if (!bytes) {
    return invalid("size", text, "too large");
  }
  return *bytes;
}

std::string format_duration(std::chrono::milliseconds duration) {
  std::int64_t ms = duration.count();
  if (ms == 0) {
    return "0";
  }
  if (ms % (60 * 60 * 1000) == 0) {
    return std::to_string(ms / (60 * 60 * 1000)) + "h";
  }
  if (ms % (60 * 1000) == 0) {
    return std::to_string(ms / (60 * 1000)) + "m";
  }
  if (ms % 1000 == 0) {
    return std::to_string(ms / 1000) + "s";
  }
  return std::to_string(ms) + "ms";
}

std::string format_size(std::uint64_t bytes) {
  if (bytes != 0) {
    if (bytes % (1ull << 40) == 0) {
      return std::to_string(bytes >> 40) + "TiB";
    }
    if (bytes % (1ull << 30) == 0) {
      return std::to_string(bytes >> 30) + "GiB";
    }
    if (bytes % (1ull << 20) == 0) {
      return std::to_string(bytes >> 20) + "MiB";
    }
    if (bytes % (1ull << 10) == 0) {
      return std::to_string(bytes >> 10) + "KiB";
    }
  }
  return std::to_string(bytes);
}

}  // namespace switchyard::config
