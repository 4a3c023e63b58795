// The Signature Version 4 verifier: AWS's published test suite, requests botocore signs, and
// malformed signatures.

#include "daemon/sigv4.h"

#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "support/process.h"

namespace sigv4 = switchyard::daemon::sigv4;
using sigv4::Verdict;
using switchyard::http::Headers;

namespace {

using Clock = std::chrono::system_clock;

struct TestRequest {
  std::string method;
  std::string path;
  std::string query;
  std::string body;
  Headers headers;

  sigv4::RequestView view() const { return {method, path, query, headers, body}; }
};

sigv4::SecretLookup secrets(std::map<std::string, std::string> keys) {
  return [keys = std::move(keys)](std::string_view id) -> std::optional<std::string> {
    auto found = keys.find(std::string(id));
    if (found == keys.end()) {
      return std::nullopt;
    }
    return found->second;
  };
}

// 2015-08-30T12:36:00Z, the test suite's signing time.
Clock::time_point suite_time() {
  using namespace std::chrono;
  return sys_days(year(2015) / August / 30) + hours(12) + minutes(36);
}

// ---- AWS's test suite ----

struct Vector {
  std::string name;
  std::string method;
  std::string path;
  std::string query;
  std::string body;
  Headers headers;
};

// AWS's Signature Version 4 test suite ("aws-sig-v4-test-suite"), as awslabs/aws-c-auth keeps it
// in tests/aws-signing-test-suite/v4/<name>/: each case's header-signed-request.txt and
// query-signed-request.txt (the request target split into path and query, the header values
// trimmed as the HTTP server hands them over). Every case signs with AKIDEXAMPLE /
// wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, region us-east-1, service "service", at
// 20150830T123600Z. Only the cases with "normalize": true (every service but S3) are here; the
// post-sts-header-* cases (a session token left out of the signature) are not.
// clang-format off
const std::vector<Vector> kSuite = {
    {"get-vanilla (header)", "GET", "/", "", "",
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}, {"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"}}},
    {"get-vanilla (query)", "GET", "/", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature=e93c787ed7f371d5c6b165c1b38ede9550f4dce4144713e844b25b7192d3865d", "",
     {{"Host", "example.amazonaws.com"}}},
    {"get-vanilla-query (header)", "GET", "/", "", "",
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}, {"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"}}},
    {"get-vanilla-query (query)", "GET", "/", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature=e93c787ed7f371d5c6b165c1b38ede9550f4dce4144713e844b25b7192d3865d", "",
     {{"Host", "example.amazonaws.com"}}},
    {"get-vanilla-empty-query-key (header)", "GET", "/", "Param1=value1", "",
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}, {"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"}}},
    {"get-vanilla-empty-query-key (query)", "GET", "/", "Param1=value1&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature=49096700cbbaa5753443850f40df10f904fc2fdb544dc9512203cc77c471a9de", "",
     {{"Host", "example.amazonaws.com"}}},
    {"get-vanilla-query-order-key-case (header)", "GET", "/", "Param2=value2&Param1=value1", "",
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}, {"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"}}},
    {"get-vanilla-query-order-key-case (query)", "GET", "/", "Param2=value2&Param1=value1&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature=86012e2c9ad4d77369f5d81c11f75158aae4f895a085212cc6d3f923d300bed5", "",
     {{"Host", "example.amazonaws.com"}}},
    {"get-vanilla-query-order-encoded (header)", "GET", "/", "Param-3=Value3&Param=Value2&%E1%88%B4=Value1", "",
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}, {"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac"}}},
    {"get-vanilla-query-order-encoded (query)", "GET", "/", "Param-3=Value3&Param=Value2&%E1%88%B4=Value1&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature=c5f1848ceec943ac2ca68ee720460c23aaae30a2300586597ada94c4a65e4787", "",
     {{"Host", "example.amazonaws.com"}}},
    {"get-vanilla-query-unreserved (header)", "GET", "/", "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", "",
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}, {"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"}}},
    {"get-vanilla-query-unreserved (query)", "GET", "/", "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature=8e76a88a7433637b12778d5592799b29ad21ecd6cf6325051c21d86f0acda2bf", "",
     {{"Host", "example.amazonaws.com"}}},
    {"get-vanilla-utf8-query (header)", "GET", "/", "\341\210\264=bar", "",
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}, {"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"}}},
    {"get-vanilla-utf8-query (query)", "GET", "/", "\341\210\264=bar&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature=0bdd809b1519ac4f0c1dc3540e2cc46bd0c7f778eda408b2ebf3b913d21ff600", "",
     {{"Host", "example.amazonaws.com"}}},
    {"get-unreserved (header)", "GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", "", "",
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}, {"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"}}},
    {"get-unreserved (query)", "GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature=95968482db1b9e0fadef6efc1bd24689f77c77d9ef56919c96a28cc92e0d6005", "",
     {{"Host", "example.amazonaws.com"}}},
    {"get-utf8 (header)", "GET", "/\341\210\264", "", "",
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}, {"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"}}},
    {"get-utf8 (query)", "GET", "/\341\210\264", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature=10eae3f14a260bd3911cc6d008d3c576d143b05b62f09782a7a4b37f52178e44", "",
     {{"Host", "example.amazonaws.com"}}},
    {"get-space-normalized (header)", "GET", "/example space/", "", "",
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}, {"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"}}},
    {"get-space-normalized (query)", "GET", "/example space/", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature=7a1f416954786484c9824d93c1f26ef64acb9b1b6c9154d08c9f07d0e394abf6", "",
     {{"Host", "example.amazonaws.com"}}},
    {"get-header-value-trim (header)", "GET", "/", "", "",
     {{"Host", "example.amazonaws.com"}, {"My-Header1", "value1"}, {"My-Header2", "\"a   b   c\""}, {"X-Amz-Date", "20150830T123600Z"}, {"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;my-header1;my-header2;x-amz-date, Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"}}},
    {"get-header-value-trim (query)", "GET", "/", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host%3Bmy-header1%3Bmy-header2&X-Amz-Expires=3600&X-Amz-Signature=e7bb0fd515e125e1aec2ecc4c0c17484fb06f6846b927c35e46005dd3df3acd4", "",
     {{"Host", "example.amazonaws.com"}, {"My-Header1", "value1"}, {"My-Header2", "\"a   b   c\""}}},
    {"get-header-key-duplicate (header)", "GET", "/", "", "",
     {{"Host", "example.amazonaws.com"}, {"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}, {"X-Amz-Date", "20150830T123600Z"}, {"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;my-header1;x-amz-date, Signature=c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"}}},
    {"get-header-key-duplicate (query)", "GET", "/", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host%3Bmy-header1&X-Amz-Expires=3600&X-Amz-Signature=3349ee0b81b4b589da0ff28a395c3591e04de515651dd74f298fa992d1507a97", "",
     {{"Host", "example.amazonaws.com"}, {"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}}},
    {"get-header-value-order (header)", "GET", "/", "", "",
     {{"Host", "example.amazonaws.com"}, {"My-Header1", "value4"}, {"My-Header1", "value1"}, {"My-Header1", "value3"}, {"My-Header1", "value2"}, {"X-Amz-Date", "20150830T123600Z"}, {"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;my-header1;x-amz-date, Signature=08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"}}},
    {"get-header-value-order (query)", "GET", "/", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host%3Bmy-header1&X-Amz-Expires=3600&X-Amz-Signature=313720e71ca6202fdcfa9b20f88de01a4eb0638a83c833b1c184359a4eda864e", "",
     {{"Host", "example.amazonaws.com"}, {"My-Header1", "value4"}, {"My-Header1", "value1"}, {"My-Header1", "value3"}, {"My-Header1", "value2"}}},
    {"get-header-value-multiline (header)", "GET", "/", "", "",
     {{"Host", "example.amazonaws.com"}, {"My-Header1", "value1\n  value2\n     value3"}, {"X-Amz-Date", "20150830T123600Z"}, {"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;my-header1;x-amz-date, Signature=cfd34249e4b1c8d6b91ef74165d41a32e5fab3306300901bb65a51a73575eefd"}}},
    {"get-header-value-multiline (query)", "GET", "/", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host%3Bmy-header1&X-Amz-Expires=3600&X-Amz-Signature=e6f5def831211aca02987a44b96826706278c7bc078112ae0263659c5b2f2d56", "",
     {{"Host", "example.amazonaws.com"}, {"My-Header1", "value1\n  value2\n     value3"}}},
    {"get-relative-normalized (header)", "GET", "/example/..", "", "",
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}, {"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"}}},
    {"get-relative-normalized (query)", "GET", "/example/..", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature=e93c787ed7f371d5c6b165c1b38ede9550f4dce4144713e844b25b7192d3865d", "",
     {{"Host", "example.amazonaws.com"}}},
    {"get-relative-relative-normalized (header)", "GET", "/example1/example2/../..", "", "",
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}, {"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"}}},
    {"get-relative-relative-normalized (query)", "GET", "/example1/example2/../..", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature=e93c787ed7f371d5c6b165c1b38ede9550f4dce4144713e844b25b7192d3865d", "",
     {{"Host", "example.amazonaws.com"}}},
    {"get-slash-normalized (header)", "GET", "//", "", "",
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}, {"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"}}},
    {"get-slash-normalized (query)", "GET", "//", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature=e93c787ed7f371d5c6b165c1b38ede9550f4dce4144713e844b25b7192d3865d", "",
     {{"Host", "example.amazonaws.com"}}},
    {"get-slash-dot-slash-normalized (header)", "GET", "/./", "", "",
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}, {"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"}}},
    {"get-slash-dot-slash-normalized (query)", "GET", "/./", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature=e93c787ed7f371d5c6b165c1b38ede9550f4dce4144713e844b25b7192d3865d", "",
     {{"Host", "example.amazonaws.com"}}},
    {"get-slash-pointless-dot-normalized (header)", "GET", "/./example", "", "",
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}, {"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5"}}},
    {"get-slash-pointless-dot-normalized (query)", "GET", "/./example", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature=35034b1a0bdd969f346975386daf8aedfd4976573b8348cf4f67eaa41c5857de", "",
     {{"Host", "example.amazonaws.com"}}},
    {"get-slashes-normalized (header)", "GET", "//example//", "", "",
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}, {"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84"}}},
    {"get-slashes-normalized (query)", "GET", "//example//", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature=c1834e8fb0307243711f0f907f6ab7311ed300d87f13792d7ee4da89ab93e082", "",
     {{"Host", "example.amazonaws.com"}}},
    {"get-vanilla-with-session-token (header)", "GET", "/", "", "",
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Security-Token", "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"}, {"X-Amz-Date", "20150830T123600Z"}, {"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"}}},
    {"get-vanilla-with-session-token (query)", "GET", "/", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Security-Token=6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267&X-Amz-Signature=7ff2b50b376cb4d151970630573d6291dc128cc5c2a12ffb237f73cc53f67b6c", "",
     {{"Host", "example.amazonaws.com"}}},
    {"post-vanilla (header)", "POST", "/", "", "",
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}, {"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"}}},
    {"post-vanilla (query)", "POST", "/", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature=2ce6e6d2e0cf2f9d1b55fafec88cd20574c31dc2e7631979f71ba2310083e95b", "",
     {{"Host", "example.amazonaws.com"}}},
    {"post-vanilla-query (header)", "POST", "/", "Param1=value1", "",
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}, {"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"}}},
    {"post-vanilla-query (query)", "POST", "/", "Param1=value1&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature=a9ef26247f293bffe40eeff86a0480ba8c14d31503b2e0c3399e3a16bf1a3682", "",
     {{"Host", "example.amazonaws.com"}}},
    {"post-vanilla-empty-query-value (header)", "POST", "/", "Param1=value1", "",
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}, {"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"}}},
    {"post-vanilla-empty-query-value (query)", "POST", "/", "Param1=value1&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature=a9ef26247f293bffe40eeff86a0480ba8c14d31503b2e0c3399e3a16bf1a3682", "",
     {{"Host", "example.amazonaws.com"}}},
    {"post-header-key-case (header)", "POST", "/", "", "",
     {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}, {"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"}}},
    {"post-header-key-case (query)", "POST", "/", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature=2ce6e6d2e0cf2f9d1b55fafec88cd20574c31dc2e7631979f71ba2310083e95b", "",
     {{"Host", "example.amazonaws.com"}}},
    {"post-header-key-sort (header)", "POST", "/", "", "",
     {{"Host", "example.amazonaws.com"}, {"My-Header1", "value1"}, {"X-Amz-Date", "20150830T123600Z"}, {"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;my-header1;x-amz-date, Signature=c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"}}},
    {"post-header-key-sort (query)", "POST", "/", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host%3Bmy-header1&X-Amz-Expires=3600&X-Amz-Signature=c09d07e0d55871f10f2a6d350d994acf6825a3cae70673d7def55616e6119dd7", "",
     {{"Host", "example.amazonaws.com"}, {"My-Header1", "value1"}}},
    {"post-header-value-case (header)", "POST", "/", "", "",
     {{"Host", "example.amazonaws.com"}, {"My-Header1", "VALUE1"}, {"X-Amz-Date", "20150830T123600Z"}, {"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;my-header1;x-amz-date, Signature=cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"}}},
    {"post-header-value-case (query)", "POST", "/", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host%3Bmy-header1&X-Amz-Expires=3600&X-Amz-Signature=0698bc9e4f7f9139065ba2909c0e99da257e8e2a42492a097bcd46d792391fed", "",
     {{"Host", "example.amazonaws.com"}, {"My-Header1", "VALUE1"}}},
    {"post-x-www-form-urlencoded (header)", "POST", "/", "", "Param1=value1",
     {{"Content-Type", "application/x-www-form-urlencoded"}, {"Host", "example.amazonaws.com"}, {"Content-Length", "13"}, {"X-Amz-Date", "20150830T123600Z"}, {"x-amz-content-sha256", "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"}, {"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=content-length;content-type;host;x-amz-content-sha256;x-amz-date, Signature=d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b"}}},
    {"post-x-www-form-urlencoded (query)", "POST", "/", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost&X-Amz-Expires=3600&X-Amz-Signature=89a40deed0f26f9461242825a082d2222717248abc7ab41f552ad84a94ad46e9", "Param1=value1",
     {{"Content-Type", "application/x-www-form-urlencoded"}, {"Host", "example.amazonaws.com"}, {"Content-Length", "13"}}},
    {"post-x-www-form-urlencoded-parameters (header)", "POST", "/", "", "Param1=value1",
     {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}, {"Host", "example.amazonaws.com"}, {"Content-Length", "13"}, {"X-Amz-Date", "20150830T123600Z"}, {"x-amz-content-sha256", "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"}, {"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=content-length;content-type;host;x-amz-content-sha256;x-amz-date, Signature=328d1b9eaadca9f5818ef05e8392801e091653bafec24fcab71e7344e7f51422"}}},
    {"post-x-www-form-urlencoded-parameters (query)", "POST", "/", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost&X-Amz-Expires=3600&X-Amz-Signature=0dbeb9b026c7b6675f266b8427efec9b4fa8b1f6ef1477d717aea231106eab4d", "Param1=value1",
     {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}, {"Host", "example.amazonaws.com"}, {"Content-Length", "13"}}},
};
// clang-format on

