#include "daemon/sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <utility>
#include <variant>
#include <vector>

#include "core/codec.h"
#include "core/text.h"

namespace switchyard::daemon::sigv4 {
namespace {

using Seconds = std::chrono::sys_seconds;

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr std::string_view kTerminator = "aws4_request";
constexpr std::string_view kSignatureParam = "X-Amz-Signature";
// The longest X-Amz-Expires AWS takes: a week.
constexpr long kMaxExpires = 604800;

// AWS's own messages, so that the SDKs and their users see what AWS would have said.
constexpr std::string_view kMismatchMessage =
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details.";
constexpr std::string_view kUnknownKeyMessage =
    "The security token included in the request is invalid.";

// ---- Results ----

Result failure(Verdict verdict, std::string_view type, std::string message,
               std::string access_key_id = {}) {
  Result result;
  result.verdict = verdict;
  result.access_key_id = std::move(access_key_id);
  result.http_status = 403;
  result.error_type = type;
  result.message = std::move(message);
  return result;
}

// A signature that cannot be parsed or lacks a part: AWS's IncompleteSignatureException.
Result incomplete(std::string message) {
  return failure(Verdict::kMalformed, "IncompleteSignatureException", std::move(message));
}

// A credential scope this service does not take: AWS answers InvalidSignatureException.
Result bad_scope(std::string message, std::string access_key_id) {
  return failure(Verdict::kMalformed, "InvalidSignatureException", std::move(message),
                 std::move(access_key_id));
}

// ---- Text ----

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string to_lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), lower);
  return out;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

// SigV4's Trimall: no whitespace around the value, each inner run of whitespace one space (what
// botocore's ' '.join(value.split()) and the JS SDK's .trim().replace(/\s+/g, " ") do).
std::string trim_all(std::string_view value) {
  std::string out;
  bool pending_space = false;
  for (char c : core::trim(value)) {
    if (is_space(c)) {
      pending_space = true;
      continue;
    }
    if (pending_space) {
      out += ' ';
      pending_space = false;
    }
    out += c;
  }
  return out;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    std::size_t end = text.find(separator, start);
    parts.push_back(text.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) {
      return parts;
    }
    start = end + 1;
  }
}

bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

// SigV4's UriEncode: every byte but the unreserved ones as %XX, upper-case hex.
void uri_encode(std::string& out, std::string_view text, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : text) {
    if (is_unreserved(c) || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
}

// %XX decoded as core::percent_decode does; a value with a malformed escape is kept as written
// (no SDK sends one: its signature then simply does not match).
std::string percent_decode(std::string_view text) {
  std::string out;
  if (!core::percent_decode(text, out)) {
    out = std::string(text);
  }
  return out;
}

std::string hex(const unsigned char* bytes, std::size_t size) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    out += kHex[bytes[i] >> 4];
    out += kHex[bytes[i] & 0xF];
  }
  return out;
}

bool is_lower_hex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool is_digits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// ---- Hashes (libcrypto) ----

using Digest = std::array<unsigned char, 32>;

std::string sha256_hex(std::string_view data) {
  Digest digest{};
  unsigned int size = 0;
  // Only fails on allocation failure; an all-zero digest then simply matches nothing.
  EVP_Digest(data.data(), data.size(), digest.data(), &size, EVP_sha256(), nullptr);
  return hex(digest.data(), digest.size());
}

Digest hmac(std::string_view key, std::string_view message) {
  Digest digest{};
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest.data(),
       &size);
  return digest;
}

std::string_view as_view(const Digest& digest) {
  return {reinterpret_cast<const char*>(digest.data()), digest.size()};
}

// ---- Time ----

// "20150830T123600Z" (ISO 8601 basic format, UTC); nullopt when it is anything else.
std::optional<Seconds> parse_amz_date(std::string_view text) {
  if (text.size() != 16 || text[8] != 'T' || text[15] != 'Z' || !is_digits(text.substr(0, 8)) ||
      !is_digits(text.substr(9, 6))) {
    return std::nullopt;
  }
  auto number = [&](std::size_t at, std::size_t size) {
    int value = 0;
    for (std::size_t i = at; i < at + size; ++i) {
      value = value * 10 + (text[i] - '0');
    }
    return value;
  };
  std::chrono::year_month_day day{std::chrono::year(number(0, 4)),
                                  std::chrono::month(static_cast<unsigned>(number(4, 2))),
                                  std::chrono::day(static_cast<unsigned>(number(6, 2)))};
  int hours = number(9, 2);
  int minutes = number(11, 2);
  int seconds = number(13, 2);
  if (!day.ok() || hours > 23 || minutes > 59 || seconds > 60) {
    return std::nullopt;
  }
  return Seconds(std::chrono::sys_days(day)) + std::chrono::hours(hours) +
         std::chrono::minutes(minutes) + std::chrono::seconds(seconds);
}

