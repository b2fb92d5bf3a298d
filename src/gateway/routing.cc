#include "gateway/routing.h"

#include <random>

namespace berth::gateway {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void Endpoint::RecordFailure(int64_t now_ms) {
  if (consecutive_failures_.fetch_add(1, std::memory_order_relaxed) + 1 >= 2) {
    ejected_until_ms_.store(now_ms + 5000);
  }
  CloseIdle();
}

std::unique_ptr<UpstreamConnection> Endpoint::TakeIdle() {
  std::lock_guard lock(mu_);
  if (idle_.empty()) return nullptr;
  auto connection = std::move(idle_.back());
  idle_.pop_back();
  return connection;
}

void Endpoint::ReturnIdle(std::unique_ptr<UpstreamConnection> connection) {
  std::lock_guard lock(mu_);
  if (idle_.size() < 256) {
    connection->reused = true;
    idle_.push_back(std::move(connection));
  }
}

void Endpoint::CloseIdle() {
  std::vector<std::unique_ptr<UpstreamConnection>> closing;
  std::lock_guard lock(mu_);
  closing.swap(idle_);
}

std::shared_ptr<Endpoint> Router::Pick(const ServiceRoute& route, const Endpoint* exclude) {
  thread_local std::minstd_rand rng{std::random_device{}()};
  const int64_t now = NowMs();
  std::vector<Endpoint*> healthy;
  std::vector<Endpoint*> any;
  healthy.reserve(route.endpoints.size());
  for (const auto& e : route.endpoints) {
    if (e.get() == exclude) continue;
    any.push_back(e.get());
    if (!e->Ejected(now)) healthy.push_back(e.get());
  }
  const auto& pool = healthy.empty() ? any : healthy;
  if (pool.empty()) return nullptr;
  Endpoint* chosen = pool[0];
  if (pool.size() > 1) {
    Endpoint* a = pool[rng() % pool.size()];
    Endpoint* b = pool[rng() % pool.size()];
    chosen = a->in_flight.load(std::memory_order_relaxed) <=
                     b->in_flight.load(std::memory_order_relaxed)
                 ? a
                 : b;
  }
  for (const auto& e : route.endpoints) {
    if (e.get() == chosen) return e;
  }
  return nullptr;
}

}  // namespace berth::gateway
