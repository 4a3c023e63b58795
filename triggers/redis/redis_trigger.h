#pragma once

// The Redis trigger: reliable consumption of Redis streams (consumer groups) and lists (the
// reliable-queue pattern), and the Redis dead-letter writer.
//
// Streams: the group is created (from id 0, MKSTREAM) if missing. The consumer, named
// `consumer:` or "<instance>-<function>" (stable across restarts of an instance), first replays
// its own pending entries (XREADGROUP ... 0), then reads new ones (XREADGROUP ... BLOCK >).
// An entry is acknowledged (XACK) only after its function succeeded or its dead letter was
// written. Entries idle longer than `claim_after` in the group (their consumer died, or their
// dead letter could not be written) are taken over with XAUTOCLAIM.
//
// Lists: elements are moved one at a time (LMOVE/BLMOVE key -> processing RIGHT LEFT) into this
// consumer's processing list "<key>:processing:<instance>-<function>", and removed from it
// (LREM processing 1 element) once done. At start, whatever is left in the processing list is
// moved back to the list to be processed again; after a reconnection, elements of the
// processing list that no event stands for (their move's reply was lost) are moved back too.
//
// Both read on their own connection (a blocking read must not hold up acknowledgements, which
// go over a second one), only as many entries as the function can take (Dispatcher::capacity,
// times `batch`), and stop reading while it can take none. Entries that were read but not yet
// answered are never acknowledged by a shutdown: they stay pending (stream) or in the
// processing list (list) and are delivered again.
//
// Files: the factory and the registration are here; what both sources share is in
// redis_source.h (on the pull-source base, triggers/pull_source.h), each source in
// stream_source.h and list_source.h, the dead-letter writer in dead_letter_sink.h.
//
// Thread rules: loop thread only.

#include "triggers/trigger.h"

namespace switchyard::triggers::redis {

// Registers the "redis" trigger kind (and its dead-letter writer).
void register_redis_trigger(TriggerRegistry& registry);

}  // namespace switchyard::triggers::redis
