#include "environments/codec.h"

#include <utility>

#include "environments/native/envelope.h"

namespace switchyard::environments {

void LambdaCodec::encode(const core::Event& event, std::string& payload,
                         std::string& content_type) const {
  payload = event.data;
  content_type = "application/json";
}

core::Outcome LambdaCodec::decode(Answer&& answer) const {
  core::Response response;
  response.body = std::move(answer.body);
  return core::Outcome::success(std::move(response));
}

void NativeCodec::encode(const core::Event& event, std::string& payload,
                         std::string& content_type) const {
  encode_event(event, payload);
  content_type = kEventContentType;
}

core::Outcome NativeCodec::decode(Answer&& answer) const {
  auto response = decode_response(answer.body);
  if (!response.ok()) {
    // The environment is the function's own process: what it sent is the function's error.
    return core::Outcome::failure(core::OutcomeKind::kFunctionError, "Runtime.InvalidResponse",
                                  response.error().message());
  }
  return core::Outcome::success(std::move(response).value());
}

}  // namespace switchyard::environments
