#pragma once

// The admin listener (loopback by default): /healthz, /readyz, /metrics (Prometheus text),
// /functions (JSON), and the Lambda API (daemon/lambda_api.h), so that awscli, boto3 and the
// AWS SDKs work against a switchyard host.
//
// Thread rules: loop thread only.

#include <memory>
#include <string>
#include <vector>

#include "async/async_queue.h"
#include "config/config.h"
#include "core/error.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/process_metrics.h"
#include "daemon/admin_auth.h"
#include "daemon/lambda_api.h"
#include "http/server.h"
#include "scheduler/scheduler.h"

namespace switchyard::daemon {

class AdminListener {
 public:
  // `async_queue`: asynchronous invocations (the Invoke API's InvocationType Event) and their
  // figures in /functions; nullptr: none.
  AdminListener(core::Loop& loop, const config::Snapshot& snapshot, scheduler::Scheduler& scheduler,
                core::MetricsRegistry& metrics, async::AsyncQueue* async_queue);

  core::Status listen();
  int port() const { return server_.port(); }

  // After a reload: /functions lists the new snapshot's functions. It must outlive the listener.
  void set_snapshot(const config::Snapshot& snapshot) {
    snapshot_ = &snapshot;
    lambda_api_.set_snapshot(snapshot);
  }

  // /readyz answers 200 only while ready and not draining.
  void set_ready(bool ready) { ready_ = ready; }
  void set_draining() { draining_ = true; }
  // Stops taking connections; in-flight admin requests (invocations) still get answers.
  void stop_accepting() { server_.stop_accepting(); }
  std::size_t connections() const { return server_.connections(); }

 private:
  void handle(http::Request&& request, http::ResponseSlot slot);
  std::string functions_json() const;

  const config::Snapshot* snapshot_;
  scheduler::Scheduler& scheduler_;
  core::MetricsRegistry& metrics_;
  async::AsyncQueue* async_queue_;
  core::ProcessMetrics process_metrics_;
  AdminAuth auth_;
  LambdaApi lambda_api_;
  http::Server server_;
  bool ready_ = false;
  bool draining_ = false;
};

}  // namespace switchyard::daemon
