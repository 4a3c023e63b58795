#include "config/kinds.h"

#include <algorithm>

namespace switchyard::config {
namespace {

template <typename Kind>
const Kind* find(const std::vector<Kind>& kinds, std::string_view key) {
  auto it =
      std::find_if(kinds.begin(), kinds.end(), [key](const Kind& kind) { return kind.key == key; });
  return it == kinds.end() ? nullptr : &*it;
}

template <typename Kind>
core::Status add_to(std::vector<Kind>& kinds, Kind kind, std::string_view what) {
  if (kind.key.empty() || find(kinds, kind.key) != nullptr) {
    return core::Error(core::ErrorCode::kInternal,
                       std::string(what) + " \"" + kind.key + "\" is empty or registered twice");
  }
  kinds.push_back(std::move(kind));
  return {};
}

template <typename Kind>
std::vector<std::string_view> keys_of(const std::vector<Kind>& kinds) {
  std::vector<std::string_view> keys;
  keys.reserve(kinds.size());
  for (const Kind& kind : kinds) {
    keys.push_back(kind.key);
  }
  return keys;
}

}  // namespace

core::Status Kinds::add(TriggerKind kind) {
  return add_to(triggers_, std::move(kind), "trigger kind");
}

core::Status Kinds::add(DeadLetterKind kind) {
  return add_to(dead_letters_, std::move(kind), "dead-letter kind");
}

core::Status Kinds::add(RuntimeKind kind) {
  return add_to(runtimes_, std::move(kind), "runtime");
}

const TriggerKind* Kinds::trigger(std::string_view key) const {
  return find(triggers_, key);
}

const DeadLetterKind* Kinds::dead_letter(std::string_view key) const {
  return find(dead_letters_, key);
}

const RuntimeKind* Kinds::runtime(std::string_view key) const {
  return find(runtimes_, key);
}

std::vector<std::string_view> Kinds::trigger_keys() const {
  return keys_of(triggers_);
}

std::vector<std::string_view> Kinds::dead_letter_keys() const {
  return keys_of(dead_letters_);
}

std::vector<std::string_view> Kinds::runtime_keys() const {
  return keys_of(runtimes_);
}

std::filesystem::path resolve_path(const std::filesystem::path& base_dir,
                                   const std::filesystem::path& path) {
  std::filesystem::path joined = path.is_absolute() ? path : base_dir / path;
  std::error_code error;
  std::filesystem::path absolute = std::filesystem::absolute(joined, error);
  return (error ? joined : absolute).lexically_normal();
}

}  // namespace switchyard::config
