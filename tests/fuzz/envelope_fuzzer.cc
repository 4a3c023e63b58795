// libFuzzer target over the native envelope's decoders (environments/native/envelope.h), which
// read what an untrusted execution environment sends: each input must decode or be a clear
// error, never crash. An event or response that decodes must encode and decode to itself.

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "environments/native/envelope.h"

using namespace switchyard;

namespace {

bool same_event(const core::Event& a, const core::Event& b) {
  if (a.attributes.size() != b.attributes.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.attributes.size(); ++i) {
    if (a.attributes[i].key != b.attributes[i].key ||
        a.attributes[i].value != b.attributes[i].value) {
      return false;
    }
  }
  return a.id == b.id && a.source == b.source && a.type == b.type && a.subject == b.subject &&
         a.datacontenttype == b.datacontenttype && a.dataschema == b.dataschema &&
         a.time == b.time && a.traceparent == b.traceparent && a.data == b.data;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);

  core::Event event;
  if (environments::decode_event(input, event).ok()) {
    core::Event again;
    if (!environments::decode_event(environments::encode_event(event), again).ok() ||
        !same_event(event, again)) {
      std::abort();
    }
  }

  auto response = environments::decode_response(input);
  if (response.ok()) {
    auto again = environments::decode_response(environments::encode_response(*response));
    if (!again.ok() || again->status != response->status || again->body != response->body ||
        again->headers.size() != response->headers.size()) {
      std::abort();
    }
  }
  return 0;
}
