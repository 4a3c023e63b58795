#include "triggers/shared_async.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <utility>

#include "async/event_codec.h"

namespace switchyard::triggers {

namespace {

// What the reader's trigger dispatches to: the AsyncQueue's intake. Capacity watches and
// Retry-After are the scheduler's.
class IntakeDispatcher final : public scheduler::Dispatcher {
 public:
  IntakeDispatcher(scheduler::Dispatcher& scheduler, async::SharedIntake& intake,
                   const SharedReaderSettings& settings, core::Counter& unreadable)
      : scheduler_(scheduler), intake_(intake), settings_(settings), unreadable_(unreadable) {}

  scheduler::Admission dispatch(std::string_view function, core::Event&& event) override {
    if (event.pending) {
      event.pending.build(event);
    }
    auto record = settings_.decode(event);
    if (!record.ok()) {
      return unreadable(std::move(event),
                        "it is not an asynchronous invocation this daemon "
                        "can read (" +
                            record.error().message() + ")");
    }
    if (record->function != function) {
      return unreadable(std::move(event),
                        fmt::format("it is an invocation of function {}, not {}: another "
                                    "daemon names this queue for another function",
                                    record->function, function));
    }
    // The reader's event answers the reader (its id and source tag); its contents are in the
    // record now.
    event.data.clear();
    event.attributes.clear();
    std::string entry = event.id;
    return intake_.take(function, std::move(record).value(), std::move(entry), std::move(event));
  }

  scheduler::Admission dispatch_batch(std::string_view, std::vector<core::Event>&&,
                                      scheduler::BatchEncoder) override {
    return scheduler::Admission::kRejected;  // The reader reads one at a time.
  }

  std::size_t capacity(std::string_view function) const override {
    return intake_.capacity(function);
  }
  std::chrono::seconds retry_after(std::string_view function) const override {
    return scheduler_.retry_after(function);
  }
  std::size_t watch_capacity(std::string_view function,
                             std::function<void()> on_capacity) override {
    return scheduler_.watch_capacity(function, std::move(on_capacity));
  }
  void unwatch_capacity(std::size_t id) override { scheduler_.unwatch_capacity(id); }

 private:
  // Answers the reader at once, as the kind says.
  scheduler::Admission unreadable(core::Event&& event, const std::string& why) {
    unreadable_.inc_unshared();
    const bool leave = settings_.unreadable == SharedReaderSettings::Unreadable::kLeave;
    spdlog::error("asynchronous queue of {} ({}): entry {}: {}; it is {}", settings_.function,
                  settings_.queue, event.id, why,
                  leave ? "left pending" : "passed over (it stays in the log)");
    core::Event taken = std::move(event);
    core::Outcome outcome =
        leave ? core::Outcome::failure(core::OutcomeKind::kRejected, "Unreadable", why)
              : core::Outcome::success({});
    auto completion = std::move(taken.completion);
    completion(taken, outcome);
    return scheduler::Admission::kStarted;
  }

  scheduler::Dispatcher& scheduler_;
  async::SharedIntake& intake_;
  const SharedReaderSettings& settings_;
  core::Counter& unreadable_;
};

class SharedReader final : public Trigger {
 public:
  SharedReader(TriggerContext& context, async::SharedIntake& intake, SharedReaderSettings settings,
               const std::function<TriggerPtr(TriggerContext& context)>& make_source)
      : settings_(std::move(settings)),
        intake_(intake),
        dispatcher_(context.dispatcher, intake, settings_,
                    context.metrics.counter("switchyard_async_unreadable_total",
                                            "Entries of a shared asynchronous queue that are not "
                                            "invocations this daemon can run.",
                                            {{"function", settings_.function}})),
        context_{context.loop,        dispatcher_,          context.metrics,
                 context.daemon,      context.dead_letters, context.async_invocations,
                 context.shared_async},
        source_(make_source(context_)) {}

  std::string describe() const override {
    return "asynchronous queue of " + settings_.function + ": " + source_->describe();
  }
  core::Status start() override { return source_->start(); }
  void stop(std::function<void()> done) override {
    source_->stop(std::move(done));
    intake_.release(settings_.function);
  }
  bool update(const config::Snapshot& snapshot) override { return source_->update(snapshot); }

 private:
  SharedReaderSettings settings_;
  async::SharedIntake& intake_;
  IntakeDispatcher dispatcher_;
  TriggerContext context_;
  TriggerPtr source_;  // Last: gone first.
};

template <typename Number>
bool parse_number(std::string_view text, Number& out) {
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return error == std::errc() && end == text.data() + text.size();
}

}  // namespace

core::Result<async::Record> invocation_from_attributes(const core::Event& event,
                                                       std::string_view prefix,
                                                       std::string_view what) {
  async::Record record;
  auto field = [&](std::string_view name) -> const std::string* {
    const core::Attribute* attribute =
        core::find_attribute(event.attributes, fmt::format("{}{}", prefix, name));
    return attribute != nullptr ? &attribute->value : nullptr;
  };
  auto missing = [&](std::string_view name) {
    return core::Error(core::ErrorCode::kInvalidArgument,
                       fmt::format("no valid {} \"{}\"", what, name));
  };
  const std::string* id = field("request_id");
  if (id == nullptr || id->empty()) {
    return missing("request_id");
  }
  record.id = *id;
  if (const std::string* function = field("function")) {
    record.function = *function;
  }
  const std::string* attempts = field("attempts");
  if (attempts == nullptr || !parse_number(*attempts, record.attempts) || record.attempts < 0) {
    return missing("attempts");
  }
  const std::string* enqueued = field("enqueued_at");
  if (enqueued == nullptr || !parse_number(*enqueued, record.enqueued_at_ms)) {
    return missing("enqueued_at");
  }
  const std::string* next = field("next_attempt_at");
  if (next == nullptr || !parse_number(*next, record.next_attempt_at_ms)) {
    return missing("next_attempt_at");
  }
  core::Status decoded = async::decode_event(event.data, record.event);
  if (!decoded.ok()) {
    return core::Error(core::ErrorCode::kInvalidArgument,
                       "the event in its data: " + decoded.error().message());
  }
  record.size = event.data.size();
  return record;
}

TriggerPtr make_shared_reader(
    TriggerContext& context, async::SharedIntake& intake, SharedReaderSettings settings,
    const std::function<TriggerPtr(TriggerContext& context)>& make_source) {
  return std::make_unique<SharedReader>(context, intake, std::move(settings), make_source);
}

}  // namespace switchyard::triggers
