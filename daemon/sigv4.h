#pragma once

// Checks an AWS Signature Version 4 (AWS4-HMAC-SHA256) signature the way an AWS service other
// than S3 does, so that the admin listener can authenticate the Lambda API requests awscli,
// boto3 and the SDKs sign. Both forms: the Authorization header, and a presigned URL's
// X-Amz-* query parameters. The canonical request is rebuilt from the request as received: the
// path normalized and URI-encoded once more (the SDKs encode an already percent-encoded path a
// second time), the query decoded and re-encoded, the signed headers trimmed, and the payload
// hashed from the body. A failure carries the error type and message AWS answers with.
//
// Thread rules: `verify` is a pure function; any thread. It calls `secrets` at most once, on
// the calling thread, and keeps no reference to anything passed in.

#include <chrono>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "http/message.h"

namespace switchyard::daemon::sigv4 {

// What the request, as it stands, is.
enum class Verdict {
  kValid,              // Signed by `Result::access_key_id`.
  kUnsigned,           // No Authorization header and no X-Amz-Algorithm query parameter.
  kMalformed,          // Unparseable or incomplete signature, or a credential scope (date,
                       // region, service, terminator) this service does not take.
  kUnknownAccessKey,   // The access key id has no secret.
  kSignatureMismatch,  // Anything signed differs: the secret, the body, a signed header...
  kExpired,            // X-Amz-Date older than the clock skew allows (the header form).
  kNotYetCurrent,      // X-Amz-Date further in the future than the clock skew allows.
  kPresignedExpired,   // A presigned URL used after X-Amz-Date + X-Amz-Expires.
};

// The request as the listener received it. Views: what they point to must outlive the call.
struct RequestView {
  std::string_view method;  // "GET", "POST"...
  std::string_view path;    // As received, still percent-encoded: /2015-03-31/functions/a%3Ab
  std::string_view query;   // As received, without '?' ("" when none).
  std::span<const http::Header> headers;  // In order; repeated names kept.
  std::string_view body;                  // Complete, de-chunked.

  static RequestView of(const http::Request& request) {
    return {request.method, request.path, request.query, request.headers, request.body};
  }
};

// The secret access key of an access key id; nullopt when the id is unknown.
using SecretLookup = std::function<std::optional<std::string>(std::string_view access_key_id)>;

struct Options {
  std::string service = "lambda";  // The credential scope's service must be this.
  std::string region;              // When not empty, the scope's region must be this.
  // How far X-Amz-Date may be from `now`, either way (AWS: 5 minutes).
  std::chrono::seconds clock_skew = std::chrono::minutes(5);
};

struct Result {
  Verdict verdict = Verdict::kMalformed;
  // Who signed it when valid; otherwise the id the request named, if it got that far ("").
  std::string access_key_id;
  // For anything but kValid, what AWS answers: the status, the error type for the
  // x-amzn-ErrorType header and the "__type" / "message" of the JSON body.
  int http_status = 0;     // 403 for every failure; 0 when valid.
  std::string error_type;  // "InvalidSignatureException", "UnrecognizedClientException"...
  std::string message;     // "Signature expired: 20150830T123600Z is now earlier than ..."

  bool valid() const { return verdict == Verdict::kValid; }
};

// Checks the request's signature with the secret `secrets` gives for its access key id, at
// `now`.
Result verify(const RequestView& request, const SecretLookup& secrets,
              std::chrono::system_clock::time_point now, const Options& options = {});

// "valid", "unsigned", "malformed"... for logs and metrics labels.
std::string_view verdict_name(Verdict verdict);

}  // namespace switchyard::daemon::sigv4