constexpr std::string_view kSuiteKeyId = "AKIDEXAMPLE";
constexpr std::string_view kSuiteSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

sigv4::Options suite_options() {
  sigv4::Options options;
  options.service = "service";
  return options;
}

sigv4::Result verify_suite(const Vector& vector, Clock::time_point now = suite_time()) {
  TestRequest request{vector.method, vector.path, vector.query, vector.body, vector.headers};
  return sigv4::verify(request.view(),
                       secrets({{std::string(kSuiteKeyId), std::string(kSuiteSecret)}}), now,
                       suite_options());
}

// The vector with the last hex digit of its signature changed, wherever the signature is.
Vector with_changed_digit(Vector vector) {
  auto change = [](std::string& text, std::size_t signature_at) {
    std::size_t last = signature_at + 63;
    REQUIRE(last < text.size());
    text[last] = text[last] == '0' ? '1' : '0';
  };
  if (std::size_t at = vector.query.find("X-Amz-Signature="); at != std::string::npos) {
    change(vector.query, at + 16);
    return vector;
  }
  for (auto& header : vector.headers) {
    if (header.name == "Authorization") {
      std::size_t at = header.value.find("Signature=", header.value.find("SignedHeaders="));
      REQUIRE(at != std::string::npos);
      change(header.value, at + 10);
      return vector;
    }
  }
  FAIL("no signature in " << vector.name);
  return vector;
}

