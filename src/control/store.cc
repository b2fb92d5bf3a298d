#include "control/store.h"

#include <atomic>

namespace berth::control {
namespace {

std::atomic<uint64_t> store_errors{0};

}  // namespace

uint64_t StoreErrorCount() { return store_errors.load(std::memory_order_relaxed); }

void CountStoreError() { store_errors.fetch_add(1, std::memory_order_relaxed); }

}  // namespace berth::control
