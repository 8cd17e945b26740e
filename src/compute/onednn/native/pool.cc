// MaxPool's input gradient over NHWC: each window's dy is added at the first
// maximum of its input window (row-major, padding excluded), as tfjs's cpu
// backend does. Written directly rather than with oneDNN's pooling, which
// needs the forward pass's workspace that tfjs does not keep.
// Geometry, an Int32Array of 12: batch, inH, inW, C, outH, outW, filterH,
// filterW, strideH, strideW, padTop, padLeft.
#include "pool.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "common.h"

namespace fleet {

Napi::Value MaxPoolGrad(const Napi::CallbackInfo& info) {
  const float* x = floatData(info[0], "x");
  const float* dy = floatData(info[1], "dy");
  float* dx = floatData(info[2], "dx");
  auto g = intArgs(info[3], 12, "geometry");
  const int64_t B = g[0], H = g[1], W = g[2], C = g[3], ho = g[4], wo = g[5];
  const int64_t fh = g[6], fw = g[7], sh = g[8], sw = g[9], pt = g[10], pl = g[11];
  std::memset(dx, 0, sizeof(float) * B * H * W * C);
  // Images write disjoint parts of dx, so they run in parallel.
#pragma omp parallel
  {
    std::vector<float> bestValue(C);
    std::vector<int64_t> best(C);
#pragma omp for
    for (int64_t b = 0; b < B; b++) {
      for (int64_t i = 0; i < ho; i++) {
        const int64_t h0 = i * sh - pt;
        const int64_t uStart = std::max<int64_t>(0, -h0), uEnd = std::min(fh, H - h0);
        for (int64_t j = 0; j < wo; j++) {
          const int64_t w0 = j * sw - pl;
          const int64_t vStart = std::max<int64_t>(0, -w0), vEnd = std::min(fw, W - w0);
          if (uStart >= uEnd || vStart >= vEnd) continue;
          const int64_t corner = ((b * H + h0) * W + w0) * C;
          const int64_t first = corner + (uStart * W + vStart) * C;
          for (int64_t c = 0; c < C; c++) {
            best[c] = first + c;
            bestValue[c] = x[first + c];
          }
          for (int64_t u = uStart; u < uEnd; u++) {
            for (int64_t v = vStart; v < vEnd; v++) {
              const int64_t base = corner + (u * W + v) * C;
              for (int64_t c = 0; c < C; c++) {
                const float value = x[base + c];
                if (value > bestValue[c]) {
                  bestValue[c] = value;
                  best[c] = base + c;
                }
              }
            }
          }
          const float* grad = dy + ((b * ho + i) * wo + j) * C;
          for (int64_t c = 0; c < C; c++) dx[best[c]] += grad[c];
        }
      }
    }
  }
  return info.Env().Undefined();
}

}  // namespace fleet
