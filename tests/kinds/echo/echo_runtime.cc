#include "tests/kinds/echo/echo_runtime.h"

#include <memory>

#include "config/reader.h"

namespace switchyard::testing::echo {
namespace {

struct EchoSettings final : config::SettingsOf<EchoSettings, config::RuntimeSettings> {
  std::string prefix;

  std::vector<std::filesystem::path> code_files() const override { return {}; }
  std::string describe() const override { return "echo with prefix \"" + prefix + "\""; }
  bool operator==(const EchoSettings&) const = default;
};

std::shared_ptr<const config::RuntimeSettings> parse(config::MapReader& root,
                                                     const config::ManifestScope&) {
  auto settings = std::make_shared<EchoSettings>();
  root.read_string("prefix", settings->prefix);
  return settings;
}

core::Result<functions::FunctionPtr> load(const config::FunctionManifest& manifest,
                                          const functions::LoadOptions&) {
  const auto& settings = dynamic_cast<const EchoSettings&>(*manifest.code);
  std::string prefix = settings.prefix;
  return functions::FunctionPtr(std::make_shared<functions::CallableFunction>(
      manifest.name, [prefix](const core::Event& event, const functions::InvocationContext&) {
        core::Response response;
        response.body = prefix + event.data;
        return core::Outcome::success(std::move(response));
      }));
}

}  // namespace

void register_echo_runtime(functions::RuntimeRegistry& registry) {
  functions::RuntimeKind runtime;
  runtime.manifest.key = "echo";
  runtime.manifest.keys = {"prefix"};
  runtime.manifest.parse = parse;
  runtime.load = load;
  auto status = registry.add(std::move(runtime));
  (void)status;
}

}  // namespace switchyard::testing::echo
