// Triton statistics from several replicas of one service, as one answer: what a client would
// read from a single server that had served all their requests.
#pragma once

#include <vector>

#include "nlohmann/json.hpp"

namespace berth::gateway {

// {"model_stats": [...]} from each replica into one: entries of the same model name and
// version become one, their counts and durations summed (last_inference: the latest),
// batch_stats merged by batch_size; an entry only some replicas have is kept as it is.
nlohmann::json MergeStatistics(const std::vector<nlohmann::json>& answers);

}  // namespace berth::gateway
