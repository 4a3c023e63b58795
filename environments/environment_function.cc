#include "environments/environment_function.h"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

namespace switchyard::environments {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kFirstBackoff{250};
constexpr std::chrono::milliseconds kMaxBackoff{60000};
constexpr std::string_view kOutOfMemoryType = "Runtime.OutOfMemory";  // Lambda's error type.

core::Outcome failure_outcome(const RuntimeError& error) {
  core::Outcome outcome =
      core::Outcome::failure(core::OutcomeKind::kFunctionError, error.type, error.message);
  outcome.error_document = error.document;
  return outcome;
}

bool is_hex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

std::shared_ptr<EnvironmentFunction> EnvironmentFunction::make(core::Loop& loop,
                                                               core::MetricsRegistry& metrics,
                                                               EnvironmentPlan plan) {
  return std::shared_ptr<EnvironmentFunction>(
      new EnvironmentFunction(loop, metrics, std::move(plan)));
}

EnvironmentFunction::EnvironmentFunction(core::Loop& loop, core::MetricsRegistry& metrics,
                                         EnvironmentPlan plan)
    : loop_(loop),
      metrics_(metrics),
      plan_(std::move(plan)),
      backoff_timer_(loop, [this] { dispatch(); }),
      idle_timer_(loop, [this] { sweep_idle(); }),
      random_(std::random_device{}()),
      starting_gauge_(metrics.gauge("switchyard_environments", "Execution environments by state.",
                                    {{"function", plan_.function_name}, {"state", "starting"}})),
      idle_gauge_(metrics.gauge("switchyard_environments", "Execution environments by state.",
                                {{"function", plan_.function_name}, {"state", "warm"}})),
      busy_gauge_(metrics.gauge("switchyard_environments", "Execution environments by state.",
                                {{"function", plan_.function_name}, {"state", "busy"}})),
      cold_starts_(metrics.counter("switchyard_environment_starts_total",
                                   "Execution environments started (cold starts).",
                                   {{"function", plan_.function_name}})),
      init_seconds_(metrics.histogram("switchyard_environment_init_seconds",
                                      "Execution environment init: spawn to first `next`.",
                                      {{"function", plan_.function_name}})) {
  auto sweep =
      std::min<std::chrono::milliseconds>(plan_.settings.idle_timeout, std::chrono::seconds(1));
  idle_timer_.start(sweep, sweep);
  idle_timer_.unref();
}

EnvironmentFunction::~EnvironmentFunction() {
  for (auto& environment : environments_) {
    environment->kill(StopReason::kShutdown);
  }
  environments_.clear();  // Each process is reaped as it goes.
  retired_.clear();
  // Its share of the gauges goes; a newer version of the function keeps its own.
  starting_gauge_.add(-published_.starting);
  idle_gauge_.add(-published_.idle);
  busy_gauge_.add(-published_.busy);
}

core::Outcome EnvironmentFunction::invoke(const core::Event&,
                                          const functions::InvocationContext&) noexcept {
  return core::Outcome::failure(core::OutcomeKind::kFunctionError, "Runtime.Unsupported",
                                "function " + plan_.function_name +
                                    " runs in execution environments: it is started from the loop");
}

std::string EnvironmentFunction::trace_id(std::string_view traceparent) {
  // W3C "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>" in X-Ray's form.
  if (traceparent.size() >= 55 && traceparent[2] == '-' && traceparent[35] == '-' &&
      traceparent[52] == '-' && is_hex(traceparent.substr(3, 32)) &&
      is_hex(traceparent.substr(36, 16)) && is_hex(traceparent.substr(53, 2))) {
    // The flags are two hex digits; "sampled" is their lowest bit.
    const char low = traceparent[54];
    const int flags = low >= 'a' ? low - 'a' + 10 : low - '0';
    const bool sampled = (flags & 1) != 0;
    return fmt::format("Root=1-{}-{};Parent={};Sampled={}", traceparent.substr(3, 8),
                       traceparent.substr(11, 24), traceparent.substr(36, 16), sampled ? 1 : 0);
  }
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
  return fmt::format("Root=1-{:08x}-{:08x}{:016x};Parent={:016x};Sampled=0",
                     static_cast<std::uint32_t>(seconds), static_cast<std::uint32_t>(random_()),
                     random_(), random_());
}

std::uint64_t EnvironmentFunction::start(const core::Event& event,
                                         const functions::InvocationContext& ctx,
                                         Finish finish) noexcept {
  Waiting waiting;
  Assignment& assignment = waiting.assignment;
  assignment.number = ++next_invocation_;
  assignment.request_id = std::string(ctx.request_id);
  plan_.codec->encode(event, assignment.payload, assignment.content_type);
  auto deadline = ctx.deadline == Clock::time_point::max()
                      ? std::chrono::system_clock::now() + std::chrono::minutes(15)
                      : std::chrono::time_point_cast<std::chrono::system_clock::duration>(
                            std::chrono::system_clock::time_point(ctx.deadline.time_since_epoch() +
                                                                  ctx.wall_offset));
  if (ctx.deadline != Clock::time_point::max() && ctx.wall_offset.count() == 0) {
    deadline = std::chrono::system_clock::now() +
               std::chrono::duration_cast<std::chrono::system_clock::duration>(ctx.deadline -
                                                                               Clock::now());
  }
  assignment.deadline_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline.time_since_epoch()).count();
  assignment.function_arn = plan_.function_arn;
  assignment.trace_id =
      trace_id(ctx.trace_parent.empty() ? std::string_view(event.traceparent) : ctx.trace_parent);
  if (const core::Attribute* context =
          core::find_attribute(event.attributes, "lambda.client_context")) {
    assignment.client_context = context->value;
  }
  if (const core::Attribute* identity =
          core::find_attribute(event.attributes, "lambda.cognito_identity")) {
    assignment.cognito_identity = identity->value;
  }
  waiting.finish = std::move(finish);
  const std::uint64_t number = assignment.number;
  if (init_failures_ > 0 && Clock::now() < backoff_until_) {
    // The runtime cannot start now: say so at once rather than queue behind the backoff.
    finish_soon(std::move(waiting.finish), failure_outcome(last_init_failure_));
    return number;
  }
  waiting_.push_back(std::move(waiting));
  dispatch();
  if (!waiting_.empty() && waiting_.back().assignment.number == number && ctx.move_deadline &&
      ctx.deadline != Clock::time_point::max()) {
    // No environment is ready for it: it waits for one to start, and Lambda does not count an
    // on-demand init against the timeout. Its deadline moves to when the init must be done by
    // at the latest; once it begins, to its wait plus its timeout (dispatch()).
    Waiting& waits = waiting_.back();
    waits.queued = Clock::now();
    waits.deadline = ctx.deadline;
    waits.move_deadline = ctx.move_deadline;
    ctx.move_deadline(ctx.deadline + plan_.settings.init_timeout);
  }
  return number;
}