std::string format_amz_date(Seconds time) {
  auto days = std::chrono::floor<std::chrono::days>(time);
  std::chrono::year_month_day day{days};
  std::chrono::hh_mm_ss clock{time - days};
  char text[32];
  std::snprintf(text, sizeof text, "%04d%02u%02uT%02d%02d%02dZ", static_cast<int>(day.year()),
                static_cast<unsigned>(day.month()), static_cast<unsigned>(day.day()),
                static_cast<int>(clock.hours().count()), static_cast<int>(clock.minutes().count()),
                static_cast<int>(clock.seconds().count()));
  return text;
}

// ---- The canonical request's parts ----

// The path as received, dot segments and empty segments removed (RFC 3986 §5.2.4 and what
// botocore's remove_dot_segments and the JS SDK do for every service but S3), then URI-encoded:
// a '%' of the path as received becomes "%25", so "arn%3Aaws" is signed as "arn%253Aaws".
std::string canonical_uri(std::string_view path) {
  std::vector<std::string_view> segments;
  for (std::string_view segment : split(path, '/')) {
    if (segment.empty() || segment == ".") {
      continue;
    }
    if (segment == "..") {
      if (!segments.empty()) {
        segments.pop_back();
      }
      continue;
    }
    segments.push_back(segment);
  }
  std::string normalized = "/";
  for (std::size_t i = 0; i < segments.size(); ++i) {
    normalized += segments[i];
    if (i + 1 < segments.size() || path.ends_with('/')) {
      normalized += '/';
    }
  }
  std::string out;
  uri_encode(out, normalized, true);
  return out;
}

using QueryParam = std::pair<std::string, std::string>;  // Decoded name and value.

std::vector<QueryParam> parse_query(std::string_view query) {
  std::vector<QueryParam> params;
  if (query.empty()) {
    return params;
  }
  for (std::string_view part : split(query, '&')) {
    if (part.empty()) {
      continue;  // "a=1&&b=2": nothing between the separators, nothing signed.
    }
    std::size_t equals = part.find('=');
    if (equals == std::string_view::npos) {
      params.emplace_back(percent_decode(part), std::string());
    } else {
      params.emplace_back(percent_decode(part.substr(0, equals)),
                          percent_decode(part.substr(equals + 1)));
    }
  }
  return params;
}

// Names and values URI-encoded, sorted by name then value; a presigned URL's own signature left
// out.
std::string canonical_query(const std::vector<QueryParam>& params, bool presigned) {
  std::vector<QueryParam> encoded;
  encoded.reserve(params.size());
  for (const auto& [name, value] : params) {
    if (presigned && name == kSignatureParam) {
      continue;
    }
    QueryParam pair;
    uri_encode(pair.first, name, false);
    uri_encode(pair.second, value, false);
    encoded.push_back(std::move(pair));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) {
      out += '&';
    }
    out += name;
    out += '=';
    out += value;
  }
  return out;
}

// "name:value\n" for each signed header, in the order signed: the values of a repeated header
// joined with ',' in the order received.
std::string canonical_headers(const std::vector<std::string>& signed_headers,
                              std::span<const http::Header> headers) {
  std::string out;
  for (const std::string& name : signed_headers) {
    out += name;
    out += ':';
    bool first = true;
    for (const auto& header : headers) {
      if (!core::equals_ignore_case(header.name, name)) {
        continue;
      }
      if (!first) {
        out += ',';
      }
      out += trim_all(header.value);
      first = false;
    }
    out += '\n';
  }
  return out;
}

// ---- The signature's parameters, from either form ----

struct Signature {
  bool presigned = false;
  std::string credential;
  std::string signed_headers;
  std::string signature;
  std::string date;                    // X-Amz-Date, as sent.
  std::optional<std::string> expires;  // X-Amz-Expires (presigned only).
};

const std::string* find_param(const std::vector<QueryParam>& params, std::string_view name,
                              int* count = nullptr) {
  const std::string* found = nullptr;
  int seen = 0;
  for (const auto& [param, value] : params) {
    if (param == name) {
      found = found ? found : &value;
      ++seen;
    }
  }
  if (count) {
    *count = seen;
  }
  return found;
}

