#pragma once

// Small byte codecs shared by the payload mappings and the URL parsers: base64, UTF-8 checks and
// percent-decoding.

#include <optional>
#include <string>
#include <string_view>

namespace switchyard::core {

// Standard alphabet, with padding.
std::string base64_encode(std::string_view data);
// Standard alphabet; padding required; no whitespace. nullopt on any bad input.
std::optional<std::string> base64_decode(std::string_view text);

// Percent-decodes `in` into `out` (replacing its contents). With plus_as_space, '+' becomes a
// space (application/x-www-form-urlencoded query strings). Returns false on a '%' not followed by
// two hex digits; `out` then holds a partial result.
bool percent_decode(std::string_view in, std::string& out, bool plus_as_space = false);

// Well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
bool is_valid_utf8(std::string_view text);
// `text` with each byte that does not start a well-formed sequence replaced by U+FFFD.
std::string to_valid_utf8(std::string_view text);

}  // namespace switchyard::core