void EnvironmentFunction::finish_soon(Finish finish, core::Outcome outcome) {
  loop_.defer([finish = std::move(finish), outcome = std::move(outcome)]() mutable {
    finish(std::move(outcome));
  });
}

void EnvironmentFunction::cancel(std::uint64_t invocation) noexcept {
  auto queued = std::find_if(waiting_.begin(), waiting_.end(), [invocation](const Waiting& w) {
    return w.assignment.number == invocation;
  });
  if (queued != waiting_.end()) {
    waiting_.erase(queued);
    return;
  }
  if (running_.erase(invocation) == 0) {
    return;
  }
  for (auto& environment : environments_) {
    if (environment->state() == EnvironmentState::kBusy &&
        environment->assignment().number == invocation) {
      spdlog::warn("function {}: request {} passed its deadline: environment {} (pid {}) killed",
                   plan_.function_name, environment->assignment().request_id, environment->number(),
                   environment->pid());
      environment->kill(StopReason::kTimeout);
      break;
    }
  }
  update_gauges();
}

void EnvironmentFunction::dispatch() {
  for (auto& environment : environments_) {
    if (waiting_.empty()) {
      break;
    }
    if (environment->state() != EnvironmentState::kIdle) {
      continue;
    }
    Waiting& head = waiting_.front();
    if (head.move_deadline) {
      const Clock::duration waited = Clock::now() - head.queued;
      head.move_deadline(head.deadline + waited);
      head.assignment.deadline_ms +=
          std::chrono::duration_cast<std::chrono::milliseconds>(waited).count();
    }
    std::uint64_t number = head.assignment.number;
    Finish finish = std::move(head.finish);
    Assignment assignment = std::move(head.assignment);
    waiting_.pop_front();
    running_.emplace(number, std::move(finish));
    if (!environment->invoke(std::move(assignment))) {
      // Its runtime left `next`; the invocation was not handed over. It cannot be rebuilt
      // from a moved-from assignment, so it fails; this only happens to a runtime that
      // dropped its connection, which is its own bug.
      auto it = running_.find(number);
      Finish lost = std::move(it->second);
      running_.erase(it);
      finish_soon(std::move(lost),
                  failure_outcome(
                      RuntimeError{"Runtime.InvalidState", "the runtime closed its next request"}));
    }
  }
  std::size_t coming = 0;
  for (const auto& environment : environments_) {
    EnvironmentState state = environment->state();
    coming += state == EnvironmentState::kStarting || state == EnvironmentState::kReturning;
  }
  while (waiting_.size() > coming) {
    if (init_failures_ > 0 && Clock::now() < backoff_until_) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(backoff_until_ - Clock::now());
      backoff_timer_.start(left + std::chrono::milliseconds(1));
      break;
    }
    if (!spawn()) {
      break;
    }
    ++coming;
  }
  update_gauges();
}

