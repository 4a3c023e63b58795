#include "config/env.h"

#include <cstdlib>

namespace switchyard::config {
namespace {

bool is_name_start(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

bool is_name_char(char c) {
  return is_name_start(c) || (c >= '0' && c <= '9');
}

core::Error env_error(std::string message) {
  return core::Error(core::ErrorCode::kInvalidArgument, std::move(message));
}

// Finds the "}" closing a "${" whose body starts at begin, skipping nested ${...} in defaults.
std::size_t find_closing_brace(std::string_view text, std::size_t begin) {
  int depth = 0;
  for (std::size_t i = begin; i < text.size(); ++i) {
    if (text[i] == '$' && i + 1 < text.size() && text[i + 1] == '{') {
      ++depth;
      ++i;
    } else if (text[i] == '}') {
      if (depth == 0) {
        return i;
      }
      --depth;
    }
  }
  return std::string_view::npos;
}

}  // namespace

core::Result<std::string> expand_env(std::string_view text, const EnvLookup& lookup) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c != '$' || i + 1 == text.size()) {
      out += c;
      ++i;
      continue;
    }
    if (text[i + 1] == '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (text[i + 1] != '{') {
      out += c;
      ++i;
      continue;
    }
    std::size_t body = i + 2;
    std::size_t close = find_closing_brace(text, body);
    if (close == std::string_view::npos) {
      return env_error("unterminated \"${\" in \"" + std::string(text) +
                       "\" (write $$ for a literal $)");
    }
    std::string_view inner = text.substr(body, close - body);
    std::size_t name_end = 0;
    while (name_end < inner.size() && is_name_char(inner[name_end])) {
      ++name_end;
    }
    std::string name(inner.substr(0, name_end));
    std::string_view rest = inner.substr(name_end);
    if (name.empty() || !is_name_start(name.front()) ||
        (!rest.empty() && !rest.starts_with(":-"))) {
      return env_error("invalid variable reference \"${" + std::string(inner) +
                       "}\": expected ${NAME} or ${NAME:-default}");
    }
    const char* value = lookup ? lookup(name.c_str()) : std::getenv(name.c_str());
    if (rest.empty()) {
      if (value == nullptr) {
        return env_error("environment variable " + name + " is not set (use ${" + name +
                         ":-default} to give a default)");
      }
      out += value;
    } else if (value != nullptr && *value != '\0') {
      out += value;
    } else {
      core::Result<std::string> fallback = expand_env(rest.substr(2), lookup);
      if (!fallback.ok()) {
        return fallback.error();
      }
      out += fallback.value();
    }
    i = close + 1;
  }
  return out;
}

}  // namespace switchyard::config
