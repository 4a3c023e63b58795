#include "triggers/trigger.h"

#include <algorithm>

namespace switchyard::triggers {

core::Status TriggerRegistry::add(TriggerKind kind) {
  // Every key is checked before anything is added: a refused kind leaves nothing behind.
  bool taken =
      find(kind.manifest.key) != nullptr || manifest_kinds_.trigger(kind.manifest.key) != nullptr;
  for (const config::DeadLetterKind& destination : kind.dead_letters) {
    taken = taken || manifest_kinds_.dead_letter(destination.key) != nullptr;
  }
  if (taken) {
    return core::Error(core::ErrorCode::kInternal, "trigger kind \"" + kind.manifest.key +
                                                       "\" or one of its dead-letter "
                                                       "destinations is registered twice");
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
