// hello: greets the name in the event's JSON data.
//
//   {"name":"Ada"}  ->  Hello, Ada!
//   anything else   ->  Hello, world!

#include <rapidjson/document.h>

#include <string>
#include <switchyard/function.hpp>

namespace {

std::string name_in(std::string_view data) {
  rapidjson::Document document;
  document.Parse(data.data(), data.size());
  if (document.HasParseError() || !document.IsObject()) {
    return {};
  }
  auto name = document.FindMember("name");
  if (name == document.MemberEnd() || !name->value.IsString()) {
    return {};
  }
  return std::string(name->value.GetString(), name->value.GetStringLength());
}

switchyard::Response hello(const switchyard::Event& event, switchyard::Context& context) {
  std::string name = name_in(event.data());
  if (name.empty()) {
    name = "world";
  }
  context.debug("greeting " + name);
  return switchyard::Response("Hello, " + name + "!")
      .header("content-type", "text/plain; charset=utf-8");
}

}  // namespace

SWITCHYARD_HANDLER(hello);
