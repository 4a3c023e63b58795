#include "triggers/http/router.h"

#include <doctest/doctest.h>

#include <string>

using switchyard::triggers::http::RouteMatch;
using switchyard::triggers::http::Router;

namespace {

// Matches and returns the result; `out` and `allow` receive what match() wrote.
Router::Result route(const Router& router, std::string_view method, std::string_view path,
                     RouteMatch& out, std::string& allow) {
  return router.match(method, path, out, allow);
}

std::string param(const RouteMatch& match, std::string_view name) {
  for (const auto& [key, value] : match.params) {
    if (key == name) {
      return value;
    }
  }
  return "<absent>";
}

}  // namespace

TEST_CASE("literal routes match exactly, including the root") {
  Router router;
  REQUIRE(router.add("/", {"GET"}, 0).ok());
  REQUIRE(router.add("/healthz", {}, 1).ok());
  REQUIRE(router.add("/a/b/c", {"POST"}, 2).ok());
  RouteMatch match;
  std::string allow;
  CHECK(route(router, "GET", "/", match, allow) == Router::Result::kMatched);
  CHECK(match.route_index == 0);
  CHECK(route(router, "DELETE", "/healthz", match, allow) == Router::Result::kMatched);
  CHECK(match.route_index == 1);
  CHECK(match.params.empty());
  CHECK(route(router, "POST", "/a/b/c", match, allow) == Router::Result::kMatched);
  CHECK(match.route_index == 2);
  CHECK(route(router, "POST", "/a/b", match, allow) == Router::Result::kNotFound);
  CHECK(route(router, "POST", "/a/b/c/d", match, allow) == Router::Result::kNotFound);
  CHECK(route(router, "GET", "/nothing", match, allow) == Router::Result::kNotFound);
  CHECK(route(router, "GET", "*", match, allow) == Router::Result::kNotFound);
  CHECK(route(router, "GET", "", match, allow) == Router::Result::kNotFound);
}

TEST_CASE("parameters capture whole segments, percent-decoded") {
  Router router;
  REQUIRE(router.add("/users/{id}/posts/{post}", {"GET"}, 7).ok());
  RouteMatch match;
  std::string allow;
  REQUIRE(route(router, "GET", "/users/42/posts/hello%20world", match, allow) ==
          Router::Result::kMatched);
  CHECK(match.route_index == 7);
  REQUIRE(match.params.size() == 2);
  CHECK(match.params[0].first == "id");
  CHECK(match.params[0].second == "42");
  CHECK(match.params[1].first == "post");
  CHECK(match.params[1].second == "hello world");

  // %2F is part of the segment, never a separator.
  REQUIRE(route(router, "GET", "/users/a%2Fb/posts/x", match, allow) == Router::Result::kMatched);
  CHECK(param(match, "id") == "a/b");
  // A malformed escape is passed on as written.
  REQUIRE(route(router, "GET", "/users/%zz/posts/x", match, allow) == Router::Result::kMatched);
  CHECK(param(match, "id") == "%zz");
}

TEST_CASE("trailing slashes and empty segments are strict") {
  Router router;
  REQUIRE(router.add("/users", {"GET"}, 0).ok());
  REQUIRE(router.add("/users/{id}", {"GET"}, 1).ok());
  RouteMatch match;
  std::string allow;
  CHECK(route(router, "GET", "/users/", match, allow) == Router::Result::kNotFound);
  CHECK(route(router, "GET", "/users//", match, allow) == Router::Result::kNotFound);
  CHECK(route(router, "GET", "/users/1/", match, allow) == Router::Result::kNotFound);
  CHECK(route(router, "GET", "//users", match, allow) == Router::Result::kNotFound);
  CHECK(route(router, "GET", "/users", match, allow) == Router::Result::kMatched);
  CHECK(match.route_index == 0);
}

