#include "environments/native/zygote_protocol.h"

#include <charconv>

namespace switchyard::environments {
namespace {

void put(std::string& out, std::string_view field) {
  out.append(field);
  out.push_back('\0');
}

// The next NUL-terminated field of `message`, advancing it; false at the end or without a NUL.
bool take(std::string_view& message, std::string_view& field) {
  std::size_t end = message.find('\0');
  if (end == std::string_view::npos) {
    return false;
  }
  field = message.substr(0, end);
  message.remove_prefix(end + 1);
  return true;
}

}  // namespace

std::string encode_zygote_request(const ZygoteRequest& request) {
  std::string out;
  put(out, request.working_directory);
  put(out, std::to_string(request.arguments.size()));
  for (const std::string& argument : request.arguments) {
    put(out, argument);
  }
  for (const std::string& entry : request.environment) {
    put(out, entry);
  }
  return out;
}

bool decode_zygote_request(std::string_view message, ZygoteRequest& request) {
  request = ZygoteRequest();
  std::string_view field;
  if (!take(message, field)) {
    return false;
  }
  request.working_directory = std::string(field);
  std::size_t count = 0;
  if (!take(message, field)) {
    return false;
  }
  auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), count);
  if (ec != std::errc() || end != field.data() + field.size() || count == 0) {
    return false;
  }
  for (std::size_t i = 0; i < count; ++i) {
    if (!take(message, field)) {
      return false;
    }
    request.arguments.emplace_back(field);
  }
  while (!message.empty()) {
    if (!take(message, field)) {
      return false;
    }
    request.environment.emplace_back(field);
  }
  return true;
}

}  // namespace switchyard::environments
