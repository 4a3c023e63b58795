#pragma once

// A runtime for tests only: `runtime: echo` with `prefix: "> "` answers each event with the
// prefix and the event's data. It shows that a runtime is its own folder plus one registration
// line: nothing outside this folder names it.

#include "functions/runtime.h"

namespace switchyard::testing::echo {

// Registers the "echo" runtime.
void register_echo_runtime(functions::RuntimeRegistry& registry);

}  // namespace switchyard::testing::echo
