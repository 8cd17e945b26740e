// 2-D convolutions over NHWC activations and HWIO filters (tfjs's layouts).
// Geometry, an Int32Array of 17: batch, inH, inW, inC, outH, outW, outC,
// kH, kW, strideH, strideW, padTop, padLeft, padBottom, padRight,
// dilationH, dilationW (tfjs convention: 1 = no dilation).
#include "conv.h"

#include <memory>
#include <unordered_map>

#include "common.h"

namespace fleet {
namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

constexpr size_t kGeomLength = 17;

struct Geometry {
  memory::dim n, h, w, ci, ho, wo, co, kh, kw;
  memory::dims strides, dilates, padL, padR;

  explicit Geometry(const std::vector<int32_t>& g)
      : n(g[0]), h(g[1]), w(g[2]), ci(g[3]), ho(g[4]), wo(g[5]), co(g[6]), kh(g[7]), kw(g[8]),
        strides{g[9], g[10]}, dilates{g[15] - 1, g[16] - 1}, padL{g[11], g[12]}, padR{g[13], g[14]} {}

  memory::dims srcDims() const { return {n, ci, h, w}; }
  memory::dims weightsDims() const { return {co, ci, kh, kw}; }
  memory::dims dstDims() const { return {n, co, ho, wo}; }
};

struct Descs {
  memory::desc src, weights, dst;  // plain, what the caller hands over
  memory::desc srcP, weightsP, dstP;  // what the primitive descriptor is asked for
};

Descs descsFor(const Geometry& g, Layout layout) {
  Descs d;
  d.src = memory::desc(g.srcDims(), dt::f32, tag::nhwc);
  d.weights = memory::desc(g.weightsDims(), dt::f32, tag::hwio);
  d.dst = memory::desc(g.dstDims(), dt::f32, tag::nhwc);
  bool blocked = layout == Layout::Blocked || layout == Layout::Auto;
  d.srcP = blocked ? memory::desc(g.srcDims(), dt::f32, tag::any) : d.src;
  d.weightsP = layout == Layout::Plain ? d.weights : memory::desc(g.weightsDims(), dt::f32, tag::any);
  d.dstP = blocked ? memory::desc(g.dstDims(), dt::f32, tag::any) : d.dst;
  return d;
}

dnnl::algorithm algo(Layout layout) {
  return layout == Layout::Auto ? dnnl::algorithm::convolution_auto : dnnl::algorithm::convolution_direct;
}

dnnl::convolution_forward::primitive_desc forwardHint(const Geometry& g, const Descs& d, Layout layout) {
  dnnl::convolution_forward::desc fd(dnnl::prop_kind::forward_training, algo(layout), d.srcP,
                                     d.weightsP, d.dstP, g.strides, g.dilates, g.padL, g.padR);
  return dnnl::convolution_forward::primitive_desc(fd, cpuEngine());
}

struct ForwardEntry {
  bool winograd = false;
  dnnl::convolution_forward prim;
  Staged src, weights, dst;
  bool hasBias = false;
  memory bias;
};

struct BackwardDataEntry {
  bool winograd = false;
  dnnl::convolution_backward_data prim;
  Staged diffDst, weights, diffSrc;
};

struct BackwardWeightsEntry {
  bool winograd = false;
  dnnl::convolution_backward_weights prim;
  Staged src, diffDst, diffWeights;
};

std::unordered_map<std::string, std::unique_ptr<ForwardEntry>> forwardCache;
std::unordered_map<std::string, std::unique_ptr<BackwardDataEntry>> backwardDataCache;
std::unordered_map<std::string, std::unique_ptr<BackwardWeightsEntry>> backwardWeightsCache;

Layout layoutArg(const Napi::Value& v) {
  int32_t code = v.ToNumber().Int32Value();
  return code == 1 ? Layout::Blocked : code == 2 ? Layout::Mixed : code == 3 ? Layout::Auto : Layout::Plain;
}

std::string cacheKey(std::vector<int32_t> g, std::initializer_list<int32_t> extra) {
  g.insert(g.end(), extra);
  return keyOf(g);
}

bool isWinograd(const dnnl::primitive_desc_base& pd) {
  return std::string(pd.impl_info_str()).find("wino") != std::string::npos;
}

std::unique_ptr<ForwardEntry> makeForward(const std::vector<int32_t>& gi, bool hasBias, bool relu, Layout layout) {
  Geometry g(gi);
  Descs d = descsFor(g, layout);
  memory::desc biasDesc({g.co}, dt::f32, tag::a);
  auto fd = hasBias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training,
                                                       algo(layout), d.srcP, d.weightsP,
                                                       biasDesc, d.dstP, g.strides, g.dilates, g.padL, g.padR)
                    : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training,
                                                       algo(layout), d.srcP, d.weightsP,
                                                       d.dstP, g.strides, g.dilates, g.padL, g.padR);
  dnnl::convolution_forward::primitive_desc pd(fd, reluAttr(relu), cpuEngine());
  auto entry = std::make_unique<ForwardEntry>();
  entry->prim = dnnl::convolution_forward(pd);
  entry->src = Staged(d.src, pd.src_desc(), true, 0);
  entry->weights = Staged(d.weights, pd.weights_desc(), true, 1);
  entry->dst = Staged(d.dst, pd.dst_desc(), false, 2);
  entry->hasBias = hasBias;
  if (hasBias) entry->bias = memory(biasDesc, cpuEngine(), DNNL_MEMORY_NONE);
  entry->winograd = isWinograd(pd);
  return entry;
}

