#include "triggers/kafka/record.h"

#include <charconv>

#include "core/time.h"

namespace switchyard::triggers::kafka {

namespace {

constexpr std::string_view kHeaderPrefix = "kafka.header.";

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

template <typename Int>
std::optional<Int> parse_int(std::string_view text) {
  Int value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

// Applies one header of the CloudEvents Kafka binding (binary mode) to `event`.
void apply_cloudevents_header(std::string_view name, std::string_view value, core::Event& event) {
  std::string key = lower(name);
  if (key == "content-type") {
    event.datacontenttype = value;
    return;
  }
  if (!starts_with(key, "ce_")) {
    return;
  }
  std::string_view attribute = std::string_view(key).substr(3);
  if (attribute == "specversion") {
    return;
  }
  if (attribute == "source") {
    event.source = value;
  } else if (attribute == "type") {
    event.type = value;
  } else if (attribute == "subject") {
    event.subject = value;
  } else if (attribute == "dataschema") {
    event.dataschema = value;
  } else if (attribute == "time") {
    if (auto time = core::parse_rfc3339(value)) {
      event.time = *time;
    }
  } else {
    // ce_id lands here too: the event id stays the record's coordinates.
    std::string name_out = "ce.";
    name_out += attribute;
    event.attributes.push_back({std::move(name_out), std::string(value)});
  }
}

// Appends the decimal digits of `value`.
void append_number(std::string& out, std::int64_t value) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), value);
  out.append(digits, end);
}

}  // namespace

void append_record_id(std::string& id, std::string_view topic, std::int32_t partition,
                      std::int64_t offset) {
  id += topic;
  id += '-';
  append_number(id, partition);
  id += '-';
  append_number(id, offset);
}

std::string record_id(std::string_view topic, std::int32_t partition, std::int64_t offset) {
  std::string id;
  id.reserve(topic.size() + 32);
  append_record_id(id, topic, partition, offset);
  return id;
}

void record_event_view(const KafkaRecordView& record, core::ViewScratch& scratch,
                       core::EventView& view) {
  auto& strings = scratch.strings;
  strings[0].clear();
  append_record_id(strings[0], record.topic, record.partition, record.offset);
  strings[1].assign("kafka://").append(record.topic);
  strings[2].clear();
  append_number(strings[2], record.partition);
  strings[3].clear();
  append_number(strings[3], record.offset);
  strings[4].clear();
  append_number(strings[4], record.timestamp_ms);
  auto& attributes = scratch.attributes;
  attributes.clear();
  attributes.push_back({"kafka.topic", record.topic});
  attributes.push_back({"kafka.partition", strings[2]});
  attributes.push_back({"kafka.offset", strings[3]});
  if (record.key) {
    attributes.push_back({"kafka.key", *record.key});
  }
  attributes.push_back({"kafka.timestamp", strings[4]});
  attributes.push_back({"kafka.timestamp_type", record.timestamp_type});
  view = core::EventView{};
  view.id = strings[0];
  view.source = strings[1];
  view.type = kRecordEventType;
  if (record.timestamp_ms >= 0) {
    view.time =
        std::chrono::system_clock::time_point(std::chrono::milliseconds(record.timestamp_ms));
  }
  view.data = record.value;
  view.attributes = attributes;
}

core::Event record_to_event(const KafkaRecordView& record, bool cloudevents) {
  core::Event event;
  fill_record_event(record, cloudevents, event);
  return event;
}

void fill_record_event(const KafkaRecordView& record, bool cloudevents, core::Event& event) {
  // What every record has comes from its view (one place says which fields and attributes, in
  // which order); the headers follow.
  thread_local core::ViewScratch scratch;
  core::EventView view;
  record_event_view(record, scratch, view);
  event.synchronous = false;
  {
    // Over the entries an earlier event left (a recycled invocation's): nothing is allocated
    // once its strings are large enough.
    core::AttributeWriter attributes(event.attributes);
    core::assign_contents(view, event, attributes);
    std::string nulls;  // Positions of the headers whose value is null (kNullHeaders).
    for (std::size_t i = 0; i < record.headers.size(); ++i) {
      const auto& header = record.headers[i];
      std::string_view value = header.value.value_or(std::string_view());
      if (header.name == "traceparent") {
        event.traceparent = value;
      }
      if (!header.value) {
        if (!nulls.empty()) {
          nulls += ',';
        }
        append_number(nulls, static_cast<std::int64_t>(i));
      }
      core::Attribute& attribute = attributes.next();
      attribute.key.append(kHeaderPrefix).append(header.name);
      attribute.value.assign(value);
    }
    if (!nulls.empty()) {
      attributes.add(kNullHeaders, nulls);
    }
  }
  if (cloudevents) {
    // Applied after the headers are copied: the "ce." attributes follow the "kafka." ones.
    for (const auto& header : record.headers) {
      apply_cloudevents_header(header.name, header.value.value_or(std::string_view()), event);
    }
  }
}

