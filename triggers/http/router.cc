#include "triggers/http/router.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <functional>
#include <unordered_map>

#include "triggers/http/payload.h"

namespace switchyard::triggers::http {

namespace {

// Lets the literal map be searched with a std::string_view, so matching a literal segment does
// not allocate.
struct SegmentHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const {
    return std::hash<std::string_view>{}(text);
  }
};

enum class SegmentKind { kLiteral, kParam, kGreedy };

struct Segment {
  SegmentKind kind;
  std::string text;  // The decoded literal, or the parameter's name.
};

core::Error template_error(std::string_view path_template, std::string_view what) {
  std::string message = "route template \"";
  message.append(path_template);
  message.append("\": ");
  message.append(what);
  return core::Error(core::ErrorCode::kInvalidArgument, std::move(message));
}

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.';
}

// RFC 9110 tchar.
bool is_token_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
    return true;
  }
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

core::Result<std::vector<Segment>> parse_template(std::string_view path_template) {
  if (path_template.empty() || path_template.front() != '/') {
    return template_error(path_template, "must start with '/'");
  }
  std::vector<Segment> segments;
  std::string_view rest = path_template.substr(1);
  if (rest.empty()) {
    return segments;  // "/" is the root: no segments.
  }
  std::size_t param_count = 0;
  std::size_t pos = 0;
  while (pos != std::string_view::npos) {
    std::size_t end = rest.find('/', pos);
    std::string_view text =
        rest.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    bool last = end == std::string_view::npos;
    pos = last ? std::string_view::npos : end + 1;

    if (text.empty()) {
      return template_error(path_template, "has an empty segment (a doubled or trailing '/')");
    }
    auto opens = std::count(text.begin(), text.end(), '{');
    auto closes = std::count(text.begin(), text.end(), '}');
    if (opens == 0 && closes == 0) {
      Segment segment{SegmentKind::kLiteral, {}};
      if (!percent_decode(text, segment.text)) {
        return template_error(path_template,
                              "has an invalid percent-encoding in \"" + std::string(text) + "\"");
      }
      segments.push_back(std::move(segment));
      continue;
    }
    if (opens != 1 || closes != 1 || text.find('{') > text.find('}')) {
      return template_error(path_template,
                            "has unbalanced braces in segment \"" + std::string(text) + "\"");
    }
    if (text.front() != '{' || text.back() != '}') {
      return template_error(path_template, "a parameter must be a whole segment, not part of \"" +
                                               std::string(text) + "\"");
    }
    std::string_view name = text.substr(1, text.size() - 2);
    bool greedy = !name.empty() && name.back() == '+';
    if (greedy) {
      name.remove_suffix(1);
    }
    if (name.empty()) {
      return template_error(path_template, "has an empty parameter name");
    }
    if (!std::all_of(name.begin(), name.end(), is_name_char)) {
      return template_error(path_template,
                            "parameter name \"" + std::string(name) +
                                "\" may only contain letters, digits, '_', '-', '.'");
    }
    if (greedy && !last) {
      return template_error(
          path_template, "greedy parameter {" + std::string(name) + "+} must be the last segment");
    }
    for (const Segment& previous : segments) {
      if (previous.kind != SegmentKind::kLiteral && previous.text == name) {
        return template_error(path_template,
                              "duplicate parameter name \"" + std::string(name) + "\"");
      }
    }
    if (++param_count > Router::kMaxParams) {
      return template_error(path_template,
                            "has more than " + std::to_string(Router::kMaxParams) + " parameters");
    }
    segments.push_back({greedy ? SegmentKind::kGreedy : SegmentKind::kParam, std::string(name)});
  }
  return segments;
}

std::string describe_methods(const std::vector<std::string>& methods) {
  if (methods.empty()) {
    return "any method";
  }
  std::string text;
  for (const std::string& method : methods) {
    if (!text.empty()) {
      text += ", ";
    }
    text += method;
  }
  return text;
}

}  // namespace

