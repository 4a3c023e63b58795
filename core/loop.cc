#include "core/loop.h"

#include <cstdio>
#include <cstdlib>

namespace switchyard::core {

Loop::Loop() {
  int rc = uv_loop_init(&loop_);
  if (rc != 0) {
    std::fprintf(stderr, "switchyard: uv_loop_init failed: %s\n", uv_strerror(rc));
    std::abort();
  }
  loop_.data = this;
}

Loop::~Loop() {
  if (deferred_idle_ != nullptr) {
    uv_idle_t* idle = deferred_idle_;
    deferred_idle_ = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(idle),
             [](uv_handle_t* handle) { delete reinterpret_cast<uv_idle_t*>(handle); });
  }
  // Let every pending close callback run, then close the loop. A handle still open here was
  // leaked by its owner: close it so the loop can end, and say so.
  uv_run(&loop_, UV_RUN_NOWAIT);
  run_deferred();
  if (uv_loop_close(&loop_) == UV_EBUSY) {
    uv_walk(
        &loop_,
        [](uv_handle_t* handle, void*) {
          if (uv_is_closing(handle) == 0) {
            std::fprintf(stderr, "switchyard: closing a leaked libuv handle of type %s\n",
                         uv_handle_type_name(uv_handle_get_type(handle)));
            uv_close(handle, nullptr);
          }
        },
        nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
  }
}

void Loop::run() {
  uv_run(&loop_, UV_RUN_DEFAULT);
}

bool Loop::run_nowait() {
  return uv_run(&loop_, UV_RUN_NOWAIT) != 0;
}

bool Loop::run_once() {
  return uv_run(&loop_, UV_RUN_ONCE) != 0;
}

void Loop::stop() {
  uv_stop(&loop_);
}

void Loop::defer(std::function<void()> task) {
  deferred_.push_back(std::move(task));
  if (deferred_idle_ == nullptr) {
    deferred_idle_ = new uv_idle_t{};
    uv_idle_init(&loop_, deferred_idle_);
    deferred_idle_->data = this;
  }
  // An active idle handle makes the loop poll without blocking, so the tasks run right after
  // the current batch of callbacks.
  uv_idle_start(deferred_idle_, [](uv_idle_t* idle) {
    auto* self = static_cast<Loop*>(idle->data);
    uv_idle_stop(idle);
    self->run_deferred();
  });
}

void Loop::run_deferred() {
  while (!deferred_.empty()) {
    std::vector<std::function<void()>> tasks;
    tasks.swap(deferred_);
    for (auto& task : tasks) {
      task();
    }
  }
}

BeforeWait::BeforeWait(Loop& loop, std::function<void()> callback)
    : callback_(std::move(callback)) {
  uv_check_init(loop.raw(), check_.get());
  check_.get()->data = this;
  uv_prepare_init(loop.raw(), prepare_.get());
  prepare_.get()->data = this;
}

void BeforeWait::request() {
  if (requested_) {
    return;
  }
  requested_ = true;
  uv_check_start(check_.get(), [](uv_check_t* check) {
    if (check->data != nullptr) {
      fire(static_cast<BeforeWait*>(check->data));
    }
  });
  uv_prepare_start(prepare_.get(), [](uv_prepare_t* prepare) {
    if (prepare->data != nullptr) {
      fire(static_cast<BeforeWait*>(prepare->data));
    }
  });
}

void BeforeWait::cancel() {
  requested_ = false;
  uv_check_stop(check_.get());
  uv_prepare_stop(prepare_.get());
}

void BeforeWait::fire(BeforeWait* self) {
  self->cancel();
  self->callback_();  // May request again: that run comes at the next check or prepare.
}

Timer::Timer(Loop& loop, std::function<void()> on_fire) : on_fire_(std::move(on_fire)) {
  uv_timer_init(loop.raw(), handle_.get());
  handle_.get()->data = this;
}

void Timer::start(std::chrono::milliseconds delay, std::chrono::milliseconds repeat) {
  // The loop caches its time at the start of an iteration; without a refresh a timer started
  // late in a busy iteration would fire early.
  uv_update_time(handle_.get()->loop);
  // Loop time is whole milliseconds, rounded down: one more keeps "no earlier than `delay`".
  if (delay.count() > 0) {
    delay += std::chrono::milliseconds(1);
  }
  uv_timer_start(
      handle_.get(),
      [](uv_timer_t* timer) {
        auto* self = static_cast<Timer*>(timer->data);
        if (self != nullptr) {
          self->on_fire_();
        }
      },
      static_cast<std::uint64_t>(delay.count() < 0 ? 0 : delay.count()),
      static_cast<std::uint64_t>(repeat.count() < 0 ? 0 : repeat.count()));
}

void Timer::stop() {
  uv_timer_stop(handle_.get());
}

bool Timer::active() const {
  return uv_is_active(reinterpret_cast<const uv_handle_t*>(handle_.get())) != 0;
}

void Timer::unref() {
  uv_unref(handle_.as_handle());
}

Async::Async(Loop& loop, std::function<void()> on_wake) : on_wake_(std::move(on_wake)) {
  uv_async_init(loop.raw(), handle_.get(), [](uv_async_t* async) {
    auto* self = static_cast<Async*>(async->data);
    if (self != nullptr) {
      self->on_wake_();
    }
  });
  handle_.get()->data = this;
}

void Async::send() {
  uv_async_send(handle_.get());
}

void Async::ref() {
  uv_ref(handle_.as_handle());
}

void Async::unref() {
  uv_unref(handle_.as_handle());
}

Signal::Signal(Loop& loop, int signum, std::function<void()> on_signal)
    : on_signal_(std::move(on_signal)) {
  uv_signal_init(loop.raw(), handle_.get());
  handle_.get()->data = this;
  uv_signal_start(
      handle_.get(),
      [](uv_signal_t* signal, int) {
        auto* self = static_cast<Signal*>(signal->data);
        if (self != nullptr) {
          self->on_signal_();
        }
      },
      signum);
}

void Signal::unref() {
  uv_unref(handle_.as_handle());
}

}  // namespace switchyard::core
