// fleet's oneDNN addon: synchronous kernels over Float32Arrays (views of the
// WASM heap), results written in place. Primitives are cached per shape.
#include <omp.h>

#include <string>

#include "batch-norm.h"
#include "common.h"
#include "conv.h"
#include "matmul.h"
#include "pool.h"

namespace {

// "2.6.3": major.minor.patch of the oneDNN library actually loaded.
Napi::Value Version(const Napi::CallbackInfo& info) {
  const dnnl_version_t* v = dnnl_version();
  return Napi::String::New(info.Env(),
                           std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch));
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  int n = info[0].ToNumber().Int32Value();
  if (n < 1) throw Napi::RangeError::New(info.Env(), "threads must be >= 1");
  // Primitives split their work for the thread count they were created with.
  if (n != omp_get_max_threads()) {
    fleet::clearConvCache();
    fleet::clearMatmulCache();
  }
  omp_set_num_threads(n);
  return info.Env().Undefined();
}

Napi::Value GetThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), omp_get_max_threads()); }

Napi::Value CacheSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(fleet::convCacheSize() + fleet::matmulCacheSize()));
}

Napi::Value ClearCache(const Napi::CallbackInfo& info) {
  fleet::clearConvCache();
  fleet::clearMatmulCache();
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("version", Napi::Function::New(env, Version));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("getThreads", Napi::Function::New(env, GetThreads));
  exports.Set("cacheSize", Napi::Function::New(env, CacheSize));
  exports.Set("clearCache", Napi::Function::New(env, ClearCache));
  exports.Set("conv2dForward", Napi::Function::New(env, fleet::Conv2dForward));
  exports.Set("conv2dBackwardData", Napi::Function::New(env, fleet::Conv2dBackwardData));
  exports.Set("conv2dBackwardWeights", Napi::Function::New(env, fleet::Conv2dBackwardWeights));
  exports.Set("matmul", Napi::Function::New(env, fleet::Matmul));
  exports.Set("maxPoolGrad", Napi::Function::New(env, fleet::MaxPoolGrad));
  exports.Set("batchNormApply", Napi::Function::New(env, fleet::BatchNormApply));
  return exports;
}

}  // namespace

NODE_API_MODULE(fleet_onednn, Init)
