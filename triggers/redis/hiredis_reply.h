#pragma once

// Internal to triggers/redis: copies a hiredis reply into an owned Reply.

#include <hiredis/hiredis.h>

#include "triggers/redis/reply.h"

namespace switchyard::triggers::redis {

inline Reply copy_reply(const redisReply* reply) {
  switch (reply->type) {
    case REDIS_REPLY_STRING:
      return Reply::string(std::string(reply->str, reply->len));
    case REDIS_REPLY_STATUS:
      return Reply::status(std::string(reply->str, reply->len));
    case REDIS_REPLY_ERROR:
      return Reply::error(std::string(reply->str, reply->len));
    case REDIS_REPLY_INTEGER:
      return Reply::integer_reply(reply->integer);
    case REDIS_REPLY_ARRAY: {
      std::vector<Reply> elements;
      elements.reserve(reply->elements);
      for (std::size_t i = 0; i < reply->elements; ++i) {
        elements.push_back(copy_reply(reply->element[i]));
      }
      return Reply::array(std::move(elements));
    }
    default:
      return Reply::nil();
  }
}

}  // namespace switchyard::triggers::redis
