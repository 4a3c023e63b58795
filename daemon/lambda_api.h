#pragma once

// The Lambda API on the admin listener, so that awscli, boto3 and the AWS SDKs work against a
// switchyard host (`--endpoint-url`): Invoke, ListFunctions, GetFunction,
// GetFunctionConfiguration, GetFunctionConcurrency and GetAccountSettings, in AWS's REST paths,
// JSON shapes and error shapes (x-amzn-ErrorType and a JSON body); any other operation gets
// an UnknownOperationException the SDKs parse.
//
// Thread rules: loop thread only.

#include <string>

#include "async/async_invoker.h"
#include "config/config.h"
#include "daemon/admin_auth.h"
#include "daemon/code_digest.h"
#include "http/server.h"
#include "scheduler/scheduler.h"

namespace switchyard::daemon {

// An AWS REST-JSON error: the SDKs read the type from x-amzn-ErrorType and the message from
// the body (`message` for some, `Message` for others).
http::Response aws_error(int status, std::string_view type, std::string_view message);

// Whether `path` is one of the Lambda API's: they start with its version, a date
// ("/2015-03-31/", "/2019-09-30/").
bool is_lambda_api_path(std::string_view path);

class LambdaApi {
 public:
  // `async_invocations` takes InvocationType Event (nullptr: such invocations are refused).
  LambdaApi(const config::Snapshot& snapshot, scheduler::Scheduler& scheduler, AdminAuth& auth,
            async::AsyncInvoker* async_invocations)
      : snapshot_(&snapshot),
        scheduler_(scheduler),
        auth_(auth),
        async_invocations_(async_invocations) {}

  // After a reload: the new snapshot's functions. It must outlive the API.
  void set_snapshot(const config::Snapshot& snapshot) { snapshot_ = &snapshot; }

  // Answers a request whose path is_lambda_api_path(), from `caller` (AdminAuth::check passed
  // it; nullptr: no keys are configured).
  void handle(http::Request&& request, http::ResponseSlot slot, const config::AdminKey* caller);

 private:
  void invoke(const config::FunctionManifest& function, http::Request&& request,
              http::ResponseSlot slot);
  http::Response list_functions(const http::Request& request);
  http::Response get_function(const config::FunctionManifest& function, bool configuration_only);
  http::Response get_account_settings();
  const config::FunctionManifest* find(const std::string& name) const;

  const config::Snapshot* snapshot_;
  scheduler::Scheduler& scheduler_;
  AdminAuth& auth_;
  async::AsyncInvoker* async_invocations_;
  CodeDigests digests_;
};

}  // namespace switchyard::daemon