const Vector& suite_case(std::string_view name) {
  for (const auto& vector : kSuite) {
    if (vector.name == name) {
      return vector;
    }
  }
  FAIL("no case " << name);
  return kSuite.front();
}

}  // namespace

TEST_CASE("AWS's test suite: each published signature verifies, one hex digit changed does not") {
  REQUIRE(kSuite.size() == 58);
  for (const auto& vector : kSuite) {
    CAPTURE(vector.name);
    sigv4::Result result = verify_suite(vector);
    CHECK(result.verdict == Verdict::kValid);
    CHECK(result.message == "");
    CHECK(result.access_key_id == kSuiteKeyId);

    sigv4::Result changed = verify_suite(with_changed_digit(vector));
    CHECK(changed.verdict == Verdict::kSignatureMismatch);
    CHECK(changed.http_status == 403);
    CHECK(changed.error_type == "InvalidSignatureException");
    CHECK(changed.message ==
          "The request signature we calculated does not match the signature you provided. Check "
          "your AWS Secret Access Key and signing method. Consult the service documentation for "
          "details.");
  }
}

TEST_CASE("AWS's test suite: the body, a signed header, the path and the query are signed") {
  Vector body = suite_case("post-x-www-form-urlencoded (header)");
  body.body = "Param1=value2";
  CHECK(verify_suite(body).verdict == Verdict::kSignatureMismatch);
  // The query form signs the body too (not UNSIGNED-PAYLOAD, which is S3's).
  Vector presigned_body = suite_case("post-x-www-form-urlencoded (query)");
  presigned_body.body = "Param1=value2";
  CHECK(verify_suite(presigned_body).verdict == Verdict::kSignatureMismatch);

  Vector header = suite_case("post-header-value-case (header)");
  header.headers[1].value = "value1";
  CHECK(verify_suite(header).verdict == Verdict::kSignatureMismatch);
  // A header added that is not signed changes nothing.
  Vector unsigned_header = suite_case("post-header-value-case (header)");
  unsigned_header.headers.push_back({"User-Agent", "test"});
  CHECK(verify_suite(unsigned_header).verdict == Verdict::kValid);
  // A repeated header's values are signed in the order received.
  Vector order = suite_case("get-header-value-order (header)");
  std::swap(order.headers[1], order.headers[2]);
  CHECK(verify_suite(order).verdict == Verdict::kSignatureMismatch);

  Vector path = suite_case("get-vanilla (header)");
  path.path = "/other";
  CHECK(verify_suite(path).verdict == Verdict::kSignatureMismatch);
  Vector query = suite_case("get-vanilla-query-order-key-case (query)");
  query.query.replace(query.query.find("value2"), 6, "value3");
  CHECK(verify_suite(query).verdict == Verdict::kSignatureMismatch);
  Vector method = suite_case("post-vanilla (header)");
  method.method = "PUT";
  CHECK(verify_suite(method).verdict == Verdict::kSignatureMismatch);
}

