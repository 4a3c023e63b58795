#pragma once

// Small byte codecs shared by the payload mappings: base64 and UTF-8 checks.

#include <optional>
#include <string>
#include <string_view>

namespace switchyard::core {

// Standard alphabet, with padding.
std::string base64_encode(std::string_view data);
// Standard alphabet; padding required; no whitespace. nullopt on any bad input.
std::optional<std::string> base64_decode(std::string_view text);

// Well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
bool is_valid_utf8(std::string_view text);
// `text` with each byte that does not start a well-formed sequence replaced by U+FFFD.
std::string to_valid_utf8(std::string_view text);

}  // namespace switchyard::core
