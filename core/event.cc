#include "core/event.h"

namespace switchyard::core {

const Attribute* find_attribute(const Attributes& attributes, std::string_view key) {
  for (const Attribute& attribute : attributes) {
    if (attribute.key == key) {
      return &attribute;
    }
  }
  return nullptr;
}

std::string_view to_string(OutcomeKind kind) {
  switch (kind) {
    case OutcomeKind::kOk:
      return "ok";
    case OutcomeKind::kFunctionError:
      return "error";
    case OutcomeKind::kTimeout:
      return "timeout";
    case OutcomeKind::kThrottled:
      return "throttled";
    case OutcomeKind::kRejected:
      return "rejected";
  }
  return "unknown";
}

}  // namespace switchyard::core
