#include "gateway/statistics_merge.h"

#include <algorithm>
#include <string>

namespace berth::gateway {
namespace {

using nlohmann::json;

void MergeInto(json& into, const json& from, const std::string& key);

// batch_stats: one entry per batch size.
void MergeBatchStats(json& into, const json& from) {
  for (const json& entry : from) {
    if (!entry.is_object() || !entry.contains("batch_size")) continue;
    auto same = std::find_if(into.begin(), into.end(), [&](const json& e) {
      return e.is_object() && e.value("batch_size", json()) == entry["batch_size"];
    });
    if (same == into.end()) {
      into.push_back(entry);
    } else {
      for (const auto& [k, v] : entry.items()) {
        if (k != "batch_size") MergeInto((*same)[k], v, k);
      }
    }
  }
  std::sort(into.begin(), into.end(), [](const json& a, const json& b) {
    return a.value("batch_size", 0) < b.value("batch_size", 0);
  });
}

void MergeInto(json& into, const json& from, const std::string& key) {
  if (into.is_null()) {
    into = from;
  } else if (into.is_number() && from.is_number()) {
    if (key == "last_inference") {
      into = std::max(into.get<uint64_t>(), from.get<uint64_t>());
    } else if (into.is_number_float() || from.is_number_float()) {
      into = into.get<double>() + from.get<double>();
    } else {
      into = into.get<uint64_t>() + from.get<uint64_t>();
    }
  } else if (into.is_object() && from.is_object()) {
    for (const auto& [k, v] : from.items()) MergeInto(into[k], v, k);
  } else if (into.is_array() && from.is_array() && key == "batch_stats") {
    MergeBatchStats(into, from);
  }
  // Anything else (names, versions, other arrays) keeps the first replica's.
}

}  // namespace

json MergeStatistics(const std::vector<json>& answers) {
  json models = json::array();
  for (const json& answer : answers) {
    if (!answer.contains("model_stats") || !answer["model_stats"].is_array()) continue;
    for (const json& model : answer["model_stats"]) {
      if (!model.is_object()) continue;
      auto same = std::find_if(models.begin(), models.end(), [&](const json& m) {
        return m.value("name", json()) == model.value("name", json()) &&
               m.value("version", json()) == model.value("version", json());
      });
      if (same == models.end()) {
        models.push_back(model);
      } else {
        for (const auto& [k, v] : model.items()) {
          if (k != "name" && k != "version") MergeInto((*same)[k], v, k);
        }
      }
    }
  }
  return {{"model_stats", std::move(models)}};
}

}  // namespace berth::gateway
