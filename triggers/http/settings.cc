#include "triggers/http/settings.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "config/reader.h"

namespace switchyard::triggers::http {
namespace {

bool is_identifier(std::string_view text) {
  if (text.empty() || std::isdigit(static_cast<unsigned char>(text.front()))) {
    return false;
  }
  return std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

// Returns what is wrong with an HTTP route template, or an empty string.
std::string http_path_problem(std::string_view path) {
  if (path.empty() || path.front() != '/') {
    return "must start with '/'";
  }
  for (char c : path) {
    if (c == '?' || c == '#' || std::isspace(static_cast<unsigned char>(c))) {
      return std::string("must not contain '") + (c == '?' || c == '#' ? c : ' ') +
             "' (routes match the path only)";
    }
  }
  std::set<std::string, std::less<>> parameters;
  std::size_t start = 1;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) {
      end = path.size();
    }
    std::string_view segment = path.substr(start, end - start);
    bool last = end == path.size();
    if (segment.empty() && !last) {
      return "must not contain an empty segment (\"//\")";
    }
    bool has_brace = segment.find_first_of("{}") != std::string_view::npos;
    if (has_brace) {
      if (segment.size() < 3 || segment.front() != '{' || segment.back() != '}') {
        return "has a malformed parameter \"" + std::string(segment) +
               "\": a parameter is a whole segment, {name} or {name+}";
      }
      std::string_view name = segment.substr(1, segment.size() - 2);
      bool greedy = name.back() == '+';
      if (greedy) {
        name.remove_suffix(1);
      }
      if (!is_identifier(name)) {
        return "has a malformed parameter \"" + std::string(segment) +
               "\": names are letters, digits and _";
      }
      if (greedy && !last) {
        return "has a greedy parameter \"" + std::string(segment) +
               "\" that is not the last segment";
      }
      if (!parameters.emplace(name).second) {
        return "uses the parameter name \"" + std::string(name) + "\" twice";
      }
    }
    start = end + 1;
  }
  return {};
}

void read_http(config::MapReader& body, const config::ManifestScope& scope,
               HttpTriggerSettings& out) {
  body.allow_keys({"path", "methods", "payload"});
  if (body.require("path") && body.read_string("path", out.path)) {
    std::string problem = http_path_problem(out.path);
    if (!problem.empty()) {
      body.file_reader().fail(body.get("path"),
                              body.name("path") + " \"" + out.path + "\" " + problem);
    }
  }
  YAML::Node methods = body.get("methods");
  if (methods.IsDefined()) {
    static constexpr std::string_view kMethods[] = {"GET",   "HEAD",    "POST",    "PUT",  "DELETE",
                                                    "PATCH", "OPTIONS", "CONNECT", "TRACE"};
    if (!methods.IsSequence()) {
      body.file_reader().fail(methods, body.name("methods") +
                                           " must be a list such as [GET, POST] (got " +
                                           config::describe(methods) + ")");
    } else {
      for (std::size_t i = 0; i < methods.size(); ++i) {
        std::string name = body.name("methods") + "[" + std::to_string(i) + "]";
        std::optional<std::string> method =
            body.file_reader().scalar(methods[i], name, "an HTTP method");
        if (!method) {
          continue;
        }
        std::transform(method->begin(), method->end(), method->begin(),
                       [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
        if (std::find(std::begin(kMethods), std::end(kMethods), *method) == std::end(kMethods)) {
          body.file_reader().fail(methods[i],
                                  name + " \"" + methods[i].Scalar() +
                                      "\" is not an HTTP method (expected GET, HEAD, "
                                      "POST, PUT, DELETE, PATCH, OPTIONS, CONNECT or TRACE)");
          continue;
        }
        if (std::find(out.methods.begin(), out.methods.end(), *method) == out.methods.end()) {
          out.methods.push_back(std::move(*method));
        }
      }
    }
  }
  body.read_payload(scope, {"apigw-v2"}, "apigw-v2", out.payload);
}

}  // namespace

std::string HttpTriggerSettings::describe() const {
  std::string text;
  for (const std::string& method : methods) {
    text += (text.empty() ? "" : ",") + method;
  }
  return (text.empty() ? "*" : text) + " " + path;
}

std::shared_ptr<const config::Settings> parse_http_trigger(config::MapReader& body,
                                                           const config::ManifestScope& scope) {
  auto settings = std::make_shared<HttpTriggerSettings>();
  read_http(body, scope, *settings);
  return settings;
}

}  // namespace switchyard::triggers::http