bool EnvironmentFunction::spawn() {
  if (stopping_) {
    return false;
  }
  auto environment = std::make_unique<Environment>(
      loop_, metrics_, static_cast<EnvironmentOwner&>(*this), ++next_environment_);
  SpawnOptions spawn = plan_.spawn;
  spawn.environment.push_back(
      fmt::format("AWS_LAMBDA_LOG_STREAM_NAME={:%Y/%m/%d}/[$LATEST]{:016x}{:016x}",
                  std::chrono::system_clock::now(), random_(), random_()));
  auto started = environment->start(std::move(spawn), plan_.settings.init_timeout,
                                    plan_.socket_pair, plan_.zygote.get());
  if (!started.ok()) {
    spdlog::error("function {}: cannot start an environment: {}", plan_.function_name,
                  started.error().message());
    init_failed(RuntimeError{"Runtime.InitError", started.error().message()});
    return false;
  }
  cold_starts_.inc_unshared();
  spdlog::debug("function {}: environment {} started (pid {}, runtime API {})", plan_.function_name,
                environment->number(), environment->pid(), environment->runtime_api_address());
  environments_.push_back(std::move(environment));
  return true;
}

void EnvironmentFunction::init_failed(const RuntimeError& failure) {
  ++init_failures_;
  last_init_failure_ = failure;
  auto backoff = std::min<std::chrono::milliseconds>(
      kMaxBackoff, kFirstBackoff * (1LL << std::min(init_failures_ - 1, 16)));
  backoff_until_ = Clock::now() + backoff;
  spdlog::error("function {}: init failed ({}: {}); next start in {}ms", plan_.function_name,
                failure.type, failure.message, backoff.count());
  fail_waiting(failure);
  if (prepared_) {
    answer_prepared(core::Error(core::ErrorCode::kLoad, "function '" + plan_.function_name +
                                                            "': init failed: " + failure.type +
                                                            ": " + failure.message));
  }
}

void EnvironmentFunction::answer_prepared(core::Status status) {
  // From the loop, not from inside an environment's callback: a refused reload drops this
  // function in its answer.
  loop_.defer([ready = std::move(prepared_), status = std::move(status)]() mutable {
    ready(std::move(status));
  });
  prepared_ = nullptr;
}

void EnvironmentFunction::fail_waiting(const RuntimeError& failure) {
  std::deque<Waiting> waiting = std::move(waiting_);
  waiting_.clear();
  for (Waiting& each : waiting) {
    finish_soon(std::move(each.finish), failure_outcome(failure));
  }
}

