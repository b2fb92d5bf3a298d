// Helpers shared by the /api/v1 handler files (api_*.cc): JSON responses and checked reads of
// bodies, fields and query parameters, each naming what it read in its error.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>

#include "absl/status/statusor.h"
#include "control/api.h"
#include "nlohmann/json.hpp"

namespace berth::control::api_internal {

ApiResponse Json(int status, const nlohmann::json& doc);
ApiResponse NoContent();

// The body as a JSON object, or an error saying what is wrong with it.
absl::StatusOr<nlohmann::json> ParseBody(const ApiRequest& r);

// A whole-number member within [lo, hi]; `fallback` when absent or null.
absl::StatusOr<int64_t> IntField(const nlohmann::json& obj, const char* key,
                                 const std::string& path, int64_t lo, int64_t hi,
                                 int64_t fallback);

// A whole-number query parameter within [lo, hi]; `fallback` when absent. "?limit=abc" or a
// value out of range is an error naming the parameter, never a silent default.
absl::StatusOr<int64_t> QueryInt(const ApiRequest& r, const char* name, int64_t lo, int64_t hi,
                                 int64_t fallback);

// A string member: `fallback` when absent or null, an error naming `path` for another type.
absl::StatusOr<std::string> StringField(const nlohmann::json& obj, const char* key,
                                        const std::string& path, std::string fallback = "");

// An error naming the first member of `obj` that is not in `allowed`.
absl::Status OnlyFields(const nlohmann::json& obj, const std::string& path,
                        std::initializer_list<const char*> allowed);

// spec.rollout (control/canary_rollout.h), each field checked; what is left out takes its
// default.
absl::StatusOr<nlohmann::json> NormalizeRollout(const nlohmann::json& rollout);

// A service's rollout state as the API shows it (times as text, the next step's time).
nlohmann::json RolloutJson(const nlohmann::json& state);

}  // namespace berth::control::api_internal
