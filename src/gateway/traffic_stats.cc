#include "gateway/traffic_stats.h"

#include <cmath>

namespace berth::gateway {
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

TrafficStats::Service& TrafficStats::Get(const std::string& service) {
  std::lock_guard lock(mu_);
  auto& slot = services_[service];
  if (!slot) slot = std::make_unique<Service>();
  return *slot;
}

void TrafficStats::Record(const std::string& service, int64_t now_ms, double latency_ms,
                          bool error, int64_t batch_rows) {
  Service& s = Get(service);
  const int64_t slot = now_ms / (kIntervalS * 1000);
  std::lock_guard lock(s.mu);
  Bucket& b = Current(s, slot);
  ++b.requests;
  if (batch_rows > 0) {
    ++b.batched;
    b.batch_rows += static_cast<uint64_t>(batch_rows);
  }
  if (error) ++b.errors;
  ++b.latency[static_cast<size_t>(Bin(latency_ms))];
}

TrafficStats::Bucket& TrafficStats::Current(Service& s, int64_t slot) {
  Bucket& b = s.buckets[static_cast<size_t>(slot % kBuckets)];
  if (b.slot != slot) b = Bucket{slot};
  return b;
}

void TrafficStats::SetReplicas(const std::string& service, int64_t now_ms, int ready) {
  Service& s = Get(service);
  std::lock_guard lock(s.mu);
  Bucket& b = Current(s, now_ms / (kIntervalS * 1000));
  b.replicas = std::max(b.replicas, ready);
}

nlohmann::json TrafficStats::Series(const std::string& service, int64_t now_ms) {
  Service& s = Get(service);
  const int64_t current = now_ms / (kIntervalS * 1000);
  nlohmann::json points = nlohmann::json::array();
  std::lock_guard lock(s.mu);
  int replicas = 0;
  for (int64_t slot = current - kBuckets + 1; slot <= current; ++slot) {
    const Bucket& b = s.buckets[static_cast<size_t>(slot % kBuckets)];
    const bool live = b.slot == slot;
    if (live && b.replicas >= 0) replicas = b.replicas;
    const uint64_t requests = live ? b.requests : 0;
    // The current bucket is still filling: its rate is over the time elapsed so far.
    const double seconds =
        slot == current ? std::max(0.001, (now_ms % (kIntervalS * 1000)) / 1000.0) : kIntervalS;
    points.push_back({{"time", slot * kIntervalS * 1000},
                      {"requests", requests},
                      {"errors", live ? b.errors : 0},
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

}  // namespace berth::gateway
