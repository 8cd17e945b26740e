;; fleet's convolution input-gradient kernel, WebAssembly SIMD (f32x4),
;; built into vector-math/gen/ by scripts/gen-wasm.mjs. It runs in the
;; imported memory of tfjs's wasm backend (src/compute/wasm/
;; input-grad-simd.ts lays the operands out and calls it):
;;
;;   dx[b, h, w, c] = sum over taps u, k of dyp[b, h + u, w, k] * wp[c / 8, u, k, c % 8]
;;
;; dyp is dy zero-padded (and spread by the stride) so the gradient is a
;; stride-1 'valid' correlation; k = v*co + o runs over the kw*co floats
;; from column w, so each tap row u is a matrix product with k as its inner
;; dimension. wp is the filter flipped in space, in panels of 8 input
;; channels ([c / 8][u][k][8]). A tile of 4 pixels of a row by 8 channels
;; stays in registers over all kh*kw*co products: per k 4 broadcast loads
;; of dy, 2 vector loads of wp, 8 multiplies and 8 adds (the largest tile
;; V8 keeps in its vector registers). Each tile is written once; the last
;; tile of a row starts at W - 4 (W >= 4), recomputing a few pixels.
;; Byte strides: dyp's imageStride, rowStride and pixel (co*4); dx pixels
;; hold ciP floats, a multiple of 8.
(module
  (import "env" "memory" (memory 1))

  (func (export "tile4x8")
    (param $dyp i32) (param $wp i32) (param $dx i32) (param $images i32) (param $H i32) (param $W i32)
    (param $kh i32) (param $kk i32) (param $ciP i32) (param $imageStride i32) (param $rowStride i32) (param $pixel i32)
    (local $n i32) (local $b i32) (local $h i32) (local $w i32) (local $u i32) (local $panel i32) (local $q i32)
    (local $row i32) (local $p0 i32) (local $p1 i32) (local $p2 i32) (local $p3 i32) (local $kEnd i32) (local $o i32) (local $dxPix i32) (local $last i32)
    (local $a v128) (local $b0 v128) (local $b1 v128)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128) (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local.set $dxPix (i32.shl (local.get $ciP) (i32.const 2)))
    (local.set $last (i32.sub (local.get $W) (i32.const 4)))
    (local.set $n (i32.const 0))
    (loop $nLoop
      ;; panel = wp + n*kh*kk*4 (each panel holds kh*kk*8 floats)
      (local.set $panel (i32.add (local.get $wp) (i32.shl (i32.mul (i32.mul (local.get $n) (local.get $kh)) (local.get $kk)) (i32.const 2))))
      (local.set $b (i32.const 0))
      (loop $bLoop
        (local.set $h (i32.const 0))
        (loop $hLoop
          (local.set $row (i32.add (i32.add (local.get $dyp) (i32.mul (local.get $b) (local.get $imageStride))) (i32.mul (local.get $h) (local.get $rowStride))))
          (local.set $w (i32.const 0))
          (loop $wLoop
            (if (i32.gt_s (local.get $w) (local.get $last)) (then (local.set $w (local.get $last))))
            (local.set $c00 (v128.const i32x4 0 0 0 0))
            (local.set $c01 (v128.const i32x4 0 0 0 0))
            (local.set $c10 (v128.const i32x4 0 0 0 0))
            (local.set $c11 (v128.const i32x4 0 0 0 0))
            (local.set $c20 (v128.const i32x4 0 0 0 0))
            (local.set $c21 (v128.const i32x4 0 0 0 0))
            (local.set $c30 (v128.const i32x4 0 0 0 0))
            (local.set $c31 (v128.const i32x4 0 0 0 0))
            (local.set $q (local.get $panel))
            (local.set $u (i32.const 0))
            (loop $uLoop
              (local.set $p0 (i32.add (i32.add (local.get $row) (i32.mul (local.get $u) (local.get $rowStride))) (i32.mul (local.get $w) (local.get $pixel))))
              (local.set $p1 (i32.add (local.get $p0) (local.get $pixel)))
              (local.set $p2 (i32.add (local.get $p1) (local.get $pixel)))
              (local.set $p3 (i32.add (local.get $p2) (local.get $pixel)))
              (local.set $kEnd (i32.add (local.get $p0) (i32.shl (local.get $kk) (i32.const 2))))
              (loop $kLoop
                (local.set $b0 (v128.load (local.get $q)))
                (local.set $b1 (v128.load offset=16 (local.get $q)))
                (local.set $a (v128.load32_splat (local.get $p0)))
                (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $a) (local.get $b0))))
                (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $a) (local.get $b1))))
                (local.set $a (v128.load32_splat (local.get $p1)))
                (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $a) (local.get $b0))))
                (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $a) (local.get $b1))))
                (local.set $a (v128.load32_splat (local.get $p2)))
                (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $a) (local.get $b0))))
                (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $a) (local.get $b1))))
                (local.set $a (v128.load32_splat (local.get $p3)))
                (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $a) (local.get $b0))))
                (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $a) (local.get $b1))))
                (local.set $q (i32.add (local.get $q) (i32.const 32)))
                (local.set $p1 (i32.add (local.get $p1) (i32.const 4)))
                (local.set $p2 (i32.add (local.get $p2) (i32.const 4)))
                (local.set $p3 (i32.add (local.get $p3) (i32.const 4)))
                (local.set $p0 (i32.add (local.get $p0) (i32.const 4)))
                (br_if $kLoop (i32.lt_u (local.get $p0) (local.get $kEnd))))
              (local.set $u (i32.add (local.get $u) (i32.const 1)))
              (br_if $uLoop (i32.lt_u (local.get $u) (local.get $kh))))
            ;; o = dx + (((b*H + h)*W + w)*ciP + n)*4
            (local.set $o (i32.add (local.get $dx) (i32.shl (i32.add (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $H)) (local.get $h)) (local.get $W)) (local.get $w)) (local.get $ciP)) (local.get $n)) (i32.const 2))))
            (v128.store offset=0 (local.get $o) (local.get $c00))
            (v128.store offset=16 (local.get $o) (local.get $c01))
            (v128.store offset=0 (i32.add (local.get $o) (i32.mul (local.get $dxPix) (i32.const 1))) (local.get $c10))
            (v128.store offset=16 (i32.add (local.get $o) (i32.mul (local.get $dxPix) (i32.const 1))) (local.get $c11))
            (v128.store offset=0 (i32.add (local.get $o) (i32.mul (local.get $dxPix) (i32.const 2))) (local.get $c20))
            (v128.store offset=16 (i32.add (local.get $o) (i32.mul (local.get $dxPix) (i32.const 2))) (local.get $c21))
            (v128.store offset=0 (i32.add (local.get $o) (i32.mul (local.get $dxPix) (i32.const 3))) (local.get $c30))
            (v128.store offset=16 (i32.add (local.get $o) (i32.mul (local.get $dxPix) (i32.const 3))) (local.get $c31))
            (local.set $w (i32.add (local.get $w) (i32.const 4)))
            (br_if $wLoop (i32.lt_u (local.get $w) (local.get $W))))
          (local.set $h (i32.add (local.get $h) (i32.const 1)))
          (br_if $hLoop (i32.lt_u (local.get $h) (local.get $H))))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br_if $bLoop (i32.lt_u (local.get $b) (local.get $images))))
      (local.set $n (i32.add (local.get $n) (i32.const 8)))
      (br_if $nLoop (i32.lt_u (local.get $n) (local.get $ciP)))))
)