TEST_CASE("clock skew: 5 minutes either way for the header form, with AWS's messages") {
  const Vector& vector = suite_case("get-vanilla (header)");
  using std::chrono::minutes;
  using std::chrono::seconds;
  CHECK(verify_suite(vector, suite_time() + minutes(5)).verdict == Verdict::kValid);
  CHECK(verify_suite(vector, suite_time() - minutes(5)).verdict == Verdict::kValid);

  sigv4::Result old = verify_suite(vector, suite_time() + minutes(15));
  CHECK(old.verdict == Verdict::kExpired);
  CHECK(old.error_type == "InvalidSignatureException");
  CHECK(old.message ==
        "Signature expired: 20150830T123600Z is now earlier than 20150830T124600Z "
        "(20150830T125100Z - 5 min.)");
  CHECK(verify_suite(vector, suite_time() + minutes(5) + seconds(1)).verdict == Verdict::kExpired);

  sigv4::Result ahead = verify_suite(vector, suite_time() - minutes(16));
  CHECK(ahead.verdict == Verdict::kNotYetCurrent);
  CHECK(ahead.error_type == "InvalidSignatureException");
  CHECK(ahead.message ==
        "Signature not yet current: 20150830T123600Z is still later than 20150830T122500Z "
        "(20150830T122000Z + 5 min.)");
}

