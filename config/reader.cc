#include "config/reader.h"

#include <fmt/format.h>
#include <yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "config/units.h"

namespace switchyard::config {
namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) {
    row[j] = j;
  }
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      std::size_t substitute = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
      row[j] = std::min({above + 1, row[j - 1] + 1, substitute});
      diagonal = above;
    }
  }
  return row[b.size()];
}

constexpr std::string_view kFlowHint =
    " (inside { } or [ ], quote values that contain braces, brackets or commas, e.g. "
    "{ path: \"/users/{id}\" })";

std::string quote(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

}  // namespace

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Scalar:
      return quote(node.Scalar());
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

std::optional<std::string_view> nearest(std::string_view word, Keys candidates) {
  std::optional<std::string_view> best;
  std::size_t best_distance = 3;
  for (std::string_view candidate : candidates) {
    std::size_t distance = edit_distance(word, candidate);
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

std::string join_choices(Keys choices) {
  std::string out;
  std::size_t index = 0;
  for (std::string_view choice : choices) {
    if (index > 0) {
      out += index + 1 == choices.size() ? " or " : ", ";
    }
    // The empty choice ("none") would vanish from the list without its quotes.
    out += choice.empty() ? std::string_view("\"\"") : choice;
    ++index;
  }
  return out;
}

// ---- FileReader -----------------------------------------------------------------------------

SourceLocation FileReader::location(const YAML::Mark& mark) const {
  // Nodes yaml-cpp did not read from the text (an empty document) have no position; point at
  // the start of the file rather than at line 0.
  if (mark.is_null() || mark.line < 0) {
    return SourceLocation{file_, 1, 1};
  }
  return SourceLocation{file_, mark.line + 1, mark.column + 1};
}

void FileReader::fail(const SourceLocation& location, std::string message) {
  errors_.push_back(ConfigError{location, std::move(message)});
}

std::optional<std::string> FileReader::scalar(const YAML::Node& node, std::string_view name,
                                              std::string_view expected) {
  if (!node.IsScalar()) {
    fail(node,
         std::string(name) + " must be " + std::string(expected) + " (got " + describe(node) + ")");
    return std::nullopt;
  }
  core::Result<std::string> expanded = expand_env(node.Scalar(), env_);
  if (!expanded.ok()) {
    fail(node, std::string(name) + ": " + expanded.error().message());
    return std::nullopt;
  }
  return std::move(expanded).value();
}

// ---- MapReader ------------------------------------------------------------------------------

MapReader::MapReader(FileReader& file, const YAML::Node& node, std::string prefix,
                     std::string context)
    : file_(file), node_(node), prefix_(std::move(prefix)), context_(std::move(context)) {
  if (!node.IsDefined()) {
    return;
  }
  valid_ = node.IsMap();
  if (!valid_) {
    std::string what = prefix_.empty() ? context_ : prefix_;
    file_.fail(node, what + " must be a mapping (got " + describe(node) + ")");
  }
}

void MapReader::allow_keys(Keys allowed) {
  if (!valid_) {
    return;
  }
  std::map<std::string, SourceLocation> seen;
  for (const auto& entry : node_) {
    const YAML::Node& key = entry.first;
    if (!key.IsScalar()) {
      file_.fail(key, "keys in " + context_ + " must be strings (got " + describe(key) + ")");
      continue;
    }
    const std::string& text = key.Scalar();
    SourceLocation where = file_.location(key);
    auto [previous, inserted] = seen.emplace(text, where);
    if (!inserted) {
      file_.fail(where, "duplicate key " + quote(text) + " in " + context_ + " (first at line " +
                            std::to_string(previous->second.line) + ")");
      continue;
    }
    if (std::find(allowed.begin(), allowed.end(), text) != allowed.end()) {
      continue;
    }
    std::string message = "unknown key " + quote(text) + " in " + context_;
    if (std::optional<std::string_view> suggestion = nearest(text, allowed)) {
      message += " (did you mean " + quote(*suggestion) + "?)";
    } else {
      message += " (expected " + join_choices(allowed) + ")";
    }
    file_.fail(where, std::move(message));
  }
}

bool MapReader::has(std::string_view key) const {
  return get(key).IsDefined();
}

bool MapReader::require(std::string_view key) {
  if (!valid_) {
    return false;
  }
  if (has(key)) {
    return true;
  }
  file_.fail(node_, "missing required key " + quote(key) + " in " + context_);
  return false;
}

YAML::Node MapReader::get(std::string_view key) const {
  if (!valid_) {
    return YAML::Node(YAML::NodeType::Undefined);
  }
  // Through a const reference: a non-const operator[] would add the key to the mapping.
  const YAML::Node& map = node_;
  for (const auto& entry : map) {
    if (entry.first.IsScalar() && entry.first.Scalar() == key) {
      return entry.second;
    }
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

std::string MapReader::name(std::string_view key) const {
  if (prefix_.empty()) {
    return std::string(key);
  }
  return prefix_ + "." + std::string(key);
}

bool MapReader::read_string(std::string_view key, std::string& out, bool allow_empty) {
  YAML::Node value = get(key);
  if (!value.IsDefined()) {
    return false;
  }
  std::optional<std::string> text = file_.scalar(value, name(key), "a string");
  if (!text) {
    return false;
  }
  if (!allow_empty && text->empty()) {
    file_.fail(value, name(key) + " must not be empty");
    return false;
  }
  out = std::move(*text);
  return true;
}

bool MapReader::read_int(std::string_view key, std::int64_t min, std::int64_t max, int& out) {
  YAML::Node value = get(key);
  if (!value.IsDefined()) {
    return false;
  }
  std::optional<std::string> text = file_.scalar(value, name(key), "an integer");
  if (!text) {
    return false;
  }
  std::int64_t number = 0;
  const char* begin = text->data();
  const char* end = begin + text->size();
  auto [stop, error] = std::from_chars(begin, end, number);
  bool out_of_range = error == std::errc::result_out_of_range;
  if (begin == end || (error != std::errc() && !out_of_range) || stop != end) {
    file_.fail(value, name(key) + " must be an integer (got " + quote(*text) + ")");
    return false;
  }
  bool negative = text->front() == '-';
  if (out_of_range ? negative : number < min) {
    file_.fail(value,
               name(key) + " must be at least " + std::to_string(min) + " (got " + *text + ")");
    return false;
  }
  if (out_of_range ? !negative : number > max) {
    file_.fail(value,
               name(key) + " must be at most " + std::to_string(max) + " (got " + *text + ")");
    return false;
  }
  out = static_cast<int>(number);
  return true;
}

bool MapReader::read_bool(std::string_view key, bool& out) {
  YAML::Node value = get(key);
  if (!value.IsDefined()) {
    return false;
  }
  std::optional<std::string> text = file_.scalar(value, name(key), "true or false");
  if (!text) {
    return false;
  }
  // The YAML 1.2 core schema's spellings; "yes" and "on" are YAML 1.1 and deliberately not here.
  if (*text == "true" || *text == "True" || *text == "TRUE") {
    out = true;
    return true;
  }
  if (*text == "false" || *text == "False" || *text == "FALSE") {
    out = false;
    return true;
  }
  file_.fail(value, name(key) + " must be true or false (got " + quote(*text) + ")");
  return false;
}

bool MapReader::read_double(std::string_view key, double min, double max, double& out) {
  YAML::Node value = get(key);
  if (!value.IsDefined()) {
    return false;
  }
  std::optional<std::string> text = file_.scalar(value, name(key), "a number");
  if (!text) {
    return false;
  }
  char* stop = nullptr;
  double number = std::strtod(text->c_str(), &stop);
  if (text->empty() || stop != text->c_str() + text->size() || !std::isfinite(number)) {
    file_.fail(value, name(key) + " must be a number (got " + quote(*text) + ")");
    return false;
  }
  if (number < min || number > max) {
    file_.fail(value, name(key) + " must be between " + YAML::Node(min).Scalar() + " and " +
                          YAML::Node(max).Scalar() + " (got " + *text + ")");
    return false;
  }
  out = number;
  return true;
}

bool MapReader::read_duration(std::string_view key, Duration min, Duration max, Duration& out) {
  YAML::Node value = get(key);
  if (!value.IsDefined()) {
    return false;
  }
  std::optional<std::string> text = file_.scalar(value, name(key), "a duration such as 5s");
  if (!text) {
    return false;
  }
  core::Result<Duration> duration = parse_duration(*text);
  if (!duration.ok()) {
    file_.fail(value, name(key) + ": " + duration.error().message());
    return false;
  }
  if (*duration < min) {
    std::string bound = min == Duration(1) ? "greater than 0" : "at least " + format_duration(min);
    file_.fail(value, name(key) + " must be " + bound + " (got " + *text + ")");
    return false;
  }
  if (*duration > max) {
    file_.fail(value,
               name(key) + " must be at most " + format_duration(max) + " (got " + *text + ")");
    return false;
  }
  out = *duration;
  return true;
}

bool MapReader::read_size(std::string_view key, std::uint64_t min, std::uint64_t max,
                          std::uint64_t& out) {
  YAML::Node value = get(key);
  if (!value.IsDefined()) {
    return false;
  }
  std::optional<std::string> text = file_.scalar(value, name(key), "a size such as 64KiB");
  if (!text) {
    return false;
  }
  core::Result<std::uint64_t> size = parse_size(*text);
  if (!size.ok()) {
    file_.fail(value, name(key) + ": " + size.error().message());
    return false;
  }
  if (*size < min) {
    file_.fail(value, name(key) + " must be at least " + format_size(min) + " (got " + *text + ")");
    return false;
  }
  if (*size > max) {
    file_.fail(value, name(key) + " must be at most " + format_size(max) + " (got " + *text + ")");
    return false;
  }
  out = *size;
  return true;
}

bool MapReader::read_choice(std::string_view key, Keys choices, std::string& out) {
  YAML::Node value = get(key);
  if (!value.IsDefined()) {
    return false;
  }
  std::string expected = "one of " + join_choices(choices);
  std::optional<std::string> text = file_.scalar(value, name(key), expected);
  if (!text) {
    return false;
  }
  if (std::find(choices.begin(), choices.end(), *text) == choices.end()) {
    std::string message = name(key) + " must be " + expected + " (got " + quote(*text) + ")";
    if (std::optional<std::string_view> suggestion = nearest(*text, choices);
        suggestion && !text->empty()) {
      message += "; did you mean " + quote(*suggestion) + "?";
    }
    file_.fail(value, std::move(message));
    return false;
  }
  out = std::move(*text);
  return true;
}

void MapReader::read_payload(const ManifestScope& scope, Keys shapes, std::string_view lambda_shape,
                             std::string& out) {
  YAML::Node value = get("payload");
  if (!value.IsDefined()) {
    if (scope.lambda_events) {
      out = std::string(lambda_shape);
    }
    return;
  }
  // "" named the native event before `native` did: still read as it, but not offered.
  if (value.IsScalar() && value.Scalar().empty()) {
    out.clear();
    return;
  }
  std::vector<std::string_view> choices = {kNativePayload};
  choices.insert(choices.end(), shapes.begin(), shapes.end());
  std::string text;
  if (read_choice("payload", choices, text)) {
    out = text == kNativePayload ? std::string() : std::move(text);
  }
}

bool MapReader::read_string_map(std::string_view key, std::map<std::string, std::string>& out) {
  YAML::Node value = get(key);
  if (!value.IsDefined()) {
    return false;
  }
  MapReader map(file_, value, name(key), name(key));
  if (!map.valid()) {
    return false;
  }
  std::size_t errors_before = file_.error_count();
  std::map<std::string, std::string> result;
  for (const auto& entry : value) {
    if (!entry.first.IsScalar()) {
      file_.fail(entry.first,
                 "keys in " + name(key) + " must be strings (got " + describe(entry.first) + ")");
      continue;
    }
    const std::string& entry_key = entry.first.Scalar();
    std::string entry_name = name(key) + "." + entry_key;
    std::optional<std::string> text = file_.scalar(entry.second, entry_name, "a string");
    if (!text) {
      continue;
    }
    if (!result.emplace(entry_key, std::move(*text)).second) {
      file_.fail(entry.first, "duplicate key " + quote(entry_key) + " in " + name(key));
    }
  }
  if (file_.error_count() != errors_before) {
    return false;
  }
  out = std::move(result);
  return true;
}

// ---- Documents ------------------------------------------------------------------------------

namespace {

// yaml-cpp 0.7 can spin forever, allocating, on some input (found by fuzzing: a document
// starting with `,`; a `,` after a tag on a later line; a tag before an explicit `?` key).
// libyaml is a small, heavily fuzzed C parser that rejects malformed input at once: every file
// passes through it first, together with a check for the YAML features switchyard files do not
// use (tags, anchors, aliases), and yaml-cpp only sees what passed. Returns the first problem, if
// any.
struct SyntaxError {
  YAML::Mark mark;  // 0-based line and column.
  std::string message;
};

std::optional<SyntaxError> check_syntax(std::string_view yaml) {
  yaml_parser_t parser;
  if (yaml_parser_initialize(&parser) == 0) {
    return SyntaxError{YAML::Mark(), "cannot start the YAML parser (out of memory)"};
  }
  yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(yaml.data()),
                               yaml.size());
  std::optional<SyntaxError> error;
  for (;;) {
    yaml_event_t event;
    if (yaml_parser_parse(&parser, &event) == 0) {
      SyntaxError found;
      found.mark.pos = static_cast<int>(parser.problem_mark.index);
      found.mark.line = static_cast<int>(parser.problem_mark.line);
      found.mark.column = static_cast<int>(parser.problem_mark.column);
      found.message = parser.problem != nullptr ? parser.problem : "malformed YAML";
      if (parser.context != nullptr) {
        found.message += fmt::format(" ({} that starts at line {}, column {})", parser.context,
                                     parser.context_mark.line + 1, parser.context_mark.column + 1);
      }
      error = std::move(found);
      break;
    }
    // What switchyard files never need, refused before yaml-cpp sees it: tags (yaml-cpp 0.7
    // spins forever on a tag before an explicit key, found by fuzzing), anchors (it also spins
    // on an anchor before some flow text, found by fuzzing; and they serve only aliases) and
    // aliases (a few nested ones expand to gigabytes: the "billion laughs").
    const yaml_char_t* tag = nullptr;
    const yaml_char_t* anchor = nullptr;
    if (event.type == YAML_SCALAR_EVENT) {
      tag = event.data.scalar.tag;
      anchor = event.data.scalar.anchor;
    } else if (event.type == YAML_SEQUENCE_START_EVENT) {
      tag = event.data.sequence_start.tag;
      anchor = event.data.sequence_start.anchor;
    } else if (event.type == YAML_MAPPING_START_EVENT) {
      tag = event.data.mapping_start.tag;
      anchor = event.data.mapping_start.anchor;
    }
    if (tag != nullptr || anchor != nullptr || event.type == YAML_ALIAS_EVENT) {
      SyntaxError found;
      found.mark.pos = static_cast<int>(event.start_mark.index);
      found.mark.line = static_cast<int>(event.start_mark.line);
      found.mark.column = static_cast<int>(event.start_mark.column);
      if (tag != nullptr) {
        found.message = "tags (" + std::string(reinterpret_cast<const char*>(tag)) +
                        ") are not supported in switchyard files";
      } else if (anchor != nullptr) {
        found.message = "anchors (&" + std::string(reinterpret_cast<const char*>(anchor)) +
                        ") are not supported in switchyard files";
      } else {
        found.message = "aliases (*name) are not supported in switchyard files";
      }
      error = std::move(found);
      yaml_event_delete(&event);
      break;
    }
    bool end = event.type == YAML_STREAM_END_EVENT;
    yaml_event_delete(&event);
    if (end) {
      break;
    }
  }
  yaml_parser_delete(&parser);
  return error;
}

}  // namespace

namespace detail {

std::optional<YAML::Node> load_document(std::string_view yaml, FileReader& file,
                                        std::string_view what) {
  if (auto error = check_syntax(yaml)) {
    std::string message = "invalid YAML: " + error->message;
    // The usual cause: an unquoted route template such as /users/{id} inside a { } mapping,
    // where YAML reads the braces as structure.
    if (message.find("flow") != std::string::npos) {
      message += kFlowHint;
    }
    file.fail(file.location(error->mark), std::move(message));
    return std::nullopt;
  }
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(std::string(yaml));
  } catch (const YAML::Exception& error) {
    std::string message = "invalid YAML: " + error.msg;
    // The usual cause: an unquoted route template such as /users/{id} inside a { } mapping,
    // where YAML reads the braces as structure.
    if (error.msg.find("flow") != std::string::npos) {
      message += kFlowHint;
    }
    file.fail(file.location(error.mark), std::move(message));
    return std::nullopt;
  }
  if (documents.empty()) {
    // An empty file is an empty mapping: every key has a default (or is reported missing).
    return YAML::Node(YAML::NodeType::Map);
  }
  if (documents.size() > 1) {
    file.fail(documents[1], std::string(what) + " must be a single YAML document (found " +
                                std::to_string(documents.size()) + ")");
  }
  if (documents[0].IsNull()) {
    return YAML::Node(YAML::NodeType::Map);
  }
  return documents[0];
}

}  // namespace detail
}  // namespace switchyard::config
