// fail: fails on request, to exercise errors, exceptions, retries and timeouts.
//
//   error  -> an error of type DeliberateError
//   throw  -> throws std::runtime_error("deliberate")
//   hang   -> sleeps ten times its remaining time (at most 60 s), ignoring cancellation
//   other  -> ok

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>
#include <switchyard/function.hpp>
#include <thread>

namespace {

constexpr std::chrono::milliseconds kMaxHang{60000};

std::string_view trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n";
  std::size_t first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) {
    return {};
  }
  std::size_t last = text.find_last_not_of(kSpace);
  return text.substr(first, last - first + 1);
}

switchyard::Result fail(const switchyard::Event& event, switchyard::Context& context) {
  std::string_view command = trim(event.data());
  if (command == "error") {
    return switchyard::Error("DeliberateError", "you asked for an error");
  }
  if (command == "throw") {
    throw std::runtime_error("deliberate");
  }
  if (command == "hang") {
    // Without a deadline there is nothing to overrun: hang for the cap.
    std::chrono::milliseconds remaining = context.remaining();
    std::chrono::milliseconds hang = remaining >= kMaxHang / 10
                                         ? kMaxHang
                                         : std::max(remaining * 10, std::chrono::milliseconds(0));
    context.warn("hanging for " + std::to_string(hang.count()) + " ms");
    std::this_thread::sleep_for(hang);
    return "hung for " + std::to_string(hang.count()) + " ms";
  }
  return "ok";
}

}  // namespace

SWITCHYARD_HANDLER(fail);
