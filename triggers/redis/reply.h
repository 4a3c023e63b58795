#pragma once

// Redis replies as owned values (hiredis' redisReply is freed as soon as its callback returns),
// and the parsers for the replies the Redis trigger reads: XREADGROUP, XAUTOCLAIM, XINFO GROUPS.
// Pure functions: any thread. hiredis itself stays out of this header.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"

namespace switchyard::triggers::redis {

struct Reply {
  enum class Type { kString, kArray, kInteger, kNil, kStatus, kError };
  Type type = Type::kNil;
  std::string str;  // kString, kStatus, kError.
  long long integer = 0;
  std::vector<Reply> elements;

  bool is_error() const { return type == Type::kError; }
  bool is_nil() const { return type == Type::kNil; }
  // The error's first word: "WRONGTYPE", "NOGROUP", "BUSYGROUP", "NOAUTH"...
  std::string_view error_code() const;

  static Reply string(std::string value);
  static Reply status(std::string value);
  static Reply error(std::string value);
  static Reply integer_reply(long long value);
  static Reply nil();
  static Reply array(std::vector<Reply> elements);
};

// One stream entry. `deleted` is set for a pending entry whose content was deleted (XDEL or
// trimming): XREADGROUP returns its id with a nil field list.
struct StreamEntry {
  std::string id;
  std::vector<std::pair<std::string, std::string>> fields;
  bool deleted = false;
};

// XREADGROUP's reply for one stream: the entries, none when the reply is nil (BLOCK timed out).
core::Result<std::vector<StreamEntry>> parse_xreadgroup(const Reply& reply);

// XAUTOCLAIM's reply (Redis 7): the next cursor, the claimed entries, and the ids of pending
// entries that no longer exist (Redis has removed those from the pending list).
struct AutoClaim {
  std::string cursor;
  std::vector<StreamEntry> entries;
  std::vector<std::string> deleted;
};
core::Result<AutoClaim> parse_xautoclaim(const Reply& reply);

// The `lag` of `group` from XINFO GROUPS (Redis 7); nullopt when the group is missing or Redis
// cannot tell the lag (it answers nil after some deletions).
std::optional<long long> parse_group_lag(const Reply& reply, std::string_view group);

// The millisecond part of a stream id ("1700000000000-3" -> 1700000000000); nullopt when it is
// not a stream id.
std::optional<long long> stream_id_ms(std::string_view id);

}  // namespace switchyard::triggers::redis
