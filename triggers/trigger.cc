#include "triggers/trigger.h"

#include <algorithm>

namespace switchyard::triggers {

core::Status TriggerRegistry::add(TriggerKind kind) {
  if (find(kind.manifest.key) != nullptr) {
    return core::Error(core::ErrorCode::kInternal,
                       "trigger kind \"" + kind.manifest.key + "\" is registered twice");
  }
  for (config::DeadLetterKind& destination : kind.dead_letters) {
    destination.trigger_kind = kind.manifest.key;
    if (auto added = manifest_kinds_.add(destination); !added.ok()) {
      return added;
    }
  }
  if (auto added = manifest_kinds_.add(kind.manifest); !added.ok()) {
    return added;
  }
  kinds_.push_back(std::move(kind));
  return {};
}

const TriggerKind* TriggerRegistry::find(std::string_view key) const {
  auto it = std::find_if(kinds_.begin(), kinds_.end(),
                         [key](const TriggerKind& kind) { return kind.manifest.key == key; });
  return it == kinds_.end() ? nullptr : &*it;
}

const TriggerKind* TriggerRegistry::writer_of(const config::DeadLetterSpec& destination) const {
  const config::DeadLetterKind* kind = manifest_kinds_.dead_letter(destination.kind);
  return kind == nullptr ? nullptr : find(kind->trigger_kind);
}

std::vector<std::string> TriggerRegistry::check(const config::Snapshot& snapshot) const {
  std::vector<std::string> problems;
  for (const TriggerKind& kind : kinds_) {
    if (kind.check) {
      for (std::string& problem : kind.check(snapshot)) {
        problems.push_back(std::move(problem));
      }
    }
  }
  return problems;
}

}  // namespace switchyard::triggers
