#include "routing/traffic_stats.h"

#include <algorithm>
#include <cmath>

namespace berth::routing {
namespace {

constexpr double kFirstBinMs = 0.05;
constexpr double kGrowth = 1.35;  // 0.05 ms * 1.35^39 ~ 60 s

int Bin(double ms) {
  if (ms <= kFirstBinMs) return 0;
  const int bin = static_cast<int>(std::log(ms / kFirstBinMs) / std::log(kGrowth)) + 1;
  return std::min(bin, TrafficStats::kLatencyBins - 1);
}

double BinUpperMs(int bin) { return kFirstBinMs * std::pow(kGrowth, bin); }

double Quantile(const std::array<uint32_t, TrafficStats::kLatencyBins>& bins, uint64_t total,
                double q) {
  if (total == 0) return 0;
  const auto want = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total)));
  uint64_t seen = 0;
  for (int i = 0; i < TrafficStats::kLatencyBins; ++i) {
    seen += bins[static_cast<size_t>(i)];
    if (seen >= want) return BinUpperMs(i);
  }
  return BinUpperMs(TrafficStats::kLatencyBins - 1);
}

}  // namespace

std::shared_ptr<TrafficStats::Service> TrafficStats::Get(const std::string& service) {
  std::lock_guard lock(mu_);
  auto& slot = services_[service];
  if (!slot) slot = std::make_shared<Service>();
  return slot;
}

void TrafficStats::Add(Bucket& b, double latency_ms, RequestResult result, int64_t batch_rows) {
  ++b.requests;
  if (batch_rows > 0) {
    ++b.batched;
    b.batch_rows += static_cast<uint64_t>(batch_rows);
  }
  if (result == RequestResult::kServerError) ++b.errors;
  if (result == RequestResult::kClientError) ++b.client_errors;
  ++b.latency[static_cast<size_t>(Bin(latency_ms))];
}

void TrafficStats::Record(const std::string& service, int64_t now_ms, double latency_ms,
                          RequestResult result, int64_t batch_rows, int64_t revision,
                          RequestEntry* entry) {
  const std::shared_ptr<Service> service_stats = Get(service);
  Service& s = *service_stats;
  const int64_t slot = now_ms / (kIntervalS * 1000);
  std::lock_guard lock(s.mu);
  Add(Current(s.buckets, slot), latency_ms, result, batch_rows);
  if (revision > 0) {
    Add(Current(*RevisionBuckets(s, revision, true), slot), latency_ms, result, batch_rows);
  }
  if (entry != nullptr) AppendToLog(s, std::move(*entry));
}

void TrafficStats::RecordShadow(const std::string& service, int64_t now_ms, double latency_ms,
                                RequestResult result, int64_t revision) {
  if (revision <= 0) return;
  const std::shared_ptr<Service> service_stats = Get(service);
  Service& s = *service_stats;
  std::lock_guard lock(s.mu);
  Add(Current(*RevisionBuckets(s, revision, true), now_ms / (kIntervalS * 1000)), latency_ms,
      result, 0);
}

WindowFigures TrafficStats::Window(const std::string& service, int64_t revision,
                                  int64_t from_ms, int64_t to_ms) {
  WindowFigures figures;
  const std::shared_ptr<Service> service_stats = Get(service);
  Service& s = *service_stats;
  const int64_t interval_ms = kIntervalS * 1000;
  const int64_t last = to_ms / interval_ms;
  const int64_t first = std::max(from_ms / interval_ms, last - kBuckets + 1);
  std::array<uint32_t, kLatencyBins> latency{};
  std::lock_guard lock(s.mu);
  const Buckets* buckets = RevisionBuckets(s, revision, false);
  if (buckets == nullptr) return figures;
  for (int64_t slot = first; slot <= last; ++slot) {
    const Bucket& b = (*buckets)[static_cast<size_t>(slot % kBuckets)];
    if (b.slot != slot) continue;
    figures.requests += b.requests;
    figures.errors += b.errors;
    for (size_t i = 0; i < latency.size(); ++i) latency[i] += b.latency[i];
  }
  figures.p99_ms = Quantile(latency, figures.requests, 0.99);
  return figures;
}