TEST_CASE("a presigned URL is good from X-Amz-Date to X-Amz-Date + X-Amz-Expires") {
  const Vector& vector = suite_case("get-vanilla (query)");  // X-Amz-Expires=3600.
  using std::chrono::minutes;
  using std::chrono::seconds;
  CHECK(verify_suite(vector, suite_time() + minutes(60)).verdict == Verdict::kValid);
  sigv4::Result late = verify_suite(vector, suite_time() + minutes(60) + seconds(1));
  CHECK(late.verdict == Verdict::kPresignedExpired);
  CHECK(late.error_type == "InvalidSignatureException");
  CHECK(late.message ==
        "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z "
        "(20150830T133601Z - 3600 sec.)");
  CHECK(verify_suite(vector, suite_time() - minutes(6)).verdict == Verdict::kNotYetCurrent);
}

TEST_CASE("the credential scope: its date, the service, the region if one is expected") {
  const Vector& vector = suite_case("get-vanilla (header)");
  TestRequest request{vector.method, vector.path, vector.query, vector.body, vector.headers};
  auto keys = secrets({{std::string(kSuiteKeyId), std::string(kSuiteSecret)}});

  sigv4::Options lambda;  // The default service: lambda.
  sigv4::Result service = sigv4::verify(request.view(), keys, suite_time(), lambda);
  CHECK(service.verdict == Verdict::kMalformed);
  CHECK(service.error_type == "InvalidSignatureException");
  CHECK(service.message == "Credential should be scoped to correct service: 'lambda'. ");

  sigv4::Options region = suite_options();
  region.region = "eu-west-1";
  sigv4::Result other_region = sigv4::verify(request.view(), keys, suite_time(), region);
  CHECK(other_region.verdict == Verdict::kMalformed);
  CHECK(other_region.error_type == "InvalidSignatureException");
  CHECK(other_region.message == "Credential should be scoped to a valid region, not 'us-east-1'. ");
  region.region = "us-east-1";
  CHECK(sigv4::verify(request.view(), keys, suite_time(), region).verdict == Verdict::kValid);

  sigv4::Result unknown =
      sigv4::verify(request.view(), secrets({{"AKIDOTHER", "x"}}), suite_time(), suite_options());
  CHECK(unknown.verdict == Verdict::kUnknownAccessKey);
  CHECK(unknown.access_key_id == "AKIDEXAMPLE");
  CHECK(unknown.error_type == "UnrecognizedClientException");
  CHECK(unknown.message == "The security token included in the request is invalid.");
}

// ---- Malformed signatures ----

namespace {

sigv4::Result verify_authorization(const std::string& authorization,
                                   const std::string& date = "20150830T123600Z") {
  TestRequest request{"GET", "/", "", "", {{"Host", "example.amazonaws.com"}}};
  if (!date.empty()) {
    request.headers.push_back({"X-Amz-Date", date});
  }
  request.headers.push_back({"Authorization", authorization});
  return sigv4::verify(request.view(),
                       secrets({{std::string(kSuiteKeyId), std::string(kSuiteSecret)}}),
                       suite_time(), suite_options());
}

const std::string kGoodAuthorization =
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
    "SignedHeaders=host;x-amz-date, "
    "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";

}  // namespace

TEST_CASE("no Authorization header and no X-Amz-Algorithm: unsigned") {
  TestRequest request{"GET", "/", "X-Amz-Date=20150830T123600Z", "", {{"Host", "a"}}};
  sigv4::Result result = sigv4::verify(request.view(), secrets({}), suite_time());
  CHECK(result.verdict == Verdict::kUnsigned);
  CHECK(result.http_status == 403);
  CHECK(result.error_type == "MissingAuthenticationTokenException");
  CHECK(result.message == "Missing Authentication Token");
  CHECK(verify_authorization(kGoodAuthorization).verdict == Verdict::kValid);
}

