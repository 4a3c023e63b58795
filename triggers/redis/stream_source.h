#pragma once

// A Redis trigger on a stream, read through a consumer group.
//
// The group is created (from id 0, MKSTREAM) if missing, and again if it goes away. The
// consumer first replays its own pending entries (XREADGROUP ... 0), then reads new ones
// (XREADGROUP ... BLOCK >). An entry is acknowledged (XACK) only after its function succeeded or
// its dead letter was written; a failed one stays pending, to be replayed or claimed. Entries
// idle longer than `claim_after` in the group are taken over with XAUTOCLAIM, and the entries
// running here are kept from looking idle (XCLAIM ... JUSTID).
//
// Thread rules: loop thread only.

#include "triggers/redis/redis_source.h"

namespace switchyard::triggers::redis {

// The trigger of one function on the stream `settings.key`.
TriggerPtr make_stream_source(TriggerContext& context, SourceSettings settings);

}  // namespace switchyard::triggers::redis
