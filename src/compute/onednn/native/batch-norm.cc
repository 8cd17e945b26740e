// FusedBatchNorm's normalisation in one pass over a [rows, channels] tensor:
// y = (x - centre[c]) * factor[c] + offset[c], with the per-channel centre and
// factor (scale * rsqrt(var + eps)) computed by the caller. Subtracting first
// keeps precision when |mean| >> std.
#include "batch-norm.h"

#include "common.h"

namespace fleet {

Napi::Value BatchNormApply(const Napi::CallbackInfo& info) {
  const float* x = floatData(info[0], "x");
  const float* centre = floatData(info[1], "centre");
  const float* factor = floatData(info[2], "factor");
  const float* offset = optionalFloatData(info[3], "offset");
  float* y = floatData(info[4], "y");
  const int64_t channels = info[5].ToNumber().Int64Value();
  const int64_t rows = static_cast<int64_t>(info[0].As<Napi::Float32Array>().ElementLength()) / channels;
#pragma omp parallel for
  for (int64_t r = 0; r < rows; r++) {
    const float* in = x + r * channels;
    float* out = y + r * channels;
    if (offset) {
      for (int64_t c = 0; c < channels; c++) out[c] = (in[c] - centre[c]) * factor[c] + offset[c];
    } else {
      for (int64_t c = 0; c < channels; c++) out[c] = (in[c] - centre[c]) * factor[c];
    }
  }
  return info.Env().Undefined();
}

}  // namespace fleet
