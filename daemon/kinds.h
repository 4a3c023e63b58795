#pragma once

// Every kind this daemon knows: the trigger kinds, their dead-letter destinations and the
// runtimes. Each kind registers itself from its own folder; register_builtin_kinds() is the one
// list of the built-in ones (a line each), so a new kind is its folder plus one line there.
//
// Thread rules: built once, then only read, from any thread.

#include "config/kinds.h"
#include "functions/runtime.h"
#include "triggers/trigger.h"

namespace switchyard::daemon {

struct Kinds {
  Kinds() = default;
  Kinds(const Kinds&) = delete;
  Kinds& operator=(const Kinds&) = delete;

  config::Kinds manifest;  // What the config loader parses; the registries below fill it.
  triggers::TriggerRegistry triggers{manifest};
  functions::RuntimeRegistry runtimes{manifest};
};

// Registers the trigger kinds and runtimes built into this binary.
void register_builtin_kinds(Kinds& kinds);

// The built-in kinds, registered on first use.
const Kinds& builtin_kinds();

}  // namespace switchyard::daemon
