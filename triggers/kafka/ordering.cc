#include "triggers/kafka/ordering.h"

namespace switchyard::triggers::kafka {

Ordering parse_ordering(const std::string& text) {
  if (text == "key") {
    return Ordering::kKey;
  }
  if (text == "none") {
    return Ordering::kNone;
  }
  return Ordering::kPartition;
}

}  // namespace switchyard::triggers::kafka
