#include "triggers/redis/reply.h"

#include <charconv>

namespace switchyard::triggers::redis {

namespace {

core::Error unexpected(std::string_view command, std::string_view what) {
  return core::Error(core::ErrorCode::kInternal,
                     "unexpected " + std::string(command) + " reply: " + std::string(what));
}

// One [id, [field, value, ...]] element.
core::Result<StreamEntry> parse_entry(const Reply& element, std::string_view command) {
  if (element.type != Reply::Type::kArray || element.elements.size() != 2 ||
      element.elements[0].type != Reply::Type::kString) {
    return unexpected(command, "an entry is not [id, fields]");
  }
  StreamEntry entry;
  entry.id = element.elements[0].str;
  const Reply& fields = element.elements[1];
  if (fields.is_nil()) {
    entry.deleted = true;
    return entry;
  }
  if (fields.type != Reply::Type::kArray || fields.elements.size() % 2 != 0) {
    return unexpected(command, "the fields of entry " + entry.id + " are not pairs");
  }
  entry.fields.reserve(fields.elements.size() / 2);
  for (std::size_t i = 0; i < fields.elements.size(); i += 2) {
    entry.fields.emplace_back(fields.elements[i].str, fields.elements[i + 1].str);
  }
  return entry;
}

core::Result<std::vector<StreamEntry>> parse_entries(const Reply& list, std::string_view command) {
  if (list.type != Reply::Type::kArray) {
    return unexpected(command, "the entries are not an array");
  }
  std::vector<StreamEntry> entries;
  entries.reserve(list.elements.size());
  for (const Reply& element : list.elements) {
    auto entry = parse_entry(element, command);
    if (!entry.ok()) {
      return entry.error();
    }
    entries.push_back(std::move(entry).value());
  }
  return entries;
}

}  // namespace

std::string_view Reply::error_code() const {
  if (type != Type::kError) {
    return {};
  }
  std::string_view text = str;
  return text.substr(0, text.find(' '));
}

Reply Reply::string(std::string value) {
  Reply reply;
  reply.type = Type::kString;
  reply.str = std::move(value);
  return reply;
}

Reply Reply::status(std::string value) {
  Reply reply = string(std::move(value));
  reply.type = Type::kStatus;
  return reply;
}

Reply Reply::error(std::string value) {
  Reply reply = string(std::move(value));
  reply.type = Type::kError;
  return reply;
}

Reply Reply::integer_reply(long long value) {
  Reply reply;
  reply.type = Type::kInteger;
  reply.integer = value;
  return reply;
}

Reply Reply::nil() {
  return Reply();
}

Reply Reply::array(std::vector<Reply> elements) {
  Reply reply;
  reply.type = Type::kArray;
  reply.elements = std::move(elements);
  return reply;
}

core::Result<std::vector<StreamEntry>> parse_xreadgroup(const Reply& reply) {
  if (reply.is_nil()) {
    return std::vector<StreamEntry>{};
  }
  if (reply.is_error()) {
    return core::Error(core::ErrorCode::kUnavailable, "XREADGROUP: " + reply.str);
  }
  if (reply.type != Reply::Type::kArray) {
    return unexpected("XREADGROUP", "not an array");
  }
  if (reply.elements.empty()) {
    return std::vector<StreamEntry>{};
  }
  // One stream was asked for: [[key, entries]].
  const Reply& stream = reply.elements[0];
  if (reply.elements.size() != 1 || stream.type != Reply::Type::kArray ||
      stream.elements.size() != 2) {
    return unexpected("XREADGROUP", "not [[key, entries]]");
  }
  return parse_entries(stream.elements[1], "XREADGROUP");
}

core::Result<AutoClaim> parse_xautoclaim(const Reply& reply) {
  if (reply.is_error()) {
    return core::Error(core::ErrorCode::kUnavailable, "XAUTOCLAIM: " + reply.str);
  }
  if (reply.type != Reply::Type::kArray || reply.elements.size() < 2 ||
      reply.elements[0].type != Reply::Type::kString) {
    return unexpected("XAUTOCLAIM", "not [cursor, entries, deleted]");
  }
  AutoClaim claim;
  claim.cursor = reply.elements[0].str;
  auto entries = parse_entries(reply.elements[1], "XAUTOCLAIM");
  if (!entries.ok()) {
    return entries.error();
  }
  claim.entries = std::move(entries).value();
  if (reply.elements.size() >= 3 && reply.elements[2].type == Reply::Type::kArray) {
    for (const Reply& id : reply.elements[2].elements) {
      claim.deleted.push_back(id.str);
    }
  }
  return claim;
}

std::optional<long long> parse_group_lag(const Reply& reply, std::string_view group) {
  if (reply.type != Reply::Type::kArray) {
    return std::nullopt;
  }
  for (const Reply& info : reply.elements) {
    // Each group is a flat [name, value, ...] list (RESP2).
    if (info.type != Reply::Type::kArray) {
      continue;
    }
    const Reply* name = nullptr;
    const Reply* lag = nullptr;
    for (std::size_t i = 0; i + 1 < info.elements.size(); i += 2) {
      const std::string& key = info.elements[i].str;
      if (key == "name") {
        name = &info.elements[i + 1];
      } else if (key == "lag") {
        lag = &info.elements[i + 1];
      }
    }
    if (name != nullptr && name->str == group) {
      if (lag != nullptr && lag->type == Reply::Type::kInteger) {
        return lag->integer;
      }
      return std::nullopt;
    }
  }
  return std::nullopt;
}

std::optional<long long> stream_id_ms(std::string_view id) {
  std::size_t dash = id.find('-');
  std::string_view ms = id.substr(0, dash);
  long long value = 0;
  auto [end, ec] = std::from_chars(ms.data(), ms.data() + ms.size(), value);
  if (ms.empty() || ec != std::errc() || end != ms.data() + ms.size()) {
    return std::nullopt;
  }
  return value;
}

}  // namespace switchyard::triggers::redis
