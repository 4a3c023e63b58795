#include "daemon/function_reference.h"

#include <doctest/doctest.h>

using switchyard::daemon::parse_function_reference;
using switchyard::daemon::query_parameter;

TEST_CASE("every name form the Lambda API accepts, percent-decoded") {
  for (const char* form :
       {"hello", "hello%3A%24LATEST", "hello:$LATEST", "123456789012%3Afunction%3Ahello",
        "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Ahello",
        "arn:aws:lambda:eu-west-3:123456789012:function:hello:$LATEST"}) {
    CAPTURE(form);
    auto reference = parse_function_reference(form, "");
    CHECK(reference.name == "hello");
    CHECK((reference.qualifier.empty() || reference.qualifier == "$LATEST"));
  }
  CHECK(parse_function_reference("hello:prod", "").qualifier == "prod");
  // The Qualifier parameter wins over one in the name.
  auto both = parse_function_reference("hello%3Aprod", "x=1&Qualifier=%24LATEST");
  CHECK(both.name == "hello");
  CHECK(both.qualifier == "$LATEST");
  // A malformed escape is kept as written rather than guessed at.
  CHECK(parse_function_reference("hel%zzlo", "").name == "hel%zzlo");
}

TEST_CASE("query parameters: decoded, first one wins, absent is nullopt") {
  CHECK(query_parameter("MaxItems=5&Marker=fn%2D1", "Marker") == "fn-1");
  CHECK(query_parameter("Marker=a+b&Marker=c", "Marker") == "a b");
  CHECK(query_parameter("MarkerX=1", "Marker") == std::nullopt);
  CHECK(query_parameter("Marker", "Marker") == "");
  CHECK(query_parameter("", "Marker") == std::nullopt);
  CHECK(query_parameter("Marker=%G0&Marker=ok", "Marker") == "ok");
}
