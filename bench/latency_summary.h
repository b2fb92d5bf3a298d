// Latency percentiles and the one-line `key=value` summary that berth's benchmark tools print,
// so that bench/run_worker_benchmarks.sh can read any of them the same way.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace berth::bench {

// Nearest-rank percentile (p in [0, 100]) of `sorted`, which must be sorted ascending.
inline double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0.0;
  const double rank = std::ceil(p / 100.0 * static_cast<double>(sorted.size()));
  const size_t index = rank < 1.0 ? 0 : static_cast<size_t>(rank) - 1;
  return sorted[std::min(index, sorted.size() - 1)];
}

// Sorts `latencies_us` in place and prints the summary line:
//   <prefix> calls=N calls_per_s=X items_per_s=Y p50_us=.. p90_us=.. p99_us=.. mean_us=..
inline void PrintSummary(const std::string& prefix, std::vector<double>& latencies_us,
                         double seconds, int64_t items_per_call) {
  std::sort(latencies_us.begin(), latencies_us.end());
  double sum = 0;
  for (double v : latencies_us) sum += v;
  const double calls = static_cast<double>(latencies_us.size());
  const double calls_per_s = seconds > 0 ? calls / seconds : 0.0;
  std::printf(
      "%s calls=%zu calls_per_s=%.1f items_per_s=%.1f p50_us=%.1f p90_us=%.1f p99_us=%.1f "
      "mean_us=%.1f\n",
      prefix.c_str(), latencies_us.size(), calls_per_s,
      calls_per_s * static_cast<double>(items_per_call), Percentile(latencies_us, 50),
      Percentile(latencies_us, 90), Percentile(latencies_us, 99),
      latencies_us.empty() ? 0.0 : sum / calls);
  std::fflush(stdout);
}

}  // namespace berth::bench
