#pragma once

#include <napi.h>

namespace fleet {

// conv2dForward(x, w, bias | null, y, geometry, relu, layout)
Napi::Value Conv2dForward(const Napi::CallbackInfo& info);
// conv2dBackwardData(dy, w, dx, geometry, layout)
Napi::Value Conv2dBackwardData(const Napi::CallbackInfo& info);
// conv2dBackwardWeights(x, dy, dw, geometry, layout)
Napi::Value Conv2dBackwardWeights(const Napi::CallbackInfo& info);
void clearConvCache();
size_t convCacheSize();

}  // namespace fleet
