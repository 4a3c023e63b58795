#pragma once

// Destroying a librdkafka client without blocking the loop. rd_kafka_destroy() waits until every
// message the client delivered has been destroyed, and an event whose invocation timed out or
// was abandoned at shutdown_timeout may still hold one in a worker, for as long as its function
// runs (for ever, if it hangs). A client is therefore destroyed on a thread of its own; the
// daemon waits for those threads before it exits, for a bounded time.
//
// Thread rules: any thread.

#include <chrono>

// librdkafka's handle, declared as rdkafka.h declares it (this header is the daemon's too).
typedef struct rd_kafka_s rd_kafka_t;

namespace switchyard::triggers::kafka {

// Destroys `rk` (rd_kafka_destroy_flags with `flags`) on a thread of its own; returns at once.
void release_client(rd_kafka_t* rk, int flags);

// Waits up to `timeout` until every client given to release_client() is destroyed. False if
// some are not: a message of theirs is still held by a running invocation, and the process must
// then leave without them (std::_Exit), since exit() would wait for their threads.
bool await_released_clients(std::chrono::milliseconds timeout);

}  // namespace switchyard::triggers::kafka
