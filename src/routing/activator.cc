#include "routing/activator.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "routing/routing.h"

namespace berth::routing {

Activator::Activator(const Options& options) : options_(options) {
  if (options_.registry != nullptr) {
    cold_start_ = &prometheus::BuildHistogram()
                       .Name("berth_cold_start_seconds")
                       .Help("From the first request a service held with no ready replica to "
                             "the replica that answered it being ready, by service")
                       .Register(*options_.registry);
  }
}

Activator::~Activator() { Stop(); }

void Activator::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable() || stopped_) return;
  thread_ = std::thread([this] { Run(); });
}

void Activator::Stop() {
  std::map<std::string, Queue> queues;
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
    queues.swap(queues_);
  }
  cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  for (auto& [service, queue] : queues) {
    for (Waiter& w : queue.waiters) w.done(Outcome::kStopped);
  }
}

Activator::HoldResult Activator::Hold(const std::string& service, size_t limit,
                                      int64_t deadline_ms, Done done) {
  bool first = false;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return HoldResult::kFull;
    // Under the lock: a table published after this look releases the request (Published
    // takes the lock after the router has it).
    if (options_.router != nullptr) {
      const auto table = options_.router->Snapshot();
      const ServiceRoute* route = table->Find(service);
      if (route == nullptr || route->ReadyReplicas() > 0) return HoldResult::kReadyNow;
    }
    Queue& queue = queues_[service];
    if (queue.waiters.size() >= limit) return HoldResult::kFull;
    first = queue.waiters.empty();
    if (first && queue.cold_since_ms < 0) queue.cold_since_ms = options_.clock->MonotonicMs();
    ++queue.arrivals;
    queue.waiters.push_back({next_id_++, deadline_ms, std::move(done)});
  }
  cv_.notify_all();
  if (first && options_.wake) options_.wake();
  return HoldResult::kHeld;
}

size_t Activator::Held(const std::string& service) const {
  std::lock_guard lock(mu_);
  const auto it = queues_.find(service);
  return it == queues_.end() ? 0 : it->second.waiters.size();
}

uint64_t Activator::Arrivals(const std::string& service) const {
  std::lock_guard lock(mu_);
  const auto it = queues_.find(service);
  return it == queues_.end() ? 0 : it->second.arrivals;
}

prometheus::Histogram* Activator::ColdStartFor(const std::string& service) {
  if (cold_start_ == nullptr) return nullptr;
  auto it = histograms_.find(service);
  if (it == histograms_.end()) {
    it = histograms_
             .emplace(service, &cold_start_->Add({{"service", service}},
                                                 prometheus::Histogram::BucketBoundaries{
                                                     0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30,
                                                     60, 120}))
             .first;
  }
  return it->second;
}

void Activator::Published(const RoutingTable& table) {
  std::vector<Waiter> released;
  {
    std::lock_guard lock(mu_);
    const int64_t now = options_.clock->MonotonicMs();
    for (auto& [service, queue] : queues_) {
      if (queue.cold_since_ms < 0) continue;
      const auto route = table.services.find(service);
      const bool gone = route == table.services.end();
      if (!gone && route->second.ReadyReplicas() == 0) continue;
      if (!gone && !queue.waiters.empty()) {
        if (prometheus::Histogram* h = ColdStartFor(service)) {
          h->Observe(static_cast<double>(now - queue.cold_since_ms) / 1000);
        }
      }
      queue.cold_since_ms = -1;
      std::move(queue.waiters.begin(), queue.waiters.end(), std::back_inserter(released));
      queue.waiters.clear();
    }
    // Services that hold nothing and are gone from the table need no queue.
    std::erase_if(queues_, [&](const auto& entry) {
      return entry.second.waiters.empty() && !table.services.contains(entry.first);
    });
  }
  for (Waiter& w : released) w.done(Outcome::kReleased);
}

size_t Activator::ExpireDue() {
  std::vector<Waiter> expired;
  {
    std::lock_guard lock(mu_);
    const int64_t now = options_.clock->MonotonicMs();
    for (auto& [service, queue] : queues_) {
      auto keep = std::stable_partition(queue.waiters.begin(), queue.waiters.end(),
                                        [&](const Waiter& w) { return w.deadline_ms > now; });
      std::move(keep, queue.waiters.end(), std::back_inserter(expired));
      queue.waiters.erase(keep, queue.waiters.end());
      // A cold start that everyone gave up on is not measured from the first of them.
      if (queue.waiters.empty()) queue.cold_since_ms = -1;
    }
  }
  for (Waiter& w : expired) w.done(Outcome::kTimedOut);
  return expired.size();
}

void Activator::Run() {
  std::unique_lock lock(mu_);
  while (!stopped_) {
    int64_t earliest = -1;
    for (const auto& [service, queue] : queues_) {
      for (const Waiter& w : queue.waiters) {
        if (earliest < 0 || w.deadline_ms < earliest) earliest = w.deadline_ms;
      }
    }
    const int64_t now = options_.clock->MonotonicMs();
    if (earliest >= 0 && earliest <= now) {
      lock.unlock();
      ExpireDue();
      lock.lock();
      continue;
    }
    // Wakes for a new request (its deadline may be the earliest) or a second at most.
    const int64_t wait_ms = earliest < 0 ? 1000 : std::min<int64_t>(earliest - now, 1000);
    cv_.wait_for(lock, std::chrono::milliseconds(wait_ms));
  }
}

}  // namespace berth::routing
