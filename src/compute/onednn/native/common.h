// Shared pieces of the oneDNN addon: the CPU engine and stream, argument
// readers, and the layout choice each primitive is built with.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

namespace fleet {

dnnl::engine& cpuEngine();
dnnl::stream& cpuStream();

// Plain: oneDNN reads and writes the caller's NHWC/HWIO buffers directly.
// Blocked: the primitive picks its own layouts (format_tag::any) and each call
// reorders inputs in and outputs out through buffers kept with the primitive.
// Mixed: activations stay NHWC, only the filter takes oneDNN's blocked layout
// (so only the small filter is reordered per call).
// Auto: every layout and the algorithm (convolution_auto) left to oneDNN,
// which picks Winograd for large enough 3x3 stride-1 problems on AVX-512;
// where it does not, Mixed.
enum class Layout : int32_t { Plain = 0, Blocked = 1, Mixed = 2, Auto = 3 };

float* floatData(const Napi::Value& v, const char* what);
// Null for undefined/null, else the array's data.
float* optionalFloatData(const Napi::Value& v, const char* what);
std::vector<int32_t> intArgs(const Napi::Value& v, size_t count, const char* what);
std::string keyOf(const std::vector<int32_t>& ints);
// Attributes with a fused relu post-op when `relu`, else none.
dnnl::primitive_attr reluAttr(bool relu);

// Scratch buffer `slot` (0..2) of at least `bytes`, shared by every primitive:
// calls run one at a time, so one set of buffers serves all cached shapes.
void* scratch(int slot, size_t bytes);

// Reorders between a caller buffer (plain desc) and a primitive's desc when they
// differ, through scratch buffer `slot`; otherwise the primitive works on the
// caller buffer itself.
struct Staged {
  dnnl::memory user;      // handle set per call
  dnnl::memory inner;     // what the primitive reads/writes (== user when same desc)
  bool reorder = false;
  int slot = 0;
  dnnl::reorder toInner;  // user -> inner
  dnnl::reorder toUser;   // inner -> user

  Staged() = default;
  Staged(const dnnl::memory::desc& userDesc, const dnnl::memory::desc& innerDesc, bool input, int slot);
  void bind(float* data);
  void in();
  void out();
};

}  // namespace fleet
