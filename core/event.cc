#include "core/event.h"

namespace switchyard::core {

const Attribute* find_attribute(const Attributes& attributes, std::string_view key) {
  for (const Attribute& attribute : attributes) {
    if (attribute.key == key) {
      return &attribute;
    }
  }
  return nullptr;
}

std::string_view to_string(OutcomeKind kind) {
  switch (kind) {
    case OutcomeKind::kOk:
      return "ok";
    case OutcomeKind::kFunctionError:
      return "error";
    case OutcomeKind::kTimeout:
      return "timeout";
    case OutcomeKind::kThrottled:
      return "throttled";
    case OutcomeKind::kRejected:
      return "rejected";
  }
  return "unknown";
}

void assign_contents(const EventView& view, Event& event) {
  AttributeWriter attributes(event.attributes);
  assign_contents(view, event, attributes);
}

void assign_contents(const EventView& view, Event& event, AttributeWriter& attributes) {
  event.id.assign(view.id);
  event.source.assign(view.source);
  event.type.assign(view.type);
  event.subject.assign(view.subject);
  event.datacontenttype.assign(view.datacontenttype);
  event.dataschema.assign(view.dataschema);
  event.time = view.time;
  event.data.assign(view.data);
  for (const AttributeView& attribute : view.attributes) {
    attributes.add(attribute.key, attribute.value);
  }
  event.traceparent.assign(view.traceparent);
}

void copy_contents(const Event& from, Event& to) {
  to.id = from.id;
  to.source = from.source;
  to.type = from.type;
  to.subject = from.subject;
  to.datacontenttype = from.datacontenttype;
  to.dataschema = from.dataschema;
  to.time = from.time;
  to.data = from.data;
  to.attributes = from.attributes;
  to.traceparent = from.traceparent;
}

}  // namespace switchyard::core
