#include "common.h"

#include <cstdlib>
#include <memory>
#include <new>

namespace fleet {

dnnl::engine& cpuEngine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& cpuStream() {
  static dnnl::stream stream(cpuEngine());
  return stream;
}

float* floatData(const Napi::Value& v, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw Napi::TypeError::New(v.Env(), std::string(what) + " must be a Float32Array");
  }
  return v.As<Napi::Float32Array>().Data();
}

float* optionalFloatData(const Napi::Value& v, const char* what) {
  if (v.IsUndefined() || v.IsNull()) return nullptr;
  return floatData(v, what);
}

std::vector<int32_t> intArgs(const Napi::Value& v, size_t count, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
      v.As<Napi::Int32Array>().ElementLength() != count) {
    throw Napi::TypeError::New(v.Env(), std::string(what) + " must be an Int32Array of " + std::to_string(count));
  }
  auto a = v.As<Napi::Int32Array>();
  return std::vector<int32_t>(a.Data(), a.Data() + count);
}

std::string keyOf(const std::vector<int32_t>& ints) {
  std::string key;
  key.reserve(ints.size() * 4);
  for (int32_t i : ints) {
    key += std::to_string(i);
    key += ',';
  }
  return key;
}

dnnl::primitive_attr reluAttr(bool relu) {
  dnnl::primitive_attr attr;
  if (relu) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    attr.set_post_ops(ops);
  }
  return attr;
}

namespace {
struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
struct ScratchBuffer {
  std::unique_ptr<void, FreeDeleter> data;
  size_t bytes = 0;
};
}  // namespace

void* scratch(int slot, size_t bytes) {
  static ScratchBuffer buffers[3];
  ScratchBuffer& b = buffers[slot];
  if (b.bytes < bytes) {
    // 64-byte alignment for the vector kernels; sizes rounded up as aligned_alloc requires.
    size_t rounded = (bytes + 63) / 64 * 64;
    b.data.reset();
    b.data.reset(std::aligned_alloc(64, rounded));
    if (!b.data) throw std::bad_alloc();
    b.bytes = rounded;
  }
  return b.data.get();
}

Staged::Staged(const dnnl::memory::desc& userDesc, const dnnl::memory::desc& innerDesc, bool input, int slot)
    : user(userDesc, cpuEngine(), DNNL_MEMORY_NONE), slot(slot) {
  reorder = userDesc != innerDesc;
  if (!reorder) {
    inner = user;
    return;
  }
  inner = dnnl::memory(innerDesc, cpuEngine(), DNNL_MEMORY_NONE);
  if (input) {
    toInner = dnnl::reorder(user, inner);
  } else {
    toUser = dnnl::reorder(inner, user);
  }
}

void Staged::bind(float* data) {
  user.set_data_handle(data);
  if (reorder) inner.set_data_handle(scratch(slot, inner.get_desc().get_size()));
}

void Staged::in() {
  if (reorder) toInner.execute(cpuStream(), user, inner);
}

void Staged::out() {
  if (reorder) toUser.execute(cpuStream(), inner, user);
}

}  // namespace fleet
