// Batched matrix products c[b] = op(a[b]) x op(b[b]) (+ bias) (relu), row-major.
// Geometry, an Int32Array of 7: batchA, batchB, M, K, N, transposeA, transposeB.
// A batch of 1 broadcasts against the other operand's batch. The transposes are
// strides of the memory descriptors, so no operand is copied.
#include "matmul.h"

#include <algorithm>
#include <memory>
#include <unordered_map>

#include "common.h"

namespace fleet {
namespace {

using dnnl::memory;
using dt = memory::data_type;

struct MatmulEntry {
  dnnl::matmul prim;
  memory a, b, c, bias;
  bool hasBias = false;
};

std::unordered_map<std::string, std::unique_ptr<MatmulEntry>> cache;

MatmulEntry& entryFor(const std::vector<int32_t>& gi, bool hasBias, bool relu) {
  std::vector<int32_t> keyInts = gi;
  keyInts.push_back(hasBias);
  keyInts.push_back(relu);
  std::string key = keyOf(keyInts);
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;

  memory::dim batchA = gi[0], batchB = gi[1], m = gi[2], k = gi[3], n = gi[4];
  bool transA = gi[5] != 0, transB = gi[6] != 0;
  memory::dim batch = std::max(batchA, batchB);
  memory::desc aDesc({batchA, m, k}, dt::f32, transA ? memory::dims{m * k, 1, m} : memory::dims{m * k, k, 1});
  memory::desc bDesc({batchB, k, n}, dt::f32, transB ? memory::dims{k * n, 1, k} : memory::dims{k * n, n, 1});
  memory::desc cDesc({batch, m, n}, dt::f32, memory::dims{m * n, n, 1});
  memory::desc biasDesc({1, 1, n}, dt::f32, memory::dims{n, n, 1});
  auto d = hasBias ? dnnl::matmul::desc(aDesc, bDesc, biasDesc, cDesc) : dnnl::matmul::desc(aDesc, bDesc, cDesc);
  dnnl::matmul::primitive_desc pd(d, reluAttr(relu), cpuEngine());
  auto entry = std::make_unique<MatmulEntry>();
  entry->prim = dnnl::matmul(pd);
  entry->a = memory(aDesc, cpuEngine(), DNNL_MEMORY_NONE);
  entry->b = memory(bDesc, cpuEngine(), DNNL_MEMORY_NONE);
  entry->c = memory(cDesc, cpuEngine(), DNNL_MEMORY_NONE);
  entry->hasBias = hasBias;
  if (hasBias) entry->bias = memory(biasDesc, cpuEngine(), DNNL_MEMORY_NONE);
  return *cache.emplace(key, std::move(entry)).first->second;
}

}  // namespace

Napi::Value Matmul(const Napi::CallbackInfo& info) {
  float* a = floatData(info[0], "a");
  float* b = floatData(info[1], "b");
  float* bias = optionalFloatData(info[2], "bias");
  float* c = floatData(info[3], "c");
  auto g = intArgs(info[4], 7, "geometry");
  bool relu = info[5].ToBoolean();
  try {
    MatmulEntry& e = entryFor(g, bias != nullptr, relu);
    e.a.set_data_handle(a);
    e.b.set_data_handle(b);
    e.c.set_data_handle(c);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, e.a}, {DNNL_ARG_WEIGHTS, e.b}, {DNNL_ARG_DST, e.c}};
    if (e.hasBias) {
      e.bias.set_data_handle(bias);
      args.emplace(DNNL_ARG_BIAS, e.bias);
    }
    e.prim.execute(cpuStream(), args);
    cpuStream().wait();
  } catch (const dnnl::error& err) {
    throw Napi::Error::New(info.Env(), std::string("oneDNN matmul: ") + err.what());
  }
  return info.Env().Undefined();
}

void clearMatmulCache() { cache.clear(); }

size_t matmulCacheSize() { return cache.size(); }

}  // namespace fleet
