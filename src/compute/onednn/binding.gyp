{
  "targets": [
    {
      "target_name": "fleet_onednn",
      "sources": ["native/addon.cc", "native/common.cc", "native/conv.cc", "native/matmul.cc", "native/pool.cc", "native/batch-norm.cc"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc": ["-std=c++17", "-fopenmp"],
      "libraries": ["-ldnnl", "-fopenmp"]
    }
  ]
}
