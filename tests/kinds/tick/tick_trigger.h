#pragma once

// A trigger kind for tests only: `- tick: { count: 3, data: "x" }` offers `count` synchronous
// events carrying `data` to its function, one per millisecond, and keeps what came back. It
// shows that a trigger kind is its own folder plus one registration line: nothing outside this
// folder names it.
//
// Thread rules: loop thread only.

#include <string>
#include <vector>

#include "triggers/trigger.h"

namespace switchyard::testing::tick {

// What the functions answered to every tick trigger's events, in order of their completions:
// the response body, or "<error type>: <message>".
std::vector<std::string>& answers();

// Registers the "tick" trigger kind.
void register_tick_trigger(triggers::TriggerRegistry& registry);

}  // namespace switchyard::testing::tick