int count_headers(std::span<const http::Header> headers, std::string_view name) {
  return static_cast<int>(std::count_if(headers.begin(), headers.end(), [&](const auto& header) {
    return core::equals_ignore_case(header.name, name);
  }));
}

const std::string* find_header(std::span<const http::Header> headers, std::string_view name) {
  for (const auto& header : headers) {
    if (core::equals_ignore_case(header.name, name)) {
      return &header.value;
    }
  }
  return nullptr;
}

// The Authorization header's "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...",
// and X-Amz-Date; AWS's wording for what is wrong with them.
std::variant<Signature, Result> from_header(std::string_view authorization,
                                            std::span<const http::Header> headers) {
  std::string_view value = core::trim(authorization);
  std::size_t space = value.find(' ');
  std::string_view algorithm = value.substr(0, space);
  if (algorithm != kAlgorithm) {
    return incomplete("Unsupported AWS 'algorithm': '" + std::string(algorithm) +
                      "'. Only 'AWS4-HMAC-SHA256' is supported.");
  }
  Signature signature;
  bool has_credential = false;
  bool has_signed_headers = false;
  bool has_signature = false;
  std::string_view rest = space == std::string_view::npos ? "" : value.substr(space + 1);
  for (std::string_view part : split(rest, ',')) {
    part = core::trim(part);
    if (part.empty()) {
      continue;
    }
    std::size_t equals = part.find('=');
    if (equals == std::string_view::npos) {
      return incomplete("'" + std::string(part) +
                        "' not a valid key=value pair (missing equal-sign) in Authorization "
                        "header: '" +
                        std::string(value) + "'.");
    }
    std::string_view key = part.substr(0, equals);
    std::string param(core::trim(part.substr(equals + 1)));
    if (key == "Credential") {
      signature.credential = std::move(param);
      has_credential = true;
    } else if (key == "SignedHeaders") {
      signature.signed_headers = std::move(param);
      has_signed_headers = true;
    } else if (key == "Signature") {
      signature.signature = std::move(param);
      has_signature = true;
    }
  }
  const std::string* date = find_header(headers, "x-amz-date");
  if (!has_credential || !has_signature || !has_signed_headers || date == nullptr) {
    std::string message;
    if (!has_credential) {
      message += "Authorization header requires 'Credential' parameter. ";
    }
    if (!has_signature) {
      message += "Authorization header requires 'Signature' parameter. ";
    }
    if (!has_signed_headers) {
      message += "Authorization header requires 'SignedHeaders' parameter. ";
    }
    if (date == nullptr) {
      // AWS also takes a Date header in X-Amz-Date's place; no SDK sends one, so this does not.
      message +=
          "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
          "header. ";
    }
    return incomplete(message + "Authorization=" + std::string(value));
  }
  signature.date = *date;
  return signature;
}

// A presigned URL's X-Amz-* query parameters.
std::variant<Signature, Result> from_query(const std::vector<QueryParam>& params) {
  static constexpr std::string_view kRequired[] = {"X-Amz-Algorithm",     "X-Amz-Credential",
                                                   "X-Amz-Signature",     "X-Amz-Date",
                                                   "X-Amz-SignedHeaders", "X-Amz-Expires"};
  for (std::string_view name : kRequired) {
    int count = 0;
    find_param(params, name, &count);
    if (count == 0) {
      return incomplete(
          "AWS query-string parameters must include 'X-Amz-Algorithm', 'X-Amz-Credential', "
          "'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders', and 'X-Amz-Expires'. "
          "Re-examine the query-string parameters.");
    }
    if (count > 1) {
      return incomplete("The query-string parameter '" + std::string(name) +
                        "' is given more than once.");
    }
  }
  const std::string& algorithm = *find_param(params, "X-Amz-Algorithm");
  if (algorithm != kAlgorithm) {
    return incomplete("Unsupported AWS 'algorithm': '" + algorithm +
                      "'. Only 'AWS4-HMAC-SHA256' is supported.");
  }
  Signature signature;
  signature.presigned = true;
  signature.credential = *find_param(params, "X-Amz-Credential");
  signature.signed_headers = *find_param(params, "X-Amz-SignedHeaders");
  signature.signature = *find_param(params, kSignatureParam);
  signature.date = *find_param(params, "X-Amz-Date");
  signature.expires = *find_param(params, "X-Amz-Expires");
  return signature;
}