void EnvironmentFunction::environment_idle(Environment& environment) {
  if (environment.invocations() == 0) {
    init_failures_ = 0;
    last_init_ = environment.init_duration();
    init_seconds_.observe_unshared(
        std::chrono::duration<double>(environment.init_duration()).count());
    spdlog::info("function {}: environment {} ready (pid {}); init {:.2f} ms", plan_.function_name,
                 environment.number(), environment.pid(),
                 std::chrono::duration<double, std::milli>(environment.init_duration()).count());
  }
  dispatch();
  check_prepared();
}

void EnvironmentFunction::environment_answered(Environment& environment,
                                               const Assignment& assignment, Answer&& answer) {
  auto it = running_.find(assignment.number);
  if (it == running_.end()) {
    return;  // Cancelled already.
  }
  Finish finish = std::move(it->second);
  running_.erase(it);
  core::Outcome outcome =
      answer.ok ? plan_.codec->decode(std::move(answer)) : failure_outcome(answer.error);
  outcome.log_tail = environment.take_output();
  if (environment.invocations() == 1) {
    outcome.init_duration =
        std::chrono::duration_cast<std::chrono::microseconds>(environment.init_duration());
  }
  if (!answer.ok && answer.error.type == kOutOfMemoryType) {
    // Lambda resets an environment that ran out of memory: what the function holds stays held.
    spdlog::warn(
        "function {}: environment {} (pid {}) ran out of memory in request {}; it is "
        "replaced",
        plan_.function_name, environment.number(), environment.pid(), assignment.request_id);
    environment.stop(StopReason::kOutOfMemory, plan_.stop_grace);
  } else if (plan_.settings.max_invocations > 0 &&
             environment.invocations() >= plan_.settings.max_invocations) {
    environment.stop(StopReason::kRecycled, plan_.stop_grace);
  }
  update_gauges();
  finish(std::move(outcome));
}

void EnvironmentFunction::environment_stopped(Environment& environment, StopReason reason,
                                              const Assignment* assignment,
                                              RuntimeError&& failure) {
  // What it calls back (an invocation's finish, the stop's end) may drop the last reference
  // to this function; it lives to the end of this call.
  std::shared_ptr<EnvironmentFunction> alive = weak_from_this().lock();
  metrics_
      .counter("switchyard_environment_stops_total", "Execution environments stopped, by reason.",
               {{"function", plan_.function_name}, {"reason", std::string(to_string(reason))}})
      .inc_unshared();
  Finish finish;
  if (assignment != nullptr) {
    if (auto it = running_.find(assignment->number); it != running_.end()) {
      finish = std::move(it->second);
      running_.erase(it);
    }
  }
  if (reason == StopReason::kCrash) {
    spdlog::warn("function {}: environment {} (pid {}) stopped: {}: {}", plan_.function_name,
                 environment.number(), environment.pid(), failure.type, failure.message);
  } else {
    spdlog::debug("function {}: environment {} stopped ({})", plan_.function_name,
                  environment.number(), to_string(reason));
  }
  core::Outcome outcome = failure_outcome(failure);
  outcome.log_tail = environment.take_output();
  if (environment.invocations() == 1) {
    outcome.init_duration =
        std::chrono::duration_cast<std::chrono::microseconds>(environment.init_duration());
  }
  ++stops_[static_cast<std::size_t>(reason)];
  retire(environment);
  if (reason == StopReason::kInitFailure) {
    init_failed(failure);
  }
  if (finish) {
    finish(std::move(outcome));
  }
  dispatch();
  check_prepared();
  if (stopped_ && environments_.empty()) {
    std::function<void()> stopped = std::move(stopped_);
    stopped_ = nullptr;
    stopped();
  }
}

void EnvironmentFunction::stop(std::function<void()> stopped) {
  stopping_ = true;
  fail_waiting(RuntimeError{"Runtime.Shutdown", "the function is shutting down"});
  if (environments_.empty()) {
    stopped();
    return;
  }
  stopped_ = std::move(stopped);
  for (auto& environment : environments_) {
    if (environment->state() == EnvironmentState::kBusy) {
      environment->kill(StopReason::kShutdown);
    } else {
      environment->stop(StopReason::kShutdown, plan_.stop_grace);
    }
  }
}

