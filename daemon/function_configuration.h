#pragma once

// A function as the Lambda API describes it: the FunctionConfiguration shape of
// GetFunctionConfiguration, GetFunction and ListFunctions, plus switchyard's own extension field
// ("Switchyard": its triggers, queue, retries and dead letter), which the SDKs pass through.
//
// Pure functions: any thread.

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <chrono>
#include <string>

#include "config/config.h"
#include "daemon/code_digest.h"

namespace switchyard::daemon {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// Writes one FunctionConfiguration object.
void write_function_configuration(JsonWriter& writer, const config::FunctionManifest& manifest,
                                  const config::DaemonConfig& daemon, const CodeDigest& code);

// Lambda's timestamp form: "2026-12-05T08:03:14.123+0000".
std::string lambda_timestamp(std::chrono::system_clock::time_point time);

}  // namespace switchyard::daemon
