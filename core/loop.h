#pragma once

// The libuv loop wrapper and RAII holders for libuv handles.
//
// libuv's rule is that a handle's memory may be freed only in (or after) its close callback.
// Handle<T> does that once for everyone: the uv handle lives on the heap, the owning C++ object
// may be destroyed at any time (it calls uv_close), and the memory is freed in the close
// callback. Every Handle must be destroyed before its Loop; ~Loop then runs the loop until the
// last close callback has fired and closes it cleanly.
//
// Thread rules: everything here is loop-thread only, except Async::send(), which is safe from
// any thread.

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "core/error.h"

namespace switchyard::core {

class Loop {
 public:
  Loop();
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  uv_loop_t* raw() { return &loop_; }

  // Runs until stop() is called or nothing is left to do.
  void run();
  // Runs one iteration without blocking; for tests that poll the loop.
  bool run_nowait();
  // Runs one iteration, waiting for I/O if there is none yet; false when nothing is left.
  bool run_once();
  // Makes run() return after the current iteration.
  void stop();

  // The loop's cached monotonic time in milliseconds.
  std::uint64_t now_ms() const { return uv_now(&loop_); }

  // Runs `task` on the loop thread at a safe point after the current callback returns: the
  // place to destroy an object whose own callback is on the stack (Redis' freeClientAsync).
  void defer(std::function<void()> task);

 private:
  void run_deferred();

  uv_loop_t loop_{};
  uv_idle_t* deferred_idle_ = nullptr;
  std::vector<std::function<void()>> deferred_;
};

// Owns one uv handle of type T (uv_timer_t, uv_async_t, uv_tcp_t, uv_poll_t, uv_signal_t...).
template <typename T>
class Handle {
 public:
  Handle() : handle_(new T{}) {}
  ~Handle() { close(); }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  T* get() { return handle_; }
  const T* get() const { return handle_; }
  uv_handle_t* as_handle() { return reinterpret_cast<uv_handle_t*>(handle_); }
  bool closed() const { return handle_ == nullptr; }

  // Closes the handle; its memory is freed in the close callback. Idempotent.
  void close() {
    if (handle_ == nullptr) {
      return;
    }
    T* handle = handle_;
    handle_ = nullptr;
    reinterpret_cast<uv_handle_t*>(handle)->data = nullptr;
    if (uv_is_closing(reinterpret_cast<uv_handle_t*>(handle)) == 0 &&
        uv_handle_get_loop(reinterpret_cast<uv_handle_t*>(handle)) != nullptr) {
      uv_close(reinterpret_cast<uv_handle_t*>(handle),
               [](uv_handle_t* closed) { delete reinterpret_cast<T*>(closed); });
    } else {
      // Never initialised (init failed): libuv does not know it, so it can go now.
      delete handle;
    }
  }

 private:
  T* handle_;
};

// A one-shot or repeating timer on the loop.
class Timer {
 public:
  Timer(Loop& loop, std::function<void()> on_fire);
  // Fires no earlier than `delay` from now, then every `repeat` if that is not zero.
  void start(std::chrono::milliseconds delay, std::chrono::milliseconds repeat = {});
  void stop();
  bool active() const;
  // Keeps the loop from waiting for this timer alone (uv_unref).
  void unref();

 private:
  Handle<uv_timer_t> handle_;
  std::function<void()> on_fire_;
};

// Runs a callback once, before the loop next waits for I/O: in this turn's check phase (after
// the I/O callbacks) or, if requested from a check callback, in the next prepare phase. For
// work that one turn's callbacks each ask for and that is cheaper done once for all of them
// (one pool hand-off for a turn's jobs, one dispatch pass for a turn's completions).
class BeforeWait {
 public:
  BeforeWait(Loop& loop, std::function<void()> callback);
  // Asks for one run; further requests before it runs change nothing.
  void request();
  // Withdraws a request (its work was done another way).
  void cancel();
  bool requested() const { return requested_; }

 private:
  static void fire(BeforeWait* self);

  Handle<uv_check_t> check_;
  Handle<uv_prepare_t> prepare_;
  std::function<void()> callback_;
  bool requested_ = false;
};

// Wakes the loop from another thread. Wake-ups coalesce: the callback may run once for several
// send() calls, so it must drain everything that is pending each time.
class Async {
 public:
  Async(Loop& loop, std::function<void()> on_wake);
  // Safe from any thread.
  void send();
  void ref();
  void unref();

 private:
  Handle<uv_async_t> handle_;
  std::function<void()> on_wake_;
};

// Calls back on the loop thread when the process receives `signum`.
class Signal {
 public:
  Signal(Loop& loop, int signum, std::function<void()> on_signal);
  // Lets the loop end while this is the only handle left.
  void unref();

 private:
  Handle<uv_signal_t> handle_;
  std::function<void()> on_signal_;
};

}  // namespace switchyard::core
