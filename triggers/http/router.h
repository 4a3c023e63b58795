#pragma once

// Maps an HTTP request (method and percent-encoded path) to one of the configured HTTP triggers.
//
// Routes are path templates in API Gateway's syntax: literal segments, `{name}` (one whole
// segment) and `{name+}` (greedy: the rest of the path, one or more characters, last segment
// only). They are stored in a segment trie, so matching costs one hash lookup per segment and no
// regex. Precedence is API Gateway's: a literal segment beats a parameter, and a parameter beats a
// greedy one; when a more specific branch fails further down, the less specific one is tried.
//
// Matching is strict about slashes: "/users/" does not match "/users" nor "/users/{id}", because
// an empty segment never matches a parameter. Templates may not contain empty segments either.
//
// Thread rules: build the router with add() on one thread, then match() may be called from any
// number of threads at once (it only reads).

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"

namespace switchyard::triggers::http {

struct RouteMatch {
  std::size_t route_index = 0;
  // Path parameters in template order, percent-decoded (a greedy parameter holds the decoded rest
  // of the path, slashes included).
  std::vector<std::pair<std::string, std::string>> params;
};

class Router {
 public:
  enum class Result { kMatched, kNotFound, kMethodNotAllowed };

  // The most parameters (greedy included) one template may have; it bounds match()'s stack.
  static constexpr std::size_t kMaxParams = 32;

  Router();
  ~Router();
  Router(Router&&) noexcept;
  Router& operator=(Router&&) noexcept;
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // Adds a route. `methods` are HTTP method tokens (upper-cased here); empty means any method.
  // Returns an error for a malformed template or method, and for a conflict: a route of the same
  // shape (same literals, parameters and greedy parameter at the same places, whatever the
  // parameter names) whose method set overlaps this one. On error the router is unchanged.
  core::Status add(std::string_view path_template, std::vector<std::string> methods,
                   std::size_t route_index);

  // Matches a request. `path` is the percent-encoded path of the request-target; each segment is
  // decoded on its own, so "%2F" inside a segment never splits it. HEAD also matches a route that
  // allows GET (a route that lists HEAD itself wins). On kMatched `out` is filled; on
  // kMethodNotAllowed `allow` receives the methods the matching routes accept, as configured
  // ("GET, POST"), for the Allow header. A path that does not start with '/' is kNotFound.
  Result match(std::string_view method, std::string_view path, RouteMatch& out,
               std::string& allow) const;

  struct Node;
  struct Endpoint;

 private:
  std::unique_ptr<Node> root_;
};

}  // namespace switchyard::triggers::http
