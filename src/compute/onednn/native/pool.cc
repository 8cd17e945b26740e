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

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "common.h"

namespace fleet {

namespace {

// One window's dy to the first maximum of each of its channels [c0, c1):
// the window maximum first, then a pass that writes every dx element once.
// Branch-free: on real activations "is this the maximum" is a coin flip.
inline void tileChannels(const float* x, const float* grad, float* dx, const int64_t* offsets, int64_t positions, int64_t c0,
                         int64_t c1) {
  int64_t c = c0;
#ifdef __SSE2__
  for (; c + 4 <= c1; c += 4) {
    __m128 m = _mm_loadu_ps(x + offsets[0] + c);
    for (int64_t p = 1; p < positions; p++) m = _mm_max_ps(_mm_loadu_ps(x + offsets[p] + c), m);
    const __m128 g = _mm_loadu_ps(grad + c);
    __m128 taken = _mm_setzero_ps();
    for (int64_t p = 0; p < positions; p++) {
      const __m128 hit = _mm_cmpeq_ps(_mm_loadu_ps(x + offsets[p] + c), m);
      _mm_storeu_ps(dx + offsets[p] + c, _mm_and_ps(_mm_andnot_ps(taken, hit), g));
      taken = _mm_or_ps(taken, hit);
    }
  }
#endif
  for (; c < c1; c++) {
    float m = x[offsets[0] + c];
    for (int64_t p = 1; p < positions; p++) m = x[offsets[p] + c] > m ? x[offsets[p] + c] : m;
    bool taken = false;
    for (int64_t p = 0; p < positions; p++) {
      const bool hit = !taken && x[offsets[p] + c] == m;
      dx[offsets[p] + c] = hit ? grad[c] : 0.f;
      taken = taken || hit;
    }
  }
}

// Windows that tile the input exactly (2x2 stride 2 without padding, the
// common case): no zero fill and no scatter.
void tiledWindows(const float* x, const float* dy, float* dx, int64_t B, int64_t H, int64_t W, int64_t C, int64_t f) {
  const int64_t ho = H / f, wo = W / f;
  std::vector<int64_t> offsets(f * f);
  for (int64_t p = 0; p < f * f; p++) offsets[p] = ((p / f) * W + p % f) * C;
#pragma omp parallel for
  for (int64_t b = 0; b < B; b++) {
    for (int64_t i = 0; i < ho; i++) {
      for (int64_t j = 0; j < wo; j++) {
        const int64_t corner = ((b * H + i * f) * W + j * f) * C;
        tileChannels(x + corner, dy + ((b * ho + i) * wo + j) * C, dx + corner, offsets.data(), f * f, 0, C);
      }
    }
  }
}

}  // namespace

Napi::Value MaxPoolGrad(const Napi::CallbackInfo& info) {
  const float* x = floatData(info[0], "x");
  const float* dy = floatData(info[1], "dy");
  float* dx = floatData(info[2], "dx");
  auto g = intArgs(info[3], 12, "geometry");
  const int64_t B = g[0], H = g[1], W = g[2], C = g[3], ho = g[4], wo = g[5];
  const int64_t fh = g[6], fw = g[7], sh = g[8], sw = g[9], pt = g[10], pl = g[11];
  if (fh == fw && sh == fh && sw == fh && pt == 0 && pl == 0 && ho * fh == H && wo * fw == W) {
    tiledWindows(x, dy, dx, B, H, W, C, fh);
    return info.Env().Undefined();
  }
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
                const bool greater = value > bestValue[c];
                bestValue[c] = greater ? value : bestValue[c];
                best[c] = greater ? base + c : best[c];
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
