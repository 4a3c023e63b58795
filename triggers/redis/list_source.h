#pragma once

// A Redis trigger on a list, consumed as a reliable queue.
//
// Elements are moved one at a time (LMOVE/BLMOVE key -> processing RIGHT LEFT) into this
// consumer's processing list "<key>:processing:<consumer>", and removed from it (LREM processing
// 1 element) once done; a failed one is given back to the list (atomically, by a script). At
// start, whatever is left in the processing list is moved back to the list; after a
// reconnection, elements of the processing list that no event stands for (their move's reply
// was lost) are given back too.
//
// Thread rules: loop thread only.

#include "triggers/redis/redis_source.h"

namespace switchyard::triggers::redis {

// The trigger of one function on the list `settings.key`.
TriggerPtr make_list_source(TriggerContext& context, SourceSettings settings);

}  // namespace switchyard::triggers::redis