// Layout::Auto keeps oneDNN's choice only when it is Winograd: its blocked
// direct kernels (AVX2 machines, small batches) are slower than Mixed.
template <typename Entry, typename Make>
Entry& cached(std::unordered_map<std::string, std::unique_ptr<Entry>>& cache, const std::string& key, Layout layout,
              Make make) {
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;
  std::unique_ptr<Entry> entry = make(layout);
  if (layout == Layout::Auto && !entry->winograd) entry = make(Layout::Mixed);
  return *cache.emplace(key, std::move(entry)).first->second;
}

ForwardEntry& forwardEntry(const std::vector<int32_t>& gi, bool hasBias, bool relu, Layout layout) {
  return cached(forwardCache, cacheKey(gi, {hasBias, relu, static_cast<int32_t>(layout)}), layout,
                [&](Layout l) { return makeForward(gi, hasBias, relu, l); });
}

std::unique_ptr<BackwardDataEntry> makeBackwardData(const std::vector<int32_t>& gi, Layout layout) {
  Geometry g(gi);
  Descs d = descsFor(g, layout);
  dnnl::convolution_backward_data::desc bd(algo(layout), d.srcP, d.weightsP, d.dstP, g.strides,
                                           g.dilates, g.padL, g.padR);
  dnnl::convolution_backward_data::primitive_desc pd(bd, cpuEngine(), forwardHint(g, d, layout));
  auto entry = std::make_unique<BackwardDataEntry>();
  entry->prim = dnnl::convolution_backward_data(pd);
  entry->diffDst = Staged(d.dst, pd.diff_dst_desc(), true, 0);
  entry->weights = Staged(d.weights, pd.weights_desc(), true, 1);
  entry->diffSrc = Staged(d.src, pd.diff_src_desc(), false, 2);
  entry->winograd = isWinograd(pd);
  return entry;
}

BackwardDataEntry& backwardDataEntry(const std::vector<int32_t>& gi, Layout layout) {
  return cached(backwardDataCache, cacheKey(gi, {static_cast<int32_t>(layout)}), layout,
                [&](Layout l) { return makeBackwardData(gi, l); });
}

std::unique_ptr<BackwardWeightsEntry> makeBackwardWeights(const std::vector<int32_t>& gi, Layout layout) {
  Geometry g(gi);
  Descs d = descsFor(g, layout);
  dnnl::convolution_backward_weights::desc wd(algo(layout), d.srcP, d.weightsP, d.dstP,
                                              g.strides, g.dilates, g.padL, g.padR);
  dnnl::convolution_backward_weights::primitive_desc pd(wd, cpuEngine(), forwardHint(g, d, layout));
  auto entry = std::make_unique<BackwardWeightsEntry>();
  entry->prim = dnnl::convolution_backward_weights(pd);
  entry->src = Staged(d.src, pd.src_desc(), true, 0);
  entry->diffDst = Staged(d.dst, pd.diff_dst_desc(), true, 1);
  entry->diffWeights = Staged(d.weights, pd.diff_weights_desc(), false, 2);
  entry->winograd = isWinograd(pd);
  return entry;
}

