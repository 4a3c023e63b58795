// libFuzzer target over the payload mappings that read untrusted bytes: the CloudEvents HTTP
// binding (structured and binary mode), the API Gateway v2 event builder and response parser,
// and the native batch encoding. Each must return a result or a clear error, never crash.
//
// Input layout: lines of "name: value" headers, an empty line, then the body (as in HTTP, but
// without a request line), so that the fuzzer can reach both CloudEvents modes.

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "triggers/batch.h"
#include "triggers/http/payload.h"
#include "triggers/http/router.h"

using namespace switchyard;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  http::Request request;
  request.method = "POST";
  request.target = "/f/x?q=1";
  request.path = "/f/x";
  request.query = "q=1";
  std::size_t pos = 0;
  while (pos < input.size()) {
    std::size_t end = input.find('\n', pos);
    if (end == std::string_view::npos) {
      end = input.size();
    }
    std::string_view line = input.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty()) {
      break;
    }
    std::size_t colon = line.find(':');
    std::string_view name = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') {
      value.remove_prefix(1);
    }
    request.headers.push_back({std::string(name), std::string(value)});
  }
  request.body = std::string(input.substr(std::min(pos, input.size())));
  std::string body_copy = request.body;

  triggers::http::RouteMatch match;
  match.params.push_back({"id", "x"});
  auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));

  // apigw-v2 event from the same request (it reads the body, so before fill_event moves it).
  std::string apigw = triggers::http::build_apigw_v2_event(request, match, "/f/{id}", "req-1", now);
  (void)apigw;

  core::Event event;
  triggers::http::fill_event(request, match, "req-1", now, event);
  core::Status status = triggers::http::apply_cloudevents(request.headers, event);
  (void)status;

  // The function's output, as the apigw-v2 response parser sees it.
  auto response = triggers::http::parse_apigw_v2_response(body_copy);
  (void)response;

  // The event (CloudEvents-mapped or not) in a native batch with a raw-bytes sibling.
  std::vector<core::Event> items(2);
  items[0] = std::move(event);
  items[1].id = "raw";
  items[1].data = body_copy;
  items[1].datacontenttype = "application/json";
  core::Event batch = triggers::encode_native_batch(items);
  (void)batch;
  return 0;
}
