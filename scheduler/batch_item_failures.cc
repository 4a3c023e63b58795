#include "scheduler/batch_item_failures.h"

#include <fmt/format.h>
#include <rapidjson/document.h>

#include <cstring>

namespace switchyard::scheduler {

namespace {

constexpr std::string_view kKey = "batchItemFailures";
constexpr const char* kNoIdentifier =
    "a batchItemFailures entry has no itemIdentifier string; the whole batch failed";

BatchItemFailures whole_batch(std::string message) {
  BatchItemFailures report;
  report.whole_batch_error = std::move(message);
  return report;
}

}  // namespace

BatchItemFailures read_batch_item_failures(std::string_view body,
                                           std::span<const core::Event> items) {
  // Most batch responses say nothing of their items: they are not parsed.
  if (body.size() < kKey.size() ||
      memmem(body.data(), body.size(), kKey.data(), kKey.size()) == nullptr) {
    return {};
  }
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return {};
  }
  auto failures = doc.FindMember(kKey.data());
  if (failures == doc.MemberEnd() || failures->value.IsNull()) {
    return {};
  }
  if (!failures->value.IsArray()) {
    return whole_batch("batchItemFailures is not an array; the whole batch failed");
  }
  BatchItemFailures report;
  for (const auto& entry : failures->value.GetArray()) {
    // A value that is not an object is not asked for members: rapidjson asserts it is one.
    if (!entry.IsObject()) {
      return whole_batch(kNoIdentifier);
    }
    const auto id = entry.FindMember("itemIdentifier");
    if (id == entry.MemberEnd() || !id->value.IsString()) {
      return whole_batch(kNoIdentifier);
    }
    const std::string_view name(id->value.GetString(), id->value.GetStringLength());
    bool known = false;
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (items[i].id == name) {
        if (report.failed.empty()) {
          report.failed.resize(items.size());
        }
        report.failed[i] = true;
        known = true;
      }
    }
    if (!known) {
      return whole_batch(fmt::format(
          "batchItemFailures names \"{}\", which is not in the batch; the whole batch failed",
          name));
    }
  }
  return report;
}

}  // namespace switchyard::scheduler
