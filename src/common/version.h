// berth's version, as every part reports it (the V2 server metadata over REST and gRPC, the
// control API's /server, the worker).
#pragma once

namespace berth {

inline constexpr char kVersion[] = "0.1.0";

}  // namespace berth