struct Router::Endpoint {
  std::vector<std::string> methods;  // Upper-case, no duplicates; empty means any.
  std::size_t route_index = 0;
  std::vector<std::string> param_names;  // In template order (the greedy one last).
  std::string path_template;             // For conflict messages.

  bool allows(std::string_view method) const {
    if (methods.empty()) {
      return true;
    }
    return std::find(methods.begin(), methods.end(), method) != methods.end();
  }
};

struct Router::Node {
  std::unordered_map<std::string, std::unique_ptr<Node>, SegmentHash, std::equal_to<>> literals;
  std::unique_ptr<Node> param;             // Any one non-empty segment.
  std::vector<Endpoint> endpoints;         // Routes whose template ends at this node.
  std::vector<Endpoint> greedy_endpoints;  // Routes whose greedy parameter follows this node.
};

Router::Router() : root_(std::make_unique<Node>()) {}
Router::~Router() = default;
Router::Router(Router&&) noexcept = default;
Router& Router::operator=(Router&&) noexcept = default;

core::Status Router::add(std::string_view path_template, std::vector<std::string> methods,
                         std::size_t route_index) {
  auto segments = parse_template(path_template);
  if (!segments.ok()) {
    return segments.error();
  }

  std::vector<std::string> normalized;
  for (std::string& method : methods) {
    if (method.empty() || !std::all_of(method.begin(), method.end(), is_token_char)) {
      return template_error(path_template, "invalid HTTP method \"" + method + "\"");
    }
    std::transform(method.begin(), method.end(), method.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    if (std::find(normalized.begin(), normalized.end(), method) == normalized.end()) {
      normalized.push_back(std::move(method));
    }
  }

  Endpoint endpoint;
  endpoint.methods = std::move(normalized);
  endpoint.route_index = route_index;
  endpoint.path_template = std::string(path_template);
  for (const Segment& segment : *segments) {
    if (segment.kind != SegmentKind::kLiteral) {
      endpoint.param_names.push_back(segment.text);
    }
  }

  // Walk without creating nodes first, so that a conflict leaves the router unchanged.
  const Node* node = root_.get();
  bool greedy = !segments->empty() && segments->back().kind == SegmentKind::kGreedy;
  std::size_t walk = segments->size() - (greedy ? 1 : 0);
  for (std::size_t i = 0; i < walk && node != nullptr; ++i) {
    const Segment& segment = (*segments)[i];
    if (segment.kind == SegmentKind::kLiteral) {
      auto it = node->literals.find(segment.text);
      node = it == node->literals.end() ? nullptr : it->second.get();
    } else {
      node = node->param.get();
    }
  }
  if (node != nullptr) {
    const std::vector<Endpoint>& existing = greedy ? node->greedy_endpoints : node->endpoints;
    for (const Endpoint& other : existing) {
      bool overlap = endpoint.methods.empty() || other.methods.empty() ||
                     std::any_of(endpoint.methods.begin(), endpoint.methods.end(),
                                 [&](const std::string& m) { return other.allows(m); });
      if (overlap) {
        return core::Error(core::ErrorCode::kInvalidArgument,
                           "route \"" + endpoint.path_template + "\" (" +
                               describe_methods(endpoint.methods) + ") conflicts with route \"" +
                               other.path_template + "\" (" + describe_methods(other.methods) +
                               "): both match the same paths for an overlapping method");
      }
    }
  }

  Node* target = root_.get();
  for (std::size_t i = 0; i < walk; ++i) {
    const Segment& segment = (*segments)[i];
    std::unique_ptr<Node>* child;
    if (segment.kind == SegmentKind::kLiteral) {
      child = &target->literals[segment.text];
    } else {
      child = &target->param;
    }
    if (!*child) {
      *child = std::make_unique<Node>();
    }
    target = child->get();
  }
  (greedy ? target->greedy_endpoints : target->endpoints).push_back(std::move(endpoint));
  return core::Status();
}

namespace {

// The state of one match() call: a depth-first walk of the trie in precedence order (literal,
// then parameter, then greedy) that stops at the first route allowing the method.
struct MatchWalk {
  std::string_view method;
  std::string_view rest;                                        // The path without its leading '/'.
  std::array<std::string_view, Router::kMaxParams> captured{};  // Raw values, by depth.
  const Router::Endpoint* found = nullptr;
  // Endpoint lists whose path matched but whose methods did not; filled only on that rare path.
  std::vector<const std::vector<Router::Endpoint>*> path_only;

  bool pick(const std::vector<Router::Endpoint>& endpoints) {
    for (const Router::Endpoint& endpoint : endpoints) {
      if (endpoint.allows(method)) {
        found = &endpoint;
        return true;
      }
    }
    if (method == "HEAD") {
      for (const Router::Endpoint& endpoint : endpoints) {
        if (endpoint.allows("GET")) {
          found = &endpoint;
          return true;
        }
      }
    }
    if (!endpoints.empty()) {
      path_only.push_back(&endpoints);
    }
    return false;
  }

  // `pos` is where the current segment starts in `rest`, or npos once every segment is consumed.
  bool visit(const Router::Node& node, std::size_t pos, std::size_t depth) {
    if (pos == std::string_view::npos) {
      return pick(node.endpoints);
    }
    std::size_t end = rest.find('/', pos);
    std::string_view segment =
        rest.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    std::size_t next = end == std::string_view::npos ? std::string_view::npos : end + 1;

    if (!node.literals.empty()) {
      auto it = node.literals.end();
      if (segment.find('%') == std::string_view::npos) {
        it = node.literals.find(segment);
      } else {
        std::string decoded;
        // An undecodable segment is compared as written.
        it = node.literals.find(percent_decode(segment, decoded) ? std::string_view(decoded)
                                                                 : segment);
      }
      if (it != node.literals.end() && visit(*it->second, next, depth)) {
        return true;
      }
    }
    // Templates never have more than kMaxParams parameters, so depth stays in range; the check
    // keeps a broken invariant from writing out of bounds.
    if (depth >= captured.size()) {
      return false;
    }
    if (node.param && !segment.empty()) {
      captured[depth] = segment;
      if (visit(*node.param, next, depth + 1)) {
        return true;
      }
    }
    if (!node.greedy_endpoints.empty() && pos < rest.size()) {
      captured[depth] = rest.substr(pos);
      if (pick(node.greedy_endpoints)) {
        return true;
      }
    }
    return false;
  }
};

}  // namespace

Router::Result Router::match(std::string_view method, std::string_view path, RouteMatch& out,
                             std::string& allow) const {
  if (path.empty() || path.front() != '/') {
    return Result::kNotFound;
  }
  MatchWalk walk;
  walk.method = method;
  walk.rest = path.substr(1);
  // "/" has no segments; "/x" has one, "/x/" two (the second empty).
  std::size_t start = walk.rest.empty() ? std::string_view::npos : 0;
  if (walk.visit(*root_, start, 0)) {
    out.route_index = walk.found->route_index;
    out.params.clear();
    out.params.reserve(walk.found->param_names.size());
    for (std::size_t i = 0; i < walk.found->param_names.size(); ++i) {
      std::string value;
      // A value with a bad escape is passed on as written rather than failing the request.
      if (!percent_decode(walk.captured[i], value)) {
        value.assign(walk.captured[i]);
      }
      out.params.emplace_back(walk.found->param_names[i], std::move(value));
    }
    return Result::kMatched;
  }
  if (walk.path_only.empty()) {
    return Result::kNotFound;
  }
  allow.clear();
  std::vector<std::string_view> listed;
  for (const std::vector<Endpoint>* endpoints : walk.path_only) {
    for (const Endpoint& endpoint : *endpoints) {
      for (const std::string& allowed : endpoint.methods) {
        if (std::find(listed.begin(), listed.end(), allowed) == listed.end()) {
          listed.push_back(allowed);
          if (!allow.empty()) {
            allow += ", ";
          }
          allow += allowed;
        }
      }
    }
  }
  return Result::kMethodNotAllowed;
}

}  // namespace switchyard::triggers::http
