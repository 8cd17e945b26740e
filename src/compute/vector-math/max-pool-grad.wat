;; fleet's MaxPoolGrad kernel for 2x2 windows at stride 2 without padding,
;; WebAssembly SIMD, built into vector-math/gen/ by scripts/gen-wasm.mjs. It
;; runs in the imported memory of tfjs's wasm backend on NHWC float32 tensors
;; (src/compute/wasm/max-pool-grad.ts calls it). Each window's dy goes to
;; the first maximum of its 4 inputs in row-major order (a later input wins
;; only when strictly greater, as the cpu backend decides), the other three
;; get 0; 4 channels at a time. Windows do not overlap, so every dx element
;; of a covered row and column is written exactly once (an odd last row or
;; column is left to the caller). Pointers are byte offsets; C % 4 == 0.
(module
  (import "env" "memory" (memory 1))

  (func (export "maxPoolGrad2x2")
    (param $x i32) (param $dy i32) (param $dx i32) (param $images i32) (param $H i32) (param $W i32) (param $C i32)
    (local $ho i32) (local $wo i32) (local $b i32) (local $i i32) (local $j i32) (local $k i32)
    (local $pix i32) (local $row i32) (local $p00 i32) (local $p10 i32) (local $pg i32) (local $o00 i32) (local $o10 i32)
    (local $x00 v128) (local $x01 v128) (local $x10 v128) (local $x11 v128) (local $best v128) (local $g v128)
    (local $gt01 v128) (local $gt10 v128) (local $gt11 v128)
    (local.set $ho (i32.shr_u (local.get $H) (i32.const 1)))
    (local.set $wo (i32.shr_u (local.get $W) (i32.const 1)))
    (local.set $pix (i32.shl (local.get $C) (i32.const 2)))
    (local.set $row (i32.mul (local.get $W) (local.get $pix)))
    (local.set $pg (local.get $dy))
    (local.set $b (i32.const 0))
    (block $bDone
      (loop $bLoop
        (br_if $bDone (i32.ge_u (local.get $b) (local.get $images)))
        (local.set $i (i32.const 0))
        (block $iDone
          (loop $iLoop
            (br_if $iDone (i32.ge_u (local.get $i) (local.get $ho)))
            ;; byte offset of input row 2i of image b
            (local.set $p00 (i32.mul (i32.add (i32.mul (local.get $b) (local.get $H)) (i32.shl (local.get $i) (i32.const 1))) (local.get $row)))
            (local.set $j (i32.const 0))
            (block $jDone
              (loop $jLoop
                (br_if $jDone (i32.ge_u (local.get $j) (local.get $wo)))
                (local.set $o00 (i32.add (local.get $dx) (local.get $p00)))
                (local.set $o10 (i32.add (local.get $o00) (local.get $row)))
                (local.set $p10 (i32.add (i32.add (local.get $x) (local.get $p00)) (local.get $row)))
                (local.set $k (i32.const 0))
                (loop $cLoop
                  (local.set $x00 (v128.load (i32.add (i32.add (local.get $x) (local.get $p00)) (local.get $k))))
                  (local.set $x01 (v128.load (i32.add (i32.add (i32.add (local.get $x) (local.get $p00)) (local.get $pix)) (local.get $k))))
                  (local.set $x10 (v128.load (i32.add (local.get $p10) (local.get $k))))
                  (local.set $x11 (v128.load (i32.add (i32.add (local.get $p10) (local.get $pix)) (local.get $k))))
                  (local.set $g (v128.load (i32.add (local.get $pg) (local.get $k))))
                  (local.set $gt01 (f32x4.gt (local.get $x01) (local.get $x00)))
                  (local.set $best (v128.bitselect (local.get $x01) (local.get $x00) (local.get $gt01)))
                  (local.set $gt10 (f32x4.gt (local.get $x10) (local.get $best)))
                  (local.set $best (v128.bitselect (local.get $x10) (local.get $best) (local.get $gt10)))
                  (local.set $gt11 (f32x4.gt (local.get $x11) (local.get $best)))
                  ;; the winner is the last input that was strictly greater
                  (local.set $gt10 (v128.andnot (local.get $gt10) (local.get $gt11)))
                  (local.set $gt01 (v128.andnot (v128.andnot (local.get $gt01) (local.get $gt11)) (local.get $gt10)))
                  (v128.store (i32.add (local.get $o00) (local.get $k))
                    (v128.andnot (local.get $g) (v128.or (v128.or (local.get $gt01) (local.get $gt10)) (local.get $gt11))))
                  (v128.store (i32.add (i32.add (local.get $o00) (local.get $pix)) (local.get $k)) (v128.and (local.get $g) (local.get $gt01)))
                  (v128.store (i32.add (local.get $o10) (local.get $k)) (v128.and (local.get $g) (local.get $gt10)))
                  (v128.store (i32.add (i32.add (local.get $o10) (local.get $pix)) (local.get $k)) (v128.and (local.get $g) (local.get $gt11)))
                  (local.set $k (i32.add (local.get $k) (i32.const 16)))
                  (br_if $cLoop (i32.lt_u (local.get $k) (local.get $pix))))
                (local.set $pg (i32.add (local.get $pg) (local.get $pix)))
                (local.set $p00 (i32.add (local.get $p00) (i32.shl (local.get $pix) (i32.const 1))))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $jLoop)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $iLoop)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $bLoop)))))
