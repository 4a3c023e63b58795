#pragma once

// A function's asynchronous queue on a Redis stream (`async.queue.redis_stream: KEY`), shared by
// every daemon whose function names it (async/shared_queue.h):
//
// - The writer (SharedQueue) adds each invocation with one EVAL that checks the bound and
//   XADDs, so that daemons on several hosts share one exact bound: XLEN for the events, and
//   the counter `KEY:bytes` for their bytes. A failed attempt is put back the same way: the
//   invocation again, with its attempts and next attempt time, XADDed in place of the entry it
//   was read as (XACK and XDEL of the old one, in the same script), provided this daemon still
//   holds that entry: one another daemon took over is its own.
// - The reader is the Redis stream trigger (triggers/redis/stream_source.h) on KEY in the
//   consumer group kAsyncGroup, handing what it reads to the AsyncQueue rather than the
//   scheduler. It reads no more than the function can take, first its own pending entries
//   (what this daemon held when it died), and takes over entries another daemon has held
//   without a sign of life for `async.queue.claim_after` (XAUTOCLAIM). An entry leaves the
//   stream once settled: its acknowledgement is a script that XACKs it, XDELs it and takes its
//   size off `KEY:bytes`, again only while this daemon holds it. An entry it cannot read (not
//   an invocation, another function's) is logged, counted and left pending.
//
// An entry's fields: request_id, function, attempts, enqueued_at and next_attempt_at (unix
// ms), size (bytes of data), and data: the event as async/event_codec.h writes it.
//
//   redis-cli XLEN KEY; redis-cli GET KEY:bytes
//   redis-cli XRANGE KEY - + COUNT 10
//   redis-cli XPENDING KEY switchyard-async      # held by a daemon: running or waiting
//
// Durability is the Redis server's: the 202 is sent once Redis has the entry in memory; it
// survives a crash of Redis only as far as its persistence does (appendonly yes with
// appendfsync always to match the local file's promise; everysec loses up to a second).
//
// Thread rules: loop thread only.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "async/queue_store.h"
#include "async/shared_queue.h"
#include "core/error.h"
#include "core/event.h"
#include "triggers/redis/redis_source.h"
#include "triggers/trigger.h"

namespace switchyard::triggers::redis {

// The consumer group every daemon reads a shared asynchronous queue in.
inline constexpr std::string_view kAsyncGroup = "switchyard-async";

// The counter of the bytes of the invocations in the stream `key`.
std::string bytes_key(std::string_view key);

// The acknowledgement of a settled entry (the whole EVAL command) of the stream `key`: done
// only while `consumer` of `group` holds the entry (one another daemon took over is its to
// settle).
std::vector<std::string> settle_command(std::string_view key, std::string_view group,
                                        std::string_view consumer, std::string_view entry);

// An entry's fields (XADD's field/value arguments) for `record`, its size set from the event.
std::vector<std::string> invocation_fields(const async::Record& record);
// The record back from the event the stream trigger made of such an entry (its fields are its
// redis.field.* attributes, its data the event). An error names what is missing or wrong.
core::Result<async::Record> invocation_from_event(const core::Event& event);

// The writer of the stream `settings.key`, connecting now.
std::shared_ptr<async::SharedQueue> make_async_writer(core::Loop& loop,
                                                      const SourceSettings& settings);

// The reader of the stream `settings.key` for `intake`.
TriggerPtr make_async_reader(TriggerContext& context, async::SharedIntake& intake,
                             SourceSettings settings);

}  // namespace switchyard::triggers::redis
