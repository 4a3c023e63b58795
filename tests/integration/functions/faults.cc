// faults: a native function that goes wrong as its event's data asks, for the tests of
// `isolation: process`: "segfault", "abort", "exit", "spin" (never returns), "hog" (allocates
// and touches memory until it fails), "throw"; anything else answers "ok <data>" with a
// header, the event's id and its first attribute, so that the whole event and response are
// seen to cross the process boundary.

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <switchyard/function.hpp>
#include <vector>

namespace {

switchyard::Response faults(const switchyard::Event& event, switchyard::Context&) {
  std::string data(event.data());
  if (data == "segfault") {
    volatile int* nowhere = nullptr;
    *nowhere = 1;
  } else if (data == "abort") {
    std::abort();
  } else if (data == "exit") {
    std::_Exit(3);
  } else if (data == "spin") {
    for (volatile unsigned long i = 0;; ++i) {
    }
  } else if (data == "hog") {
    std::vector<char*> blocks;
    for (;;) {
      char* block = new char[16 * 1024 * 1024];
      std::memset(block, 1, 16 * 1024 * 1024);
      blocks.push_back(block);
    }
  } else if (data == "throw") {
    throw std::runtime_error("asked to throw");
  }
  std::string first;
  if (!event.attributes().empty()) {
    const sy_kv& kv = event.attributes().front();
    first = std::string(switchyard::to_string_view(kv.key)) + "=" +
            std::string(switchyard::to_string_view(kv.value));
  }
  return switchyard::Response(201, "ok " + data + " id=" + std::string(event.id()) + " " + first +
                                       " pid=" + std::to_string(::getpid()))
      .header("x-faults", "yes");
}

}  // namespace

SWITCHYARD_HANDLER(faults);