void EnvironmentFunction::environment_output(Environment& environment, OutputStream stream,
                                             std::string_view line) {
  const bool busy = environment.state() == EnvironmentState::kBusy;
  if (busy) {
    environment.keep_output(line);
  }
  spdlog::info("function {} request {} {}: {}", plan_.function_name,
               busy ? std::string_view(environment.assignment().request_id) : std::string_view("-"),
               stream == OutputStream::kStdout ? "stdout" : "stderr", line);
}

void EnvironmentFunction::retire(Environment& environment) {
  auto it = std::find_if(environments_.begin(), environments_.end(),
                         [&](const auto& held) { return held.get() == &environment; });
  if (it == environments_.end()) {
    return;
  }
  retired_.push_back(std::move(*it));
  environments_.erase(it);
  // Not destroyed inside its own callback.
  loop_.defer([weak = weak_from_this()] {
    if (auto self = weak.lock()) {
      self->retired_.clear();
    }
  });
}

void EnvironmentFunction::sweep_idle() {
  const auto now = Clock::now();
  int live = 0;
  for (const auto& environment : environments_) {
    live += environment->state() != EnvironmentState::kStopping;
  }
  for (auto& environment : environments_) {
    if (live <= plan_.settings.min_environments) {
      break;
    }
    if (environment->state() == EnvironmentState::kIdle &&
        now - environment->idle_since() >= plan_.settings.idle_timeout) {
      environment->stop(StopReason::kIdle, plan_.stop_grace);
      --live;
    }
  }
  update_gauges();
}

void EnvironmentFunction::prepare(Ready ready) {
  prepared_ = std::move(ready);
  int wanted = std::max(plan_.settings.min_environments, 1);
  for (int i = 0; i < wanted; ++i) {
    if (!spawn()) {
      return;  // init_failed() answered.
    }
  }
  update_gauges();
}

void EnvironmentFunction::check_prepared() {
  if (!prepared_) {
    return;
  }
  for (const auto& environment : environments_) {
    if (environment->state() == EnvironmentState::kStarting) {
      return;
    }
  }
  answer_prepared(core::Status::ok_status());
}

EnvironmentFunction::Counts EnvironmentFunction::counts() const {
  Counts counts;
  for (const auto& environment : environments_) {
    switch (environment->state()) {
      case EnvironmentState::kStarting:
        ++counts.starting;
        break;
      case EnvironmentState::kIdle:
        ++counts.idle;
        break;
      case EnvironmentState::kBusy:
      case EnvironmentState::kReturning:
        ++counts.busy;
        break;
      case EnvironmentState::kStopping:
      case EnvironmentState::kStopped:
        ++counts.stopping;
        break;
    }
  }
  counts.waiting = waiting_.size();
  return counts;
}

std::string EnvironmentFunction::status_json() const {
  Counts now = counts();
  std::string json = fmt::format(
      R"({{"warm":{},"busy":{},"starting":{},"stopping":{},"waiting":{},"cold_starts":{},)"
      R"("init_ms_last":{:.3f},"stops":{{)",
      now.idle, now.busy, now.starting, now.stopping, now.waiting, cold_starts_.value(),
      std::chrono::duration<double, std::milli>(last_init_).count());
  for (std::size_t i = 0; i < stops_.size(); ++i) {
    json += fmt::format(R"({}"{}":{})", i == 0 ? "" : ",", to_string(static_cast<StopReason>(i)),
                        stops_[i]);
  }
  json += "}}";
  return json;
}

std::vector<pid_t> EnvironmentFunction::pids() const {
  std::vector<pid_t> pids;
  for (const auto& environment : environments_) {
    if (environment->pid() > 0) {
      pids.push_back(environment->pid());
    }
  }
  return pids;
}

void EnvironmentFunction::update_gauges() {
  // Deltas: two versions of a function (one finishing after a reload) share the gauges.
  Counts now = counts();
  starting_gauge_.add(now.starting - published_.starting);
  idle_gauge_.add(now.idle - published_.idle);
  busy_gauge_.add(now.busy - published_.busy);
  published_ = now;
}

}  // namespace switchyard::environments
