#pragma once

#include <napi.h>

namespace fleet {

// matmul(a, b, bias | null, c, geometry, relu)
Napi::Value Matmul(const Napi::CallbackInfo& info);
void clearMatmulCache();
size_t matmulCacheSize();

}  // namespace fleet