TEST_CASE("malformed Authorization headers are refused as malformed") {
  const std::vector<std::string> cases = {
      "",
      "AWS4-HMAC-SHA256",
      "AWS4-HMAC-SHA512 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
      "SignedHeaders=host;x-amz-date, "
      "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
      "Bearer abc",
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request",
      "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, "
      "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
      "SignedHeaders=host;x-amz-date, Signature",
      // Bad hex: upper case, a non-hex digit, too short, too long.
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
      "SignedHeaders=host;x-amz-date, "
      "Signature=5FA00FA31553B73EBF1942676E86291E8372FF2A2260956D9B8AAE1D763FBF31",
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
      "SignedHeaders=host;x-amz-date, "
      "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf3g",
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
      "SignedHeaders=host;x-amz-date, Signature=5fa00fa3",
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
      "SignedHeaders=host;x-amz-date, "
      "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf3100",
      // The credential: too few or too many parts, no key id, a wrong terminator, another
      // day, another service, no region.
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service, "
      "SignedHeaders=host;x-amz-date, "
      "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request/x, "
      "SignedHeaders=host;x-amz-date, "
      "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
      "AWS4-HMAC-SHA256 Credential=/20150830/us-east-1/service/aws4_request, "
      "SignedHeaders=host;x-amz-date, "
      "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws5_request, "
      "SignedHeaders=host;x-amz-date, "
      "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150831/us-east-1/service/aws4_request, "
      "SignedHeaders=host;x-amz-date, "
      "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/s3/aws4_request, "
      "SignedHeaders=host;x-amz-date, "
      "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830//service/aws4_request, "
      "SignedHeaders=host;x-amz-date, "
      "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
      // Signed headers: without host, with an empty name.
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
      "SignedHeaders=x-amz-date, "
      "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
      "SignedHeaders=host;;x-amz-date, "
      "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
  };
  for (const auto& authorization : cases) {
    CAPTURE(authorization);
    sigv4::Result result = verify_authorization(authorization);
    CHECK(result.verdict == Verdict::kMalformed);
    CHECK(result.http_status == 403);
    CHECK(!result.error_type.empty());
    CHECK(!result.message.empty());
  }

  sigv4::Result missing = verify_authorization("AWS4-HMAC-SHA256 Signature=abc", "");
  CHECK(missing.error_type == "IncompleteSignatureException");
  CHECK(missing.message ==
        "Authorization header requires 'Credential' parameter. Authorization header requires "
        "'SignedHeaders' parameter. Authorization header requires existence of either a "
        "'X-Amz-Date' or a 'Date' header. Authorization=AWS4-HMAC-SHA256 Signature=abc");
  sigv4::Result no_equals = verify_authorization("AWS4-HMAC-SHA256 Credential");
  CHECK(no_equals.message ==
        "'Credential' not a valid key=value pair (missing equal-sign) in Authorization header: "
        "'AWS4-HMAC-SHA256 Credential'.");
  sigv4::Result terminator = verify_authorization(cases[14]);
  CHECK(terminator.error_type == "InvalidSignatureException");
  CHECK(terminator.message ==
        "Credential should be scoped with a valid terminator: 'aws4_request', not "
        "'aws5_request'. ");
  CHECK(verify_authorization(cases[15]).message ==
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
        "HTTP: '20150831' != '20150830', from '20150830T123600Z'.");
}

TEST_CASE("X-Amz-Date must be ISO 8601's basic format") {
  for (std::string date : {"2015-08-30T12:36:00Z", "20150830T123600", "20150830 123600Z",
                           "2015083OT123600Z", "20151330T123600Z", "20150830T253600Z",
                           "20150230T123600Z", "", "Sun, 30 Aug 2015 12:36:00 GMT"}) {
    CAPTURE(date);
    TestRequest request{"GET", "/", "", "", {{"Host", "example.amazonaws.com"}}};
    request.headers.push_back({"X-Amz-Date", date});
    request.headers.push_back({"Authorization", kGoodAuthorization});
    sigv4::Result result = sigv4::verify(
        request.view(), secrets({{std::string(kSuiteKeyId), std::string(kSuiteSecret)}}),
        suite_time(), suite_options());
    CHECK(result.verdict == Verdict::kMalformed);
    CHECK(result.error_type == "IncompleteSignatureException");
  }
  CHECK(verify_authorization(kGoodAuthorization, "2015-08-30").message ==
        "Date must be in ISO-8601 'basic format'. Got '2015-08-30'. See "
        "http://en.wikipedia.org/wiki/ISO_8601");
}