TEST_CASE("a greedy parameter takes the rest of the path, at least one character") {
  Router router;
  REQUIRE(router.add("/files/{path+}", {"GET"}, 3).ok());
  RouteMatch match;
  std::string allow;
  REQUIRE(route(router, "GET", "/files/a/b%20c/d.txt", match, allow) == Router::Result::kMatched);
  CHECK(match.route_index == 3);
  CHECK(param(match, "path") == "a/b c/d.txt");
  REQUIRE(route(router, "GET", "/files/x", match, allow) == Router::Result::kMatched);
  CHECK(param(match, "path") == "x");
  CHECK(route(router, "GET", "/files/", match, allow) == Router::Result::kNotFound);
  CHECK(route(router, "GET", "/files", match, allow) == Router::Result::kNotFound);

  Router root;
  REQUIRE(root.add("/{proxy+}", {}, 0).ok());
  CHECK(route(root, "GET", "/anything/at/all", match, allow) == Router::Result::kMatched);
  CHECK(param(match, "proxy") == "anything/at/all");
  CHECK(route(root, "GET", "/", match, allow) == Router::Result::kNotFound);
}

TEST_CASE("a literal beats a parameter, which beats a greedy parameter, with fallback") {
  Router router;
  REQUIRE(router.add("/users/{id}", {"GET"}, 1).ok());
  REQUIRE(router.add("/users/me", {"GET"}, 0).ok());
  REQUIRE(router.add("/users/{proxy+}", {"GET"}, 2).ok());
  REQUIRE(router.add("/users/{id}/posts", {"GET"}, 3).ok());
  RouteMatch match;
  std::string allow;
  REQUIRE(route(router, "GET", "/users/me", match, allow) == Router::Result::kMatched);
  CHECK(match.route_index == 0);
  CHECK(match.params.empty());
  REQUIRE(route(router, "GET", "/users/42", match, allow) == Router::Result::kMatched);
  CHECK(match.route_index == 1);
  REQUIRE(route(router, "GET", "/users/42/other", match, allow) == Router::Result::kMatched);
  CHECK(match.route_index == 2);
  CHECK(param(match, "proxy") == "42/other");
  // The literal "me" branch has no /posts below it, so the parameter branch is tried.
  REQUIRE(route(router, "GET", "/users/me/posts", match, allow) == Router::Result::kMatched);
  CHECK(match.route_index == 3);
  CHECK(param(match, "id") == "me");
  // A percent-encoded literal still matches the literal.
  REQUIRE(route(router, "GET", "/users/%6De", match, allow) == Router::Result::kMatched);
  CHECK(match.route_index == 0);
}

TEST_CASE("routes that match the same paths with overlapping methods conflict") {
  Router router;
  REQUIRE(router.add("/users/{id}", {"GET", "POST"}, 0).ok());
  auto same_shape = router.add("/users/{name}", {"GET"}, 1);
  REQUIRE_FALSE(same_shape.ok());
  CHECK(same_shape.error().message() ==
        "route \"/users/{name}\" (GET) conflicts with route \"/users/{id}\" (GET, POST): both "
        "match the same paths for an overlapping method");
  auto any = router.add("/users/{x}", {}, 2);
  REQUIRE_FALSE(any.ok());
  CHECK(any.error().message().find("(any method)") != std::string::npos);
  // Disjoint methods on the same shape are fine, and so are more specific shapes.
  CHECK(router.add("/users/{name}", {"DELETE"}, 3).ok());
  CHECK(router.add("/users/me", {"GET"}, 4).ok());
  CHECK(router.add("/users/{id+}", {"GET"}, 5).ok());

  REQUIRE(router.add("/a/{x+}", {"PUT"}, 6).ok());
  auto greedy = router.add("/a/{y+}", {"put"}, 7);  // Methods are compared upper-cased.
  REQUIRE_FALSE(greedy.ok());
  CHECK(greedy.error().message().find("conflicts with route \"/a/{x+}\"") != std::string::npos);

  // A failed add leaves the router as it was.
  RouteMatch match;
  std::string allow;
  REQUIRE(route(router, "GET", "/users/7", match, allow) == Router::Result::kMatched);
  CHECK(match.route_index == 0);
  CHECK(param(match, "id") == "7");
}

