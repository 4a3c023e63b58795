#pragma once

// Identifiers for events and invocations.

#include <cstdint>
#include <string>
#include <string_view>

namespace switchyard::core {

// A random version 4 UUID ("1b4e28ba-2fa1-4d2e-8c4f-0a1b2c3d4e5f"), like Lambda's request ids.
// Safe from any thread.
std::string random_uuid();

// A function's ARN as Lambda writes it: "arn:aws:lambda:us-east-1:123456789012:function:hello".
std::string function_arn(std::string_view region, std::string_view account_id,
                         std::string_view function);

// Cheap unique ids for the hot path: a random per-process prefix plus a counter in hex. One
// generator per thread of use (it is not synchronised).
class IdGenerator {
 public:
  // `label` starts the prefix ("vm" gives "vm-1a2b3c4d-000000000000002a").
  explicit IdGenerator(const std::string& label);

  // Writes the next id into `out`, reusing its storage.
  void next(std::string& out) { format(take(), out); }

  // The next id's number (on the generator's thread, like next()), to be written out later, or
  // never, by format(), which may run on any thread: the prefix does not change.
  std::uint64_t take() { return ++counter_; }
  void format(std::uint64_t number, std::string& out) const;

 private:
  std::string prefix_;
  std::uint64_t counter_ = 0;
};

}  // namespace switchyard::core