TEST_CASE("malformed presigned URLs, and both forms at once, are refused as malformed") {
  const std::string good =
      "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2F"
      "service%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-"
      "Expires=3600&X-Amz-Signature="
      "e93c787ed7f371d5c6b165c1b38ede9550f4dce4144713e844b25b7192d3865d";
  auto verify_query = [](const std::string& query, Headers extra = {}) {
    TestRequest request{"GET", "/", query, "", {{"Host", "example.amazonaws.com"}}};
    request.headers.insert(request.headers.end(), extra.begin(), extra.end());
    return sigv4::verify(request.view(),
                         secrets({{std::string(kSuiteKeyId), std::string(kSuiteSecret)}}),
                         suite_time(), suite_options());
  };
  auto replaced = [&](std::string_view from, std::string_view to) {
    std::string query = good;
    query.replace(query.find(from), from.size(), to);
    return query;
  };
  CHECK(verify_query(good).verdict == Verdict::kValid);
  for (const std::string& query : {
           replaced("X-Amz-Expires=3600&", ""),
           replaced("X-Amz-Expires=3600", "X-Amz-Expires=soon"),
           replaced("X-Amz-Expires=3600", "X-Amz-Expires=604801"),
           replaced("X-Amz-Expires=3600", "X-Amz-Expires=99999999999999999999"),
           replaced("X-Amz-Expires=3600", "X-Amz-Expires=-1"),
           replaced("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"),
           replaced("X-Amz-Date=20150830T123600Z", "X-Amz-Date=now"),
           replaced("%2Faws4_request", "%2Faws4"),
           replaced("X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=x-amz-date"),
           replaced("X-Amz-Signature=", "X-Amz-Signature=0&X-Amz-Signature="),
           replaced("X-Amz-Signature=e93c787e", "X-Amz-Signature=e93c787"),
           good.substr(0, good.find("&X-Amz-Signature")),
       }) {
    CAPTURE(query);
    CHECK(verify_query(query).verdict == Verdict::kMalformed);
  }
  sigv4::Result both = verify_query(good, {{"Authorization", kGoodAuthorization}});
  CHECK(both.verdict == Verdict::kMalformed);
  CHECK(both.error_type == "IncompleteSignatureException");
}

TEST_CASE("every truncation and every byte changed of a signed request: refused, never a crash") {
  const Vector& header_form = suite_case("post-x-www-form-urlencoded (header)");
  const std::string& authorization = header_form.headers.back().value;
  for (std::size_t size = 0; size < authorization.size(); ++size) {
    Vector vector = header_form;
    vector.headers.back().value = authorization.substr(0, size);
    CAPTURE(vector.headers.back().value);
    Verdict verdict = verify_suite(vector).verdict;
    CHECK(verdict != Verdict::kValid);
    CHECK(verdict != Verdict::kUnsigned);
  }
  for (std::size_t at = 0; at < authorization.size(); ++at) {
    for (char c : {'\0', ' ', ',', '=', '/', ';', '%', 'x', '\xff'}) {
      Vector vector = header_form;
      char original = vector.headers.back().value[at];
      if (original == c || (original == ' ' && c == ',')) {
        continue;  // The same header, or ", " made ",,": an empty part, which is skipped.
      }
      vector.headers.back().value[at] = c;
      CAPTURE(vector.headers.back().value);
      CHECK(verify_suite(vector).verdict != Verdict::kValid);
    }
  }
  const Vector& query_form = suite_case("get-vanilla-query-order-encoded (query)");
  for (std::size_t size = 0; size < query_form.query.size(); ++size) {
    Vector vector = query_form;
    vector.query = query_form.query.substr(0, size);
    CHECK(verify_suite(vector).verdict != Verdict::kValid);
  }
}

// ---- botocore ----

namespace {

// Signs Lambda API requests with botocore (SigV4Auth, and SigV4QueryAuth for a presigned URL)
// for an endpoint at 127.0.0.1:9001, and writes each as received: "request <name>", then
// "<field> <hex>" lines (a header: "header <hex name> <hex value>"), then "end".
constexpr const char* kBotocoreSigner = R"PY(
import hashlib, sys
from urllib.parse import urlsplit
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

creds = Credentials(sys.argv[1], sys.argv[2])
base = 'http://127.0.0.1:9001'
arn = '/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Ahello'
body = b'{"name": "world", "text": "a b/c"}'
cases = [
    ('invoke', 'POST', arn + '/invocations', body, {'X-Amz-Invocation-Type': 'RequestResponse'}, None),
    ('invoke-sha256', 'POST', arn + '/invocations', body,
     {'X-Amz-Content-SHA256': hashlib.sha256(body).hexdigest()}, None),
    ('list', 'GET', '/2015-03-31/functions/?MaxItems=5&Marker=abc', b'', {}, None),
    ('get', 'GET', arn + '?Qualifier=%24LATEST&Marker=a%20b%2Fc', b'', {}, None),
    ('presigned', 'GET', '/2015-03-31/functions/?MaxItems=5', b'', {}, 300),
]

def hx(data):
    return (data if isinstance(data, bytes) else data.encode()).hex()

for name, method, target, data, headers, expires in cases:
    request = AWSRequest(method=method, url=base + target, data=data, headers=headers)
    if expires is None:
        SigV4Auth(creds, 'lambda', 'us-east-1').add_auth(request)
    else:
        SigV4QueryAuth(creds, 'lambda', 'us-east-1', expires).add_auth(request)
    prepared = request.prepare()
    url = urlsplit(prepared.url)
    print('request', name)
    print('method', hx(method))
    print('path', hx(url.path))
    print('query', hx(url.query))
    print('body', hx(prepared.body or b''))
    print('header', hx('Host'), hx(url.netloc))
    for key, value in prepared.headers.items():
        print('header', hx(key), hx(value))
    print('end')
)PY";