BackwardWeightsEntry& backwardWeightsEntry(const std::vector<int32_t>& gi, Layout layout) {
  return cached(backwardWeightsCache, cacheKey(gi, {static_cast<int32_t>(layout)}), layout,
                [&](Layout l) { return makeBackwardWeights(gi, l); });
}

template <typename F>
Napi::Value guarded(const Napi::CallbackInfo& info, const char* op, F f) {
  try {
    f();
  } catch (const dnnl::error& e) {
    throw Napi::Error::New(info.Env(), std::string("oneDNN ") + op + ": " + e.what());
  }
  return info.Env().Undefined();
}

}  // namespace

Napi::Value Conv2dForward(const Napi::CallbackInfo& info) {
  float* x = floatData(info[0], "x");
  float* w = floatData(info[1], "w");
  float* bias = optionalFloatData(info[2], "bias");
  float* y = floatData(info[3], "y");
  auto g = intArgs(info[4], kGeomLength, "geometry");
  bool relu = info[5].ToBoolean();
  Layout layout = layoutArg(info[6]);
  return guarded(info, "conv2d forward", [&] {
    ForwardEntry& e = forwardEntry(g, bias != nullptr, relu, layout);
    e.src.bind(x);
    e.weights.bind(w);
    e.dst.bind(y);
    e.src.in();
    e.weights.in();
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, e.src.inner}, {DNNL_ARG_WEIGHTS, e.weights.inner}, {DNNL_ARG_DST, e.dst.inner}};
    if (e.hasBias) {
      e.bias.set_data_handle(bias);
      args.emplace(DNNL_ARG_BIAS, e.bias);
    }
    e.prim.execute(cpuStream(), args);
    e.dst.out();
    cpuStream().wait();
  });
}

Napi::Value Conv2dBackwardData(const Napi::CallbackInfo& info) {
  float* dy = floatData(info[0], "dy");
  float* w = floatData(info[1], "w");
  float* dx = floatData(info[2], "dx");
  auto g = intArgs(info[3], kGeomLength, "geometry");
  Layout layout = layoutArg(info[4]);
  return guarded(info, "conv2d backward data", [&] {
    BackwardDataEntry& e = backwardDataEntry(g, layout);
    e.diffDst.bind(dy);
    e.weights.bind(w);
    e.diffSrc.bind(dx);
    e.diffDst.in();
    e.weights.in();
    e.prim.execute(cpuStream(), {{DNNL_ARG_DIFF_DST, e.diffDst.inner},
                                 {DNNL_ARG_WEIGHTS, e.weights.inner},
                                 {DNNL_ARG_DIFF_SRC, e.diffSrc.inner}});
    e.diffSrc.out();
    cpuStream().wait();
  });
}

Napi::Value Conv2dBackwardWeights(const Napi::CallbackInfo& info) {
  float* x = floatData(info[0], "x");
  float* dy = floatData(info[1], "dy");
  float* dw = floatData(info[2], "dw");
  auto g = intArgs(info[3], kGeomLength, "geometry");
  Layout layout = layoutArg(info[4]);
  return guarded(info, "conv2d backward weights", [&] {
    BackwardWeightsEntry& e = backwardWeightsEntry(g, layout);
    e.src.bind(x);
    e.diffDst.bind(dy);
    e.diffWeights.bind(dw);
    e.src.in();
    e.diffDst.in();
    e.prim.execute(cpuStream(), {{DNNL_ARG_SRC, e.src.inner},
                                 {DNNL_ARG_DIFF_DST, e.diffDst.inner},
                                 {DNNL_ARG_DIFF_WEIGHTS, e.diffWeights.inner}});
    e.diffWeights.out();
    cpuStream().wait();
  });
}

void clearConvCache() {
  forwardCache.clear();
  backwardDataCache.clear();
  backwardWeightsCache.clear();
}

size_t convCacheSize() { return forwardCache.size() + backwardDataCache.size() + backwardWeightsCache.size(); }

}  // namespace fleet
