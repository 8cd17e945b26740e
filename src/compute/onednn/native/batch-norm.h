#pragma once

#include <napi.h>

namespace fleet {

// batchNormApply(x, centre, factor, offset | null, y, channels)
Napi::Value BatchNormApply(const Napi::CallbackInfo& info);

}  // namespace fleet
