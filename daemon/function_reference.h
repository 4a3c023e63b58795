#pragma once

// How the Lambda API names a function: "hello", "hello:$LATEST", a partial ARN
// ("123456789012:function:hello"), or a full one
// ("arn:aws:lambda:eu-west-1:123456789012:function:hello:$LATEST"), percent-encoded in the
// request path as the SDKs send it; the `Qualifier` query parameter wins over one in the name.
//
// Pure functions: any thread.

#include <optional>
#include <string>
#include <string_view>

namespace switchyard::daemon {

struct FunctionReference {
  std::string name;
  std::string qualifier;  // "" when none was given.
};

// `encoded` is the path segment as received; `query` the raw query string.
FunctionReference parse_function_reference(std::string_view encoded, std::string_view query);

// The first value of query parameter `name`, percent-decoded ('+' as a space), or nullopt.
std::optional<std::string> query_parameter(std::string_view query, std::string_view name);

}  // namespace switchyard::daemon
