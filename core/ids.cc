#include "core/ids.h"

#include <fmt/format.h>

#include <random>

namespace switchyard::core {

std::string function_arn(std::string_view region, std::string_view account_id,
                         std::string_view function) {
  return fmt::format("arn:aws:lambda:{}:{}:function:{}", region, account_id, function);
}

std::string random_uuid() {
  static thread_local std::mt19937_64 random{std::random_device{}()};
  std::uint64_t a = random();
  std::uint64_t b = random();
  return fmt::format("{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}", a >> 32, (a >> 16) & 0xffff, a & 0xfff,
                     ((b >> 48) & 0x3fff) | 0x8000, b & 0xffffffffffffull);
}

IdGenerator::IdGenerator(const std::string& label) {
  std::random_device device;
  prefix_ = fmt::format("{}-{:08x}-", label, static_cast<std::uint32_t>(device()));
}

void IdGenerator::format(std::uint64_t number, std::string& out) const {
  static constexpr char kHex[] = "0123456789abcdef";
  static constexpr std::size_t kDigits = 16;
  // Only the digits are rewritten when `out` already holds an id of this generator.
  if (out.size() != prefix_.size() + kDigits || out.compare(0, prefix_.size(), prefix_) != 0) {
    out.assign(prefix_);
    out.resize(prefix_.size() + kDigits);
  }
  char* digits = out.data() + prefix_.size();
  for (int i = kDigits - 1; i >= 0; --i) {
    digits[i] = kHex[number & 0xf];
    number >>= 4;
  }
}

}  // namespace switchyard::core