TrafficStats::Buckets* TrafficStats::RevisionBuckets(Service& s, int64_t revision, bool make) {
  for (auto& [number, buckets] : s.revisions) {
    if (number == revision) return buckets.get();
  }
  if (!make) return nullptr;
  if (s.revisions.size() < kRevisions) {
    s.revisions.emplace_back(revision, std::make_unique<Buckets>());
    return s.revisions.back().second.get();
  }
  auto oldest = std::min_element(s.revisions.begin(), s.revisions.end(),
                                 [](const auto& a, const auto& b) { return a.first < b.first; });
  oldest->first = revision;
  *oldest->second = Buckets{};
  return oldest->second.get();
}

TrafficStats::Bucket& TrafficStats::Current(Buckets& buckets, int64_t slot) {
  Bucket& b = buckets[static_cast<size_t>(slot % kBuckets)];
  if (b.slot != slot) b = Bucket{slot};
  return b;
}

void TrafficStats::SetReplicas(const std::string& service, int64_t now_ms, int ready) {
  const std::shared_ptr<Service> service_stats = Get(service);
  Service& s = *service_stats;
  std::lock_guard lock(s.mu);
  Bucket& b = Current(s.buckets, now_ms / (kIntervalS * 1000));
  b.replicas = std::max(b.replicas, ready);
}

nlohmann::json TrafficStats::Series(const std::string& service, int64_t now_ms,
                                    int64_t revision) {
  const std::shared_ptr<Service> service_stats = Get(service);
  Service& s = *service_stats;
  const int64_t current = now_ms / (kIntervalS * 1000);
  nlohmann::json points = nlohmann::json::array();
  std::lock_guard lock(s.mu);
  static const Buckets kNone{};
  const Buckets* requests_from = &s.buckets;
  if (revision > 0) {
    const Buckets* found = RevisionBuckets(s, revision, false);
    requests_from = found ? found : &kNone;
  }
  int replicas = 0;
  for (int64_t slot = current - kBuckets + 1; slot <= current; ++slot) {
    const size_t index = static_cast<size_t>(slot % kBuckets);
    const Bucket& service_bucket = s.buckets[index];
    if (service_bucket.slot == slot && service_bucket.replicas >= 0) {
      replicas = service_bucket.replicas;
    }
    const Bucket& b = (*requests_from)[index];
    const bool live = b.slot == slot;
    const uint64_t requests = live ? b.requests : 0;
    // The current bucket is still filling: its rate is over the time elapsed so far.
    const double seconds =
        slot == current ? std::max(0.001, (now_ms % (kIntervalS * 1000)) / 1000.0) : kIntervalS;
    points.push_back({{"time", slot * kIntervalS * 1000},
                      {"requests", requests},
                      {"errors", live ? b.errors : 0},
                      {"client_errors", live ? b.client_errors : 0},
                      {"qps", static_cast<double>(requests) / seconds},
                      {"p50_ms", live ? Quantile(b.latency, requests, 0.5) : 0.0},
                      {"p99_ms", live ? Quantile(b.latency, requests, 0.99) : 0.0},
                      {"ready_replicas", replicas},
                      {"avg_batch_size", live && b.batched > 0
                                             ? static_cast<double>(b.batch_rows) /
                                                   static_cast<double>(b.batched)
                                             : 0.0}});
  }
  return {{"interval_s", kIntervalS}, {"points", std::move(points)}};
}

void TrafficStats::Forget(const std::string& service) {
  std::lock_guard lock(mu_);
  services_.erase(service);
}

void TrafficStats::AppendToLog(Service& s, RequestEntry entry) {
  entry.seq = ++s.logged;
  if (s.log.size() < kLoggedRequests) {
    s.log.push_back(std::move(entry));
    return;
  }
  s.log[s.next] = std::move(entry);
  s.next = (s.next + 1) % kLoggedRequests;
}

std::vector<RequestEntry> TrafficStats::RecentRequests(const std::string& service, size_t limit,
                                                       uint64_t after) {
  const std::shared_ptr<Service> service_stats = Get(service);
  Service& s = *service_stats;
  std::lock_guard lock(s.mu);
  std::vector<RequestEntry> recent;
  const size_t n = std::min(limit, s.log.size());
  recent.reserve(n);
  // The newest is just before `next` (or the last while the ring is filling).
  const size_t newest = s.log.size() < kLoggedRequests ? s.log.size() : s.next + s.log.size();
  for (size_t i = 1; i <= n; ++i) {
    const RequestEntry& entry = s.log[(newest - i) % s.log.size()];
    if (entry.seq <= after) break;
    recent.push_back(entry);
  }
  return recent;
}

}  // namespace berth::routing
