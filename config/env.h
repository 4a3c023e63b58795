#pragma once

// ${VAR} expansion of config values, so secrets and per-host settings can come from the
// environment instead of being written into switchyard.yaml.

#include <functional>
#include <string>
#include <string_view>

#include "core/error.h"

namespace switchyard::config {

// Returns a variable's value, or nullptr when it is unset. Tests pass their own so they do not
// depend on (or change) the process environment; an empty function means std::getenv.
using EnvLookup = std::function<const char*(const char*)>;

// Expands every ${VAR} and ${VAR:-default} in text. As in the shell, the default is used when
// VAR is unset or empty, and may itself contain ${...}. "$$" is a literal "$"; a "$" followed by
// anything else is kept as it is, so passwords containing "$" need no escaping. An unset ${VAR}
// without a default is an error naming the variable.
core::Result<std::string> expand_env(std::string_view text, const EnvLookup& lookup = {});

}  // namespace switchyard::config