core::Event record_to_event(KafkaRecord&& record, bool cloudevents) {
  std::vector<KafkaHeaderView> headers;
  headers.reserve(record.headers.size());
  for (const auto& header : record.headers) {
    headers.push_back({header.name, header.value ? std::optional<std::string_view>(*header.value)
                                                 : std::nullopt});
  }
  KafkaRecordView view;
  view.topic = record.topic;
  view.partition = record.partition;
  view.offset = record.offset;
  if (record.key) {
    view.key = *record.key;
  }
  view.headers = headers;
  view.timestamp_ms = record.timestamp_ms;
  view.timestamp_type = record.timestamp_type;
  core::Event event = record_to_event(view, cloudevents);
  event.data = std::move(record.value);  // Not copied twice.
  return event;
}

std::optional<KafkaRecord> record_from_event(const core::Event& event) {
  const core::Attribute* topic = core::find_attribute(event.attributes, "kafka.topic");
  const core::Attribute* partition = core::find_attribute(event.attributes, "kafka.partition");
  const core::Attribute* offset = core::find_attribute(event.attributes, "kafka.offset");
  if (topic == nullptr || partition == nullptr || offset == nullptr) {
    return std::nullopt;
  }
  auto partition_number = parse_int<std::int32_t>(partition->value);
  auto offset_number = parse_int<std::int64_t>(offset->value);
  if (!partition_number || !offset_number) {
    return std::nullopt;
  }
  KafkaRecord record;
  record.topic = topic->value;
  record.partition = *partition_number;
  record.offset = *offset_number;
  record.value = event.data;
  const core::Attribute* nulls = nullptr;
  for (const auto& attribute : event.attributes) {
    if (attribute.key == kNullHeaders) {
      nulls = &attribute;
    } else if (attribute.key == "kafka.key") {
      record.key = attribute.value;
    } else if (attribute.key == "kafka.timestamp") {
      record.timestamp_ms = parse_int<std::int64_t>(attribute.value).value_or(-1);
    } else if (attribute.key == "kafka.timestamp_type") {
      record.timestamp_type = attribute.value;
    } else if (starts_with(attribute.key, kHeaderPrefix)) {
      record.headers.push_back({attribute.key.substr(kHeaderPrefix.size()), attribute.value});
    }
  }
  if (nulls != nullptr) {
    std::string_view rest = nulls->value;
    while (!rest.empty()) {
      const std::size_t comma = rest.find(',');
      auto position = parse_int<std::size_t>(rest.substr(0, comma));
      if (position && *position < record.headers.size()) {
        record.headers[*position].value.reset();
      }
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
  }
  return record;
}

DeadLetterRecord dead_letter_record(const core::Event& event, std::string_view function,
                                    std::string_view error_type, std::string_view error_message,
                                    int attempts) {
  DeadLetterRecord out;
  auto add = [&out](std::string_view name, std::string value) {
    out.headers.push_back({std::string(name), std::move(value)});
  };
  std::optional<KafkaRecord> record = record_from_event(event);
  if (record) {
    out.key = std::move(record->key);
    out.value = std::move(record->value);
    out.headers = std::move(record->headers);
  } else {
    out.value = event.data;
    add("ce_specversion", "1.0");
    add("ce_id", event.id);
    add("ce_source", event.source);
    add("ce_type", event.type);
    if (!event.subject.empty()) {
      add("ce_subject", event.subject);
    }
    if (event.time != std::chrono::system_clock::time_point{}) {
      add("ce_time", core::format_rfc3339(event.time));
    }
    if (!event.datacontenttype.empty()) {
      add("content-type", event.datacontenttype);
    }
  }
  add(kDlqErrorType, std::string(error_type));
  add(kDlqErrorMessage, std::string(error_message));
  add(kDlqAttempts, std::to_string(attempts));
  add(kDlqFunction, std::string(function));
  add(kDlqEventId, event.id);
  if (record) {
    add(kDlqSourceTopic, record->topic);
    add(kDlqSourcePartition, std::to_string(record->partition));
    add(kDlqSourceOffset, std::to_string(record->offset));
  }
  return out;
}

}  // namespace switchyard::triggers::kafka
