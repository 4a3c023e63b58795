#include "environments/python_runtime.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <string_view>
#include <utility>

#include "config/reader.h"
#include "environments/code_package.h"
#include "environments/plan.h"

namespace switchyard::environments {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kDefaultInterpreter = "/usr/bin/python3";
// code_files() stops counting after this many files: a reload then misses changes beyond them.
constexpr std::size_t kMaxWatchedFiles = 10000;

// A bare program name ("python3.11") is looked up on the daemon's PATH, as a shell would.
fs::path find_interpreter(const std::string& text, const config::ManifestScope& scope) {
  if (text.find('/') != std::string::npos) {
    return scope.resolve(text);
  }
  const char* path = std::getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  while (!dirs.empty()) {
    auto colon = dirs.find(':');
    fs::path candidate = fs::path(std::string(dirs.substr(0, colon))) / text;
    if (::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    dirs = colon == std::string_view::npos ? std::string_view() : dirs.substr(colon + 1);
  }
  return fs::path(text);
}

// Whether `name`, a path below a sys.path entry, is a file Python imports as `module` (pkg/mod,
// slashes for dots): pkg/mod.py, the package pkg/mod/__init__.py, a sourceless pkg/mod.pyc (or
// package), or an extension module pkg/mod.so or pkg/mod.<tag>.so (cpython-311-x86_64-linux-gnu,
// abi3), as its finders do.
bool is_module_file(std::string_view name, std::string_view module) {
  if (name.substr(0, module.size()) != module) {
    return false;
  }
  const std::string_view rest = name.substr(module.size());
  if (rest == ".py" || rest == ".pyc" || rest == "/__init__.py" || rest == "/__init__.pyc") {
    return true;
  }
  constexpr std::string_view kExtension = ".so";
  return rest.size() >= kExtension.size() && rest.front() == '.' &&
         rest.find('/') == std::string_view::npos &&
         rest.substr(rest.size() - kExtension.size()) == kExtension;
}

// Whether `module` is a file below the folder `root` (a sys.path entry).
bool module_in_folder(const fs::path& root, const std::string& module) {
  std::error_code error;
  const auto slash = module.rfind('/');
  const std::string parent = slash == std::string::npos ? "" : module.substr(0, slash + 1);
  for (const char* init : {"/__init__.py", "/__init__.pyc"}) {
    if (fs::is_regular_file(root / (module + init), error)) {
      return true;
    }
  }
  for (const auto& entry : fs::directory_iterator(root / parent, error)) {
    if (entry.is_regular_file(error) &&
        is_module_file(parent + entry.path().filename().string(), module)) {
      return true;
    }
  }
  return false;
}

// Where a name inside a layer lands on sys.path: "python/x" and
// "python/lib/python3.X/site-packages/x" both give "x"; anything else gives "".
std::string_view on_layer_path(std::string_view name) {
  constexpr std::string_view kPython = "python/";
  constexpr std::string_view kLib = "lib/python3";
  constexpr std::string_view kSitePackages = "/site-packages/";
  if (name.substr(0, kPython.size()) != kPython) {
    return {};
  }
  name.remove_prefix(kPython.size());
  if (name.substr(0, kLib.size()) == kLib) {
    auto at = name.find(kSitePackages);
    if (at != std::string_view::npos && name.find('/', kLib.size()) == at) {
      return name.substr(at + kSitePackages.size());
    }
  }
  return name;
}

// The folders each layer adds to the module search path, in Lambda's order: its
// python/lib/python3.X/site-packages (every X present), then python/.
std::vector<fs::path> layer_path(const std::vector<fs::path>& layers) {
  std::vector<fs::path> folders;
  std::error_code error;
  for (const fs::path& layer : layers) {
    std::vector<fs::path> site_packages;
    for (const auto& entry : fs::directory_iterator(layer / "python" / "lib", error)) {
      if (entry.path().filename().string().rfind("python3", 0) == 0 &&
          fs::is_directory(entry.path() / "site-packages", error)) {
        site_packages.push_back(entry.path() / "site-packages");
      }
    }
    std::sort(site_packages.begin(), site_packages.end());
    folders.insert(folders.end(), site_packages.begin(), site_packages.end());
    folders.push_back(layer / "python");
  }
  return folders;
}

// Whether `module` (pkg/mod) is in the code or a layer (folders, or the names in packages).
bool module_present(const PythonSettings& settings, const std::string& module) {
  auto matches = [&](std::string_view name) { return is_module_file(name, module); };
  if (is_package(settings.code)) {
    auto names = package_files(settings.code);
    if (names.ok() && std::any_of(names.value().begin(), names.value().end(), matches)) {
      return true;
    }
  } else if (module_in_folder(settings.code, module)) {
    return true;
  }
  for (const fs::path& layer : settings.layers) {
    if (is_package(layer)) {
      auto names = package_files(layer);
      if (names.ok() &&
          std::any_of(names.value().begin(), names.value().end(), [&](const std::string& name) {
            std::string_view path = on_layer_path(name);
            return !path.empty() && matches(path);
          })) {
        return true;
      }
      continue;
    }
    for (const fs::path& root : layer_path({layer})) {
      if (module_in_folder(root, module)) {
        return true;
      }
    }
  }
  return false;
}

// A folder or a readable .zip, for `code` and each layer.
void check_code(config::FileReader& file, const YAML::Node& node, const std::string& key,
                const std::string& text, const fs::path& path) {
  std::error_code error;
  if (is_package(path)) {
    if (!fs::is_regular_file(path, error)) {
      file.fail(node, key + " \"" + text + "\" does not exist (resolved to " + path.string() + ")");
    } else if (auto names = package_files(path); !names.ok()) {
      file.fail(node, key + " \"" + text + "\": " + names.error().message());
    }
  } else if (!fs::is_directory(path, error)) {
    file.fail(node, key + " \"" + text + "\" is not a folder or a .zip (resolved to " +
                        path.string() + ")");
  }
}

void read_interpreter(config::MapReader& root, const config::ManifestScope& scope,
                      PythonSettings& out) {
  config::FileReader& file = root.file_reader();
  std::string text(kDefaultInterpreter);
  const bool named = root.read_string("python", text, false);
  out.interpreter = find_interpreter(text, scope);
  std::error_code error;
  std::string problem;
  if (!fs::exists(out.interpreter, error)) {
    problem = "does not exist";
  } else if (!fs::is_regular_file(out.interpreter, error) ||
             ::access(out.interpreter.c_str(), X_OK) != 0) {
    problem = "is not an executable file";
  }
  if (problem.empty()) {
    return;
  }
  if (named) {
    file.fail(root.get("python"), "python \"" + text + "\" " + problem + " (resolved to " +
                                      out.interpreter.string() + ")");
  } else {
    file.fail(root.node(), "the python3 runtime's interpreter " + out.interpreter.string() + " " +
                               problem + " (install python3, or name one with `python:`)");
  }
}

void read_layers(config::MapReader& root, const config::ManifestScope& scope, PythonSettings& out) {
  YAML::Node layers = root.get("layers");
  if (!layers.IsDefined()) {
    return;
  }
  config::FileReader& file = root.file_reader();
  if (!layers.IsSequence()) {
    file.fail(layers, "layers must be a list of folders or .zips such as [./layers/common] (got " +
                          config::describe(layers) + ")");
    return;
  }
  for (std::size_t i = 0; i < layers.size(); ++i) {
    std::string name = "layers[" + std::to_string(i) + "]";
    std::optional<std::string> text = file.scalar(layers[i], name, "a folder or a .zip");
    if (!text) {
      continue;
    }
    fs::path layer = scope.resolve(*text);
    check_code(file, layers[i], name, *text, layer);
    out.layers.push_back(std::move(layer));
  }
}

std::shared_ptr<const config::RuntimeSettings> parse_python(config::MapReader& root,
                                                            const config::ManifestScope& scope) {
  auto out = std::make_shared<PythonSettings>();
  config::FileReader& file = root.file_reader();
  const std::size_t errors_before = file.error_count();
  read_interpreter(root, scope, *out);

  out->code = scope.manifest_path.parent_path();
  std::string code;
  if (root.read_string("code", code, false)) {
    out->code = scope.resolve(code);
    check_code(file, root.get("code"), "code", code, out->code);
  }
  read_layers(root, scope, *out);
  std::string bootstrap;
  if (root.read_string("bootstrap", bootstrap, false)) {
    if (bootstrap == "awslambdaric") {
      out->bootstrap = PythonBootstrap::kAwslambdaric;
    } else if (bootstrap != "switchyard") {
      file.fail(root.get("bootstrap"),
                "bootstrap must be switchyard (the default) or "
                "awslambdaric (AWS's client, installed for `python`), not "
                "\"" +
                    bootstrap + "\"");
    }
  }

  if (root.require("handler") && root.read_string("handler", out->handler, false)) {
    const auto dot = out->handler.rfind('.');
    if (dot == std::string::npos || dot == 0 || dot + 1 == out->handler.size()) {
      file.fail(root.get("handler"),
                "handler \"" + out->handler + "\" is not module.function (as app.lambda_handler)");
    } else if (file.error_count() == errors_before) {
      std::string module = out->handler.substr(0, dot);
      std::string path = module;
      std::replace(path.begin(), path.end(), '.', '/');
      if (!module_present(*out, path)) {
        file.fail(root.get("handler"),
                  "handler \"" + out->handler + "\": no module " + module + " (" + path +
                      ".py or " + path + "/__init__.py, or its .pyc or .so) in " +
                      out->code.string() + (out->layers.empty() ? "" : " or its layers"));
      }
    }
  }
  functions::parse_environment_settings(root, out->environment);
  return out;
}

// Every file under `folder` but __pycache__, up to `files`' cap.
void collect_files(const fs::path& folder, std::vector<fs::path>& files) {
  std::error_code error;
  fs::recursive_directory_iterator it(folder, error);
  for (; !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
    if (it->path().filename() == "__pycache__") {
      it.disable_recursion_pending();
      continue;
    }
    if (files.size() >= kMaxWatchedFiles) {
      return;
    }
    if (it->is_regular_file(error)) {
      files.push_back(it->path());
    }
  }
}

void collect(const fs::path& code, std::vector<fs::path>& files) {
  if (is_package(code)) {
    files.push_back(code);
  } else {
    std::vector<fs::path> found;
    collect_files(code, found);
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
}

// "AWS_Lambda_python3.11", as Lambda names its runtimes, from the interpreter's real name.
std::string execution_env(const fs::path& interpreter) {
  std::error_code error;
  fs::path real = fs::canonical(interpreter, error);
  std::string name = error ? interpreter.filename().string() : real.filename().string();
  if (name.rfind("python3.", 0) != 0) {
    name = "python3";
  }
  return "AWS_Lambda_" + name;
}

fs::path state_dir(const functions::LoadOptions& options) {
  if (!options.state_dir.empty()) {
    return options.state_dir;
  }
  return fs::temp_directory_path() / ("switchyard-" + std::to_string(::getuid()));
}

// The folder an environment sees for `code`: itself, or where its package unpacked.
core::Result<fs::path> code_folder(const fs::path& code, const fs::path& state,
                                   const std::string& name) {
  if (!is_package(code)) {
    return code;
  }
  return unpack_package(code, state / "code", name);
}

core::Result<functions::FunctionPtr> load_python(const config::FunctionManifest& manifest,
                                                 const functions::LoadOptions& options) {
  const auto* settings = dynamic_cast<const PythonSettings*>(manifest.code.get());
  if (settings == nullptr) {
    return core::Error(core::ErrorCode::kInternal,
                       "function '" + manifest.name + "': not a python3 runtime's manifest");
  }
  auto failed = [&](const core::Error& error) {
    return core::Error(core::ErrorCode::kLoad,
                       "function '" + manifest.name + "': " + error.message());
  };
  const bool switchyard_client = settings->bootstrap == PythonBootstrap::kSwitchyard;
  fs::path runtime = python_runtime(options);
  std::error_code error;
  if (switchyard_client && !fs::is_regular_file(runtime / "bootstrap.py", error)) {
    return core::Error(core::ErrorCode::kLoad,
                       "function '" + manifest.name + "': the python3 runtime client " +
                           (runtime / "bootstrap.py").string() +
                           " is missing (it is installed with switchyard, in "
                           "share/switchyard/python)");
  }
  const fs::path state = state_dir(options);
  auto task_root = code_folder(settings->code, state, manifest.name);
  if (!task_root.ok()) {
    return failed(task_root.error());
  }
  std::vector<fs::path> layers;
  for (const fs::path& each : settings->layers) {
    auto layer = code_folder(each, state, "layer-" + each.stem().string());
    if (!layer.ok()) {
      return failed(layer.error());
    }
    layers.push_back(layer.value());
  }
  std::vector<std::string> arguments = {"--exec", settings->interpreter.string()};
  std::map<std::string, std::string> variables = {
      {"AWS_EXECUTION_ENV", execution_env(settings->interpreter)}};
  if (switchyard_client) {
    arguments.push_back((runtime / "bootstrap.py").string());
    for (const fs::path& layer : layers) {
      arguments.push_back("--layer");
      arguments.push_back(layer.string());
    }
    variables["LAMBDA_RUNTIME_DIR"] = runtime.string();
  } else {
    // As in AWS's container images: `python -m awslambdaric HANDLER` in the task root (so on
    // sys.path), the layers on PYTHONPATH, the Runtime API in AWS_LAMBDA_RUNTIME_API.
    arguments.insert(arguments.end(), {"-m", "awslambdaric", settings->handler});
    std::string python_path;
    for (const fs::path& folder : layer_path(layers)) {
      python_path += (python_path.empty() ? "" : ":") + folder.string();
    }
    if (!python_path.empty()) {
      variables["PYTHONPATH"] = python_path;
    }
  }
  // Lambda's /tmp: a scratch folder of the function's own.
  fs::path scratch = state / "tmp" / manifest.name;
  fs::create_directories(scratch, error);
  if (error) {
    return core::Error(core::ErrorCode::kLoad, "function '" + manifest.name +
                                                   "': cannot create its scratch folder " +
                                                   scratch.string() + ": " + error.message());
  }
  fs::permissions(scratch, fs::perms::owner_all, fs::perm_options::replace, error);

  variables["TMPDIR"] = scratch.string();

  EnvironmentPlan plan =
      make_plan(manifest, options, settings->environment, task_root.value(), settings->handler,
                std::move(arguments), std::make_shared<LambdaCodec>(), variables);
  // switchyard's client speaks the Runtime API on an inherited socket; awslambdaric only
  // connects to AWS_LAMBDA_RUNTIME_API.
  plan.socket_pair = switchyard_client;
  return load_environment_function(manifest, options, std::move(plan));
}

}  // namespace

std::vector<fs::path> PythonSettings::code_files() const {
  std::vector<fs::path> files;
  collect(code, files);
  for (const fs::path& layer : layers) {
    collect(layer, files);
  }
  return files;
}

std::string PythonSettings::describe() const {
  return code.string() + " (" + handler + ")";
}

fs::path python_runtime(const functions::LoadOptions& options) {
  if (!options.python_runtime.empty()) {
    return options.python_runtime;
  }
  std::error_code error;
  fs::path bin = fs::read_symlink("/proc/self/exe", error).parent_path();
  fs::path installed = bin.parent_path() / "share" / "switchyard" / "python";
  if (fs::exists(installed / "bootstrap.py", error)) {
    return installed;
  }
  return bin / "share" / "switchyard" / "python";
}

void register_python_runtime(functions::RuntimeRegistry& registry) {
  functions::RuntimeKind runtime;
  runtime.manifest.key = "python3";
  runtime.manifest.keys = {"handler", "code", "layers", "python", "bootstrap"};
  for (const std::string& key : functions::environment_keys()) {
    runtime.manifest.keys.push_back(key);
  }
  runtime.manifest.lambda_events = true;
  runtime.manifest.parse = parse_python;
  runtime.load = load_python;
  auto status = registry.add(std::move(runtime));
  (void)status;  // Registered once, at start: a duplicate is a programming error.
}

}  // namespace switchyard::environments
