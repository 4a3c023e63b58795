#include "tests/kinds/tick/tick_trigger.h"

#include <memory>

#include "config/reader.h"

namespace switchyard::testing::tick {
namespace {

struct TickSettings final : config::SettingsOf<TickSettings> {
  int count = 1;
  std::string data;
  bool operator==(const TickSettings&) const = default;
};

std::shared_ptr<const config::Settings> parse(config::MapReader& body,
                                              const config::ManifestScope&) {
  auto settings = std::make_shared<TickSettings>();
  body.allow_keys({"count", "data"});
  if (body.require("count")) {
    body.read_int("count", 1, 1000, settings->count);
  }
  body.read_string("data", settings->data);
  return settings;
}

class TickTrigger final : public triggers::Trigger {
 public:
  TickTrigger(triggers::TriggerContext& context, std::string function, TickSettings settings)
      : context_(context),
        function_(std::move(function)),
        settings_(std::move(settings)),
        timer_(context.loop, [this] { tick(); }) {}

  std::string describe() const override { return "tick (" + function_ + ")"; }

  core::Status start() override {
    timer_.start(std::chrono::milliseconds(1), std::chrono::milliseconds(1));
    return {};
  }

  void stop(std::function<void()> done) override {
    timer_.stop();
    on_stopped_ = std::move(done);
    if (answered_ == sent_) {
      on_stopped_();
    }
  }

 private:
  void tick() {
    if (sent_ == settings_.count) {
      timer_.stop();
      return;
    }
    core::Event event;
    event.id = "tick-" + std::to_string(++sent_);
    event.data = settings_.data;
    event.synchronous = true;
    event.completion = [this](core::Event&, core::Outcome& outcome) {
      answers().push_back(outcome.ok() ? std::string(outcome.response.body)
                                       : outcome.error_type + ": " + outcome.error_message);
      if (++answered_ == sent_ && on_stopped_) {
        on_stopped_();
      }
    };
    context_.dispatcher.dispatch(function_, std::move(event));
  }

  triggers::TriggerContext& context_;
  std::string function_;
  TickSettings settings_;
  core::Timer timer_;
  int sent_ = 0;
  int answered_ = 0;
  std::function<void()> on_stopped_;
};

core::Result<std::vector<triggers::TriggerPtr>> build(const config::Snapshot& snapshot,
                                                      triggers::TriggerContext& context) {
  std::vector<triggers::TriggerPtr> built;
  for (const auto& manifest : snapshot.functions) {
    for (const auto& trigger : manifest.triggers) {
      if (const auto* settings = trigger.as<TickSettings>()) {
        built.push_back(std::make_unique<TickTrigger>(context, manifest.name, *settings));
      }
    }
  }
  return built;
}

}  // namespace

std::vector<std::string>& answers() {
  static std::vector<std::string> all;
  return all;
}

void register_tick_trigger(triggers::TriggerRegistry& registry) {
  triggers::TriggerKind kind;
  kind.manifest.key = "tick";
  kind.manifest.parse = parse;
  kind.factory = build;
  auto status = registry.add(std::move(kind));
  (void)status;
}

}  // namespace switchyard::testing::tick