std::string skew_text(std::chrono::seconds skew) {
  if (skew.count() % 60 == 0) {
    return std::to_string(skew.count() / 60) + " min.";
  }
  return std::to_string(skew.count()) + " sec.";
}

}  // namespace

std::string_view verdict_name(Verdict verdict) {
  switch (verdict) {
    case Verdict::kValid:
      return "valid";
    case Verdict::kUnsigned:
      return "unsigned";
    case Verdict::kMalformed:
      return "malformed";
    case Verdict::kUnknownAccessKey:
      return "unknown_access_key";
    case Verdict::kSignatureMismatch:
      return "signature_mismatch";
    case Verdict::kExpired:
      return "expired";
    case Verdict::kNotYetCurrent:
      return "not_yet_current";
    case Verdict::kPresignedExpired:
      return "presigned_expired";
  }
  return "unknown";
}

Result verify(const RequestView& request, const SecretLookup& secrets,
              std::chrono::system_clock::time_point now, const Options& options) {
  // ---- Which form, if any ----
  std::vector<QueryParam> params = parse_query(request.query);
  int authorizations = count_headers(request.headers, "authorization");
  bool presigned = find_param(params, "X-Amz-Algorithm") != nullptr;
  if (authorizations == 0 && !presigned) {
    return failure(Verdict::kUnsigned, "MissingAuthenticationTokenException",
                   "Missing Authentication Token");
  }
  if (authorizations > 0 && presigned) {
    return incomplete(
        "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature "
        "query string parameter or the Authorization header should be specified");
  }
  if (authorizations > 1) {
    return incomplete("The Authorization header is given more than once.");
  }
  auto parsed = presigned
                    ? from_query(params)
                    : from_header(*find_header(request.headers, "authorization"), request.headers);
  if (auto* failed = std::get_if<Result>(&parsed)) {
    return std::move(*failed);
  }
  Signature& signature = std::get<Signature>(parsed);

  // ---- Its parts ----
  std::optional<Seconds> signed_at = parse_amz_date(signature.date);
  if (!signed_at) {
    return incomplete("Date must be in ISO-8601 'basic format'. Got '" + signature.date +
                      "'. See http://en.wikipedia.org/wiki/ISO_8601");
  }
  std::vector<std::string_view> scope = split(signature.credential, '/');
  if (scope.size() != 5 || scope[0].empty()) {
    return incomplete(
        "Credential must have exactly 5 slash-delimited elements, e.g. "
        "keyid/date/region/service/term, got '" +
        signature.credential + "'");
  }
  std::string access_key_id(scope[0]);
  std::string_view scope_date = scope[1];
  std::string_view region = scope[2];
  std::string_view service = scope[3];
  std::string_view terminator = scope[4];
  std::string_view date_day = std::string_view(signature.date).substr(0, 8);
  if (scope_date != date_day) {
    return bad_scope(
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
        "HTTP: '" +
            std::string(scope_date) + "' != '" + std::string(date_day) + "', from '" +
            signature.date + "'.",
        access_key_id);
  }
  if (terminator != kTerminator) {
    return bad_scope("Credential should be scoped with a valid terminator: 'aws4_request', not '" +
                         std::string(terminator) + "'. ",
                     access_key_id);
  }
  if (service != options.service) {
    return bad_scope("Credential should be scoped to correct service: '" + options.service + "'. ",
                     access_key_id);
  }
  if (region.empty() || (!options.region.empty() && region != options.region)) {
    return bad_scope(
        "Credential should be scoped to a valid region, not '" + std::string(region) + "'. ",
        access_key_id);
  }
  std::vector<std::string> signed_headers;
  bool signs_host = false;
  for (std::string_view name : split(signature.signed_headers, ';')) {
    if (name.empty()) {
      return incomplete("SignedHeaders has an empty header name: '" + signature.signed_headers +
                        "'.");
    }
    signed_headers.push_back(to_lower(name));
    signs_host = signs_host || signed_headers.back() == "host";
  }
  if (!signs_host) {
    return failure(Verdict::kMalformed, "InvalidSignatureException",
                   "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
                   access_key_id);
  }
  if (signature.signature.size() != 64 || !is_lower_hex(signature.signature)) {
    return incomplete("Signature must be 64 lower-case hexadecimal digits, got '" +
                      signature.signature + "'.");
  }
  long expires = 0;
  if (signature.expires) {
    if (!is_digits(*signature.expires) || signature.expires->size() > 7) {
      return incomplete("X-Amz-Expires should be a number");
    }
    expires = std::stol(*signature.expires);
    if (expires > kMaxExpires) {
      return incomplete(
          "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires "
          "must be less than 604800 seconds");
    }
  }

  // ---- Who, and when ----
  std::optional<std::string> secret = secrets(access_key_id);
  if (!secret) {
    return failure(Verdict::kUnknownAccessKey, "UnrecognizedClientException",
                   std::string(kUnknownKeyMessage), access_key_id);
  }
  Seconds now_s = std::chrono::floor<std::chrono::seconds>(now);
  if (*signed_at > now_s + options.clock_skew) {
    return failure(Verdict::kNotYetCurrent, "InvalidSignatureException",
                   "Signature not yet current: " + signature.date + " is still later than " +
                       format_amz_date(now_s + options.clock_skew) + " (" + format_amz_date(now_s) +
                       " + " + skew_text(options.clock_skew) + ")",
                   access_key_id);
  }
  if (signature.presigned) {
    // AWS's wording for an expired presigned URL of a service other than S3 is not published;
    // this is its clock skew sentence with the URL's own window.
    auto window = std::chrono::seconds(expires);
    if (*signed_at + window < now_s) {
      return failure(Verdict::kPresignedExpired, "InvalidSignatureException",
                     "Signature expired: " + signature.date + " is now earlier than " +
                         format_amz_date(now_s - window) + " (" + format_amz_date(now_s) + " - " +
                         std::to_string(expires) + " sec.)",
                     access_key_id);
    }
  } else if (*signed_at < now_s - options.clock_skew) {
    return failure(Verdict::kExpired, "InvalidSignatureException",
                   "Signature expired: " + signature.date + " is now earlier than " +
                       format_amz_date(now_s - options.clock_skew) + " (" + format_amz_date(now_s) +
                       " - " + skew_text(options.clock_skew) + ")",
                   access_key_id);
  }

  // ---- The canonical request, the string to sign, the signature ----
  // The payload is always hashed from the body, as the SDKs do for Lambda. A client may also
  // send that hash as x-amz-content-sha256 (the JS SDK always does) and the SDKs then sign the
  // header's value, so a value other than the body's hash (UNSIGNED-PAYLOAD and the streaming
  // forms are S3's and leave the body unauthenticated) cannot verify: say so without hashing on.
  std::string payload_hash = sha256_hex(request.body);
  const std::string* claimed = find_header(request.headers, "x-amz-content-sha256");
  if (claimed == nullptr && signature.presigned) {
    claimed = find_param(params, "X-Amz-Content-Sha256");
  }
  if (claimed != nullptr && *claimed != payload_hash) {
    return failure(Verdict::kSignatureMismatch, "InvalidSignatureException",
                   std::string(kMismatchMessage), access_key_id);
  }
  std::string canonical;
  canonical += request.method;
  canonical += '\n';
  canonical += canonical_uri(request.path);
  canonical += '\n';
  canonical += canonical_query(params, signature.presigned);
  canonical += '\n';
  canonical += canonical_headers(signed_headers, request.headers);
  canonical += '\n';
  for (std::size_t i = 0; i < signed_headers.size(); ++i) {
    canonical += i == 0 ? "" : ";";
    canonical += signed_headers[i];
  }
  canonical += '\n';
  canonical += payload_hash;

  std::string credential_scope = std::string(scope_date) + "/" + std::string(region) + "/" +
                                 std::string(service) + "/" + std::string(kTerminator);
  std::string string_to_sign = std::string(kAlgorithm) + "\n" + signature.date + "\n" +
                               credential_scope + "\n" + sha256_hex(canonical);

  Digest key = hmac("AWS4" + *secret, scope_date);
  key = hmac(as_view(key), region);
  key = hmac(as_view(key), service);
  key = hmac(as_view(key), kTerminator);
  Digest mac = hmac(as_view(key), string_to_sign);
  std::string expected = hex(mac.data(), mac.size());
  if (CRYPTO_memcmp(expected.data(), signature.signature.data(), expected.size()) != 0) {
    return failure(Verdict::kSignatureMismatch, "InvalidSignatureException",
                   std::string(kMismatchMessage), access_key_id);
  }
  Result valid;
  valid.verdict = Verdict::kValid;
  valid.access_key_id = std::move(access_key_id);
  return valid;
}

}  // namespace switchyard::daemon::sigv4
