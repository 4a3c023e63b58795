// The codecs between an event and what an environment's runtime is handed, and between its
// answer and the outcome.

#include "environments/codec.h"

#include <doctest/doctest.h>

#include <string>

#include "environments/native/envelope.h"

using namespace switchyard;
using environments::Answer;
using environments::LambdaCodec;
using environments::NativeCodec;

TEST_CASE("LambdaCodec hands over the event's data as is and takes the body back") {
  LambdaCodec codec;
  core::Event event;
  event.data = R"({"hello":"world"})";
  std::string payload;
  std::string content_type;
  codec.encode(event, payload, content_type);
  CHECK(payload == event.data);
  CHECK(content_type == "application/json");
  Answer answer;
  answer.ok = true;
  answer.body = "not even JSON";
  auto outcome = codec.decode(std::move(answer));
  CHECK(outcome.ok());
  CHECK(outcome.response.body == "not even JSON");
}

TEST_CASE("NativeCodec sends the whole event and decodes a whole response") {
  NativeCodec codec;
  core::Event event;
  event.id = "e-1";
  event.source = "test";
  event.type = "switchyard.test";
  event.data = "payload";
  std::string payload;
  std::string content_type;
  codec.encode(event, payload, content_type);
  CHECK(content_type == environments::kEventContentType);
  core::Event back;
  REQUIRE(environments::decode_event(payload, back).ok());
  CHECK(back.id == "e-1");
  CHECK(back.data == "payload");

  core::Response response;
  response.status = 201;
  response.body = "made";
  Answer answer;
  answer.ok = true;
  answer.body = environments::encode_response(response);
  auto outcome = codec.decode(std::move(answer));
  REQUIRE(outcome.ok());
  CHECK(outcome.response.status == 201);
  CHECK(outcome.response.body == "made");

  Answer garbage;
  garbage.ok = true;
  garbage.body = "{not an envelope";
  auto failed = codec.decode(std::move(garbage));
  CHECK_FALSE(failed.ok());
  CHECK(failed.error_type == "Runtime.InvalidResponse");
}
