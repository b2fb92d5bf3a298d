#include "routing/routing.h"

#include <algorithm>

#include <poll.h>

#include <random>

namespace berth::routing {

bool Endpoint::RecordFailure(int64_t now_ms, bool may_eject) {
  CloseIdle();
  const int failures = consecutive_failures_.fetch_add(1, std::memory_order_relaxed) + 1;
  if (failures < kFailuresToEject || !may_eject || Ejected(now_ms)) return false;
  // Back long enough since the last ejection: this one counts as the first.
  if (now_ms - ejected_until_ms_.load() >= kMaxEjectMs) ejections_.store(0);
  const int times = ejections_.fetch_add(1) + 1;
  ejected_until_ms_.store(now_ms + std::min<int64_t>(kEjectMs * times, kMaxEjectMs));
  consecutive_failures_.store(0, std::memory_order_relaxed);
  return true;
}

namespace {

// Whether a pooled connection can carry a request: open, and with nothing to read (a worker
// never speaks first, so readable means closed, reset or out of step).
bool Usable(UpstreamConnection& connection) {
  auto& socket = connection.stream.socket();
  if (!socket.is_open()) return false;
  pollfd p{socket.native_handle(), POLLIN | POLLRDHUP, 0};
  const int ready = ::poll(&p, 1, 0);
  return ready == 0;
}

}  // namespace

std::unique_ptr<UpstreamConnection> Endpoint::TakeIdle(int64_t now_ms) {
  std::vector<std::unique_ptr<UpstreamConnection>> dropped;  // closed outside the lock
  std::unique_ptr<UpstreamConnection> found;
  {
    std::lock_guard lock(mu_);
    // The oldest are at the front: the expired ones go first.
    size_t expired = 0;
    while (expired < idle_.size() && now_ms - idle_[expired]->idle_since_ms > kMaxIdleMs) {
      ++expired;
    }
    for (size_t i = 0; i < expired; ++i) dropped.push_back(std::move(idle_[i]));
    idle_.erase(idle_.begin(), idle_.begin() + static_cast<std::ptrdiff_t>(expired));
    while (!idle_.empty() && !found) {
      std::unique_ptr<UpstreamConnection> candidate = std::move(idle_.back());
      idle_.pop_back();
      if (Usable(*candidate)) {
        found = std::move(candidate);
      } else {
        dropped.push_back(std::move(candidate));
      }
    }
  }
  return found;
}

void Endpoint::ReturnIdle(std::unique_ptr<UpstreamConnection> connection, int64_t now_ms) {
  std::lock_guard lock(mu_);
  if (idle_.size() < kMaxIdleConnections) {
    connection->reused = true;
    connection->idle_since_ms = now_ms;
    idle_.push_back(std::move(connection));
  }
}

void Endpoint::CloseIdle() {
  std::vector<std::unique_ptr<UpstreamConnection>> closing;
  std::lock_guard lock(mu_);
  closing.swap(idle_);
}

const ServiceRoute* RoutingTable::Find(std::string_view name) const {
  const std::string key(name);
  if (auto it = services.find(key); it != services.end()) return &it->second;
  if (auto alias = model_names.find(key); alias != model_names.end()) {
    if (auto it = services.find(alias->second); it != services.end()) return &it->second;
  }
  return nullptr;
}

size_t ServiceRoute::ReadyReplicas() const {
  size_t n = 0;
  for (const RevisionRoute& r : revisions) n += r.endpoints.size();
  return n;
}

namespace {

uint64_t DefaultRandom() {
  thread_local std::minstd_rand rng{std::random_device{}()};
  return rng();
}

bool HasCandidate(const RevisionRoute& revision, const Endpoint* exclude) {
  for (const auto& e : revision.endpoints) {
    if (e.get() != exclude) return true;
  }
  return false;
}

}  // namespace

std::shared_ptr<Endpoint> Router::Pick(const ServiceRoute& route, const Endpoint* exclude,
                                       int64_t now_ms, uint64_t (*random)(),
                                       int64_t only_revision) {
  if (random == nullptr) random = DefaultRandom;
  // The revision: the one asked for, else by weight among those that have a replica to
  // offer.
  const RevisionRoute* chosen_revision = nullptr;
  if (only_revision > 0) {
    for (const RevisionRoute& r : route.revisions) {
      if (r.revision == only_revision && HasCandidate(r, exclude)) chosen_revision = &r;
    }
  }
  uint64_t total = 0;
  for (const RevisionRoute& r : route.revisions) {
    if (r.weight > 0 && HasCandidate(r, exclude)) total += static_cast<uint64_t>(r.weight);
  }
  if (total == 0 && chosen_revision == nullptr) return nullptr;
  uint64_t point = route.revisions.size() == 1 || total == 0 ? 0 : random() % total;
  for (const RevisionRoute& r : route.revisions) {
    if (chosen_revision != nullptr) break;
    if (r.weight <= 0 || !HasCandidate(r, exclude)) continue;
    if (point < static_cast<uint64_t>(r.weight)) {
      chosen_revision = &r;
      break;
    }
    point -= static_cast<uint64_t>(r.weight);
  }
  const auto& endpoints = chosen_revision->endpoints;
  // The replica: the pool is the healthy ones, or every one when all are ejected. Counted and
  // indexed in place, so that a pick allocates nothing.
  size_t healthy = 0, any = 0;
  for (const auto& e : endpoints) {
    if (e.get() == exclude) continue;
    ++any;
    if (!e->Ejected(now_ms)) ++healthy;
  }
  const bool only_healthy = healthy > 0;
  const size_t pool = only_healthy ? healthy : any;
  auto nth = [&](size_t n) -> const std::shared_ptr<Endpoint>& {
    for (const auto& e : endpoints) {
      if (e.get() == exclude || (only_healthy && e->Ejected(now_ms))) continue;
      if (n-- == 0) return e;
    }
    return endpoints.front();  // not reached: n < pool
  };
  if (pool == 1) return nth(0);
  const auto& a = nth(random() % pool);
  const auto& b = nth(random() % pool);
  return a->in_flight.load(std::memory_order_relaxed) <= b->in_flight.load(std::memory_order_relaxed)
             ? a
             : b;
}

void Router::CloseIdle() const {
  for (const auto& [name, route] : Snapshot()->services) {
    for (const RevisionRoute& r : route.revisions) {
      for (const auto& endpoint : r.endpoints) endpoint->CloseIdle();
    }
  }
}

}  // namespace berth::routing