std::string unhex(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i + 1 < text.size(); i += 2) {
    out += static_cast<char>(std::stoi(std::string(text.substr(i, 2)), nullptr, 16));
  }
  return out;
}

std::map<std::string, TestRequest> parse_signed(const std::string& out) {
  std::map<std::string, TestRequest> requests;
  std::istringstream lines(out);
  std::string line;
  std::string name;
  TestRequest request;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string field;
    std::string first;
    std::string second;
    words >> field >> first >> second;
    if (field == "request") {
      name = first;
      request = TestRequest{};
    } else if (field == "method") {
      request.method = unhex(first);
    } else if (field == "path") {
      request.path = unhex(first);
    } else if (field == "query") {
      request.query = unhex(first);
    } else if (field == "body") {
      request.body = unhex(first);
    } else if (field == "header") {
      request.headers.push_back({unhex(first), unhex(second)});
    } else if (field == "end") {
      requests[name] = request;
    }
  }
  return requests;
}

void remove_header(TestRequest& request, std::string_view name) {
  std::erase_if(request.headers, [&](const auto& header) { return header.name == name; });
}

}  // namespace

TEST_CASE("requests botocore signs: valid; a changed body, secret or clock are not") {
  const std::string key_id = "AKIDSWITCHYARD";
  const std::string secret = "sWiTcHyArDsEcReT/K7MDENG+bPxRfiCYEXAMPLE";
  switchyard::testing::ProcessResult signer =
      switchyard::testing::run_process({"/usr/bin/python3", "-c", kBotocoreSigner, key_id, secret});
  INFO(signer.err);
  REQUIRE(signer.exit_code == 0);
  Clock::time_point signed_at = Clock::now();
  std::map<std::string, TestRequest> requests = parse_signed(signer.out);
  REQUIRE(requests.size() == 5);
  // The Invoke path carries a percent-encoded ARN, which the SDKs encode again when signing.
  REQUIRE(requests["invoke"].path.find("arn%3Aaws%3Alambda") != std::string::npos);
  REQUIRE(requests["get"].query == "Qualifier=%24LATEST&Marker=a%20b%2Fc");

  auto keys = secrets({{key_id, secret}});
  auto verify = [&](const TestRequest& request, Clock::time_point now,
                    const sigv4::SecretLookup& lookup) {
    sigv4::Options options;
    options.region = "us-east-1";
    return sigv4::verify(request.view(), lookup, now, options);
  };
  for (auto& [name, request] : requests) {
    CAPTURE(name);
    sigv4::Result result = verify(request, signed_at, keys);
    CHECK(result.verdict == Verdict::kValid);
    CHECK(result.access_key_id == key_id);

    CHECK(verify(request, signed_at, secrets({{key_id, secret + "x"}})).verdict ==
          Verdict::kSignatureMismatch);
    CHECK(verify(request, signed_at, secrets({})).verdict == Verdict::kUnknownAccessKey);

    TestRequest altered = request;
    altered.body += " ";
    CHECK(verify(altered, signed_at, keys).verdict == Verdict::kSignatureMismatch);

    TestRequest other_path = request;
    other_path.path.replace(other_path.path.find("functions"), 9, "functionz");
    CHECK(verify(other_path, signed_at, keys).verdict == Verdict::kSignatureMismatch);

    sigv4::Result later = verify(request, signed_at + std::chrono::minutes(6), keys);
    if (name == "presigned") {
      CHECK(later.verdict == Verdict::kPresignedExpired);  // X-Amz-Expires=300.
    } else {
      CHECK(later.verdict == Verdict::kExpired);
      CHECK(later.message.starts_with("Signature expired: "));
    }
    CHECK(verify(request, signed_at - std::chrono::minutes(6), keys).verdict ==
          Verdict::kNotYetCurrent);

    if (name != "presigned") {
      TestRequest without = request;
      remove_header(without, "Authorization");
      CHECK(verify(without, signed_at, keys).verdict == Verdict::kUnsigned);
    }
  }

  // A presigned URL's parameters, the signature aside, are signed.
  TestRequest presigned = requests["presigned"];
  presigned.query.replace(presigned.query.find("MaxItems=5"), 10, "MaxItems=6");
  CHECK(verify(presigned, signed_at, keys).verdict == Verdict::kSignatureMismatch);
  // The claimed hash of the body must be the body's.
  TestRequest claimed = requests["invoke-sha256"];
  claimed.body = R"({"name": "world", "text": "a b/d"})";
  CHECK(verify(claimed, signed_at, keys).verdict == Verdict::kSignatureMismatch);
}