TEST_CASE("a path that matches with another method is 405 with an Allow list") {
  Router router;
  REQUIRE(router.add("/items/{id}", {"GET", "PUT"}, 0).ok());
  REQUIRE(router.add("/items/{item}", {"POST", "GET2"}, 1).ok());
  REQUIRE(router.add("/items/special", {"PATCH"}, 2).ok());
  RouteMatch match;
  std::string allow;
  CHECK(route(router, "DELETE", "/items/1", match, allow) == Router::Result::kMethodNotAllowed);
  CHECK(allow == "GET, PUT, POST, GET2");
  // The literal route does not allow DELETE, and neither does the parameter route below it.
  CHECK(route(router, "DELETE", "/items/special", match, allow) ==
        Router::Result::kMethodNotAllowed);
  CHECK(allow == "PATCH, GET, PUT, POST, GET2");
  // GET on the literal's path falls back to the parameter route that allows it.
  REQUIRE(route(router, "GET", "/items/special", match, allow) == Router::Result::kMatched);
  CHECK(match.route_index == 0);
  CHECK(route(router, "DELETE", "/other", match, allow) == Router::Result::kNotFound);
}

TEST_CASE("HEAD matches a route that allows GET; an explicit HEAD route wins") {
  Router router;
  REQUIRE(router.add("/page", {"GET"}, 0).ok());
  REQUIRE(router.add("/doc", {"GET"}, 1).ok());
  REQUIRE(router.add("/doc", {"HEAD"}, 2).ok());
  REQUIRE(router.add("/post", {"POST"}, 3).ok());
  RouteMatch match;
  std::string allow;
  REQUIRE(route(router, "HEAD", "/page", match, allow) == Router::Result::kMatched);
  CHECK(match.route_index == 0);
  REQUIRE(route(router, "HEAD", "/doc", match, allow) == Router::Result::kMatched);
  CHECK(match.route_index == 2);
  CHECK(route(router, "HEAD", "/post", match, allow) == Router::Result::kMethodNotAllowed);
  CHECK(allow == "POST");
}

TEST_CASE("bad templates are rejected with a message that names the problem") {
  Router router;
  auto message = [&](std::string_view path_template, std::vector<std::string> methods = {}) {
    auto status = router.add(path_template, std::move(methods), 0);
    return status.ok() ? std::string("<ok>") : status.error().message();
  };
  CHECK(message("users") == "route template \"users\": must start with '/'");
  CHECK(message("") == "route template \"\": must start with '/'");
  CHECK(message("/users/{}") == "route template \"/users/{}\": has an empty parameter name");
  CHECK(message("/users/{+}") == "route template \"/users/{+}\": has an empty parameter name");
  CHECK(message("/files/{p+}/x") ==
        "route template \"/files/{p+}/x\": greedy parameter {p+} must be the last segment");
  CHECK(message("/a/{id}/b/{id}") ==
        "route template \"/a/{id}/b/{id}\": duplicate parameter name \"id\"");
  CHECK(message("/a/{id") == "route template \"/a/{id\": has unbalanced braces in segment \"{id\"");
  CHECK(message("/a/id}") == "route template \"/a/id}\": has unbalanced braces in segment \"id}\"");
  CHECK(message("/a/}id{") ==
        "route template \"/a/}id{\": has unbalanced braces in segment \"}id{\"");
  CHECK(message("/a/{{id}}") ==
        "route template \"/a/{{id}}\": has unbalanced braces in segment \"{{id}}\"");
  CHECK(message("/a/x{id}") ==
        "route template \"/a/x{id}\": a parameter must be a whole segment, not part of \"x{id}\"");
  CHECK(message("/a//b") ==
        "route template \"/a//b\": has an empty segment (a doubled or trailing '/')");
  CHECK(message("/a/") ==
        "route template \"/a/\": has an empty segment (a doubled or trailing '/')");
  CHECK(message("/a/{i d}").find("may only contain") != std::string::npos);
  CHECK(message("/a/%zz").find("invalid percent-encoding") != std::string::npos);
  CHECK(message("/ok", {"GE T"}) == "route template \"/ok\": invalid HTTP method \"GE T\"");
  CHECK(message("/ok", {""}) == "route template \"/ok\": invalid HTTP method \"\"");
  CHECK(message("/ok", {"get", "GET"}) == "<ok>");
}
