#pragma once

#include <napi.h>

namespace fleet {

// maxPoolGrad(x, dy, dx, geometry)
Napi::Value MaxPoolGrad(const Napi::CallbackInfo& info);

}  // namespace fleet
