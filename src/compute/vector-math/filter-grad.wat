;; fleet's filter-gradient kernel, WebAssembly SIMD (f32x4), built into
;; vector-math/gen/ by scripts/gen-wasm.mjs. It runs in the imported memory
;; of tfjs's wasm backend, on its tensors in place (src/compute/wasm/
;; filter-grad-simd.ts lays them out and calls it):
;;
;;   dW[u, m, co] += sum over pixel rows r, columns j of
;;                   xp[r / ho, (r % ho)*sh + u, j*sw, m] * dy[r, j, co]
;;
;; xp is x zero-padded so every tap is in bounds; m = v*ci + c runs over the
;; kw*ci floats that start at column j*sw, so each tap row u of dW is a
;; matrix product whose inner dimension is the pixels. A tile of 4 values
;; of m by 8 output channels stays in registers over the rows [r0, r1): per
;; pixel 4 broadcast loads of x, 2 vector loads of dy, 8 multiplies and 8
;; adds (4x8 is the largest tile V8 keeps in its 15 vector registers: it
;; hoists every load of a step, and a 6x8 tile spilled). Tiles are read
;; from out and added back, so blocks of rows accumulate in a fixed order.
;; The caller picks the rows and the channels [n0, n1) so that the block's
;; dy and the x lines one tile reads stay in L1 across the tiles.
;; Byte strides: imageStride and rowStride of xp, colStep = sw*ci*4.
;; mP is a multiple of 4, n0, n1 and coP of 8; dy rows hold coP floats.
(module
  (import "env" "memory" (memory 1))

  (func (export "tile4x8")
    (param $x i32) (param $dy i32) (param $out i32) (param $r0 i32) (param $r1 i32) (param $ho i32) (param $wo i32)
    (param $kh i32) (param $mP i32) (param $coP i32) (param $n0 i32) (param $n1 i32)
    (param $imageStride i32) (param $rowStride i32) (param $sh i32) (param $colStep i32)
    (local $u i32) (local $m i32) (local $n i32) (local $o i32) (local $r i32) (local $i i32) (local $i0 i32) (local $xStart i32)
    (local $xRow i32) (local $xp i32) (local $dyp i32) (local $rowEnd i32) (local $pixStep i32) (local $rowStep i32) (local $wrap i32)
    (local $a v128) (local $b0 v128) (local $b1 v128)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128) (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local.set $pixStep (i32.shl (local.get $coP) (i32.const 2)))
    (local.set $rowStep (i32.mul (local.get $sh) (local.get $rowStride)))
    ;; From the last row of an image to the first of the next.
    (local.set $wrap (i32.sub (local.get $imageStride) (i32.mul (local.get $ho) (local.get $rowStep))))
    (local.set $i0 (i32.rem_u (local.get $r0) (local.get $ho)))
    ;; xp address of row r0's first pixel (tap 0, m 0)
    (local.set $xStart (i32.add (local.get $x) (i32.add
      (i32.mul (i32.div_u (local.get $r0) (local.get $ho)) (local.get $imageStride))
      (i32.mul (local.get $i0) (local.get $rowStep)))))
    (local.set $u (i32.const 0))
    (loop $uLoop
      (local.set $m (i32.const 0))
      (loop $mLoop
        (local.set $n (local.get $n0))
        (loop $nLoop
          ;; o = out + ((u*mP + m)*coP + n)*4
          (local.set $o (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (i32.add (i32.mul (local.get $u) (local.get $mP)) (local.get $m)) (local.get $coP)) (local.get $n)) (i32.const 2))))
          (local.set $c00 (v128.load offset=0 (local.get $o)))
          (local.set $c01 (v128.load offset=16 (local.get $o)))
          (local.set $c10 (v128.load offset=0 (i32.add (local.get $o) (i32.mul (local.get $pixStep) (i32.const 1)))))
          (local.set $c11 (v128.load offset=16 (i32.add (local.get $o) (i32.mul (local.get $pixStep) (i32.const 1)))))
          (local.set $c20 (v128.load offset=0 (i32.add (local.get $o) (i32.mul (local.get $pixStep) (i32.const 2)))))
          (local.set $c21 (v128.load offset=16 (i32.add (local.get $o) (i32.mul (local.get $pixStep) (i32.const 2)))))
          (local.set $c30 (v128.load offset=0 (i32.add (local.get $o) (i32.mul (local.get $pixStep) (i32.const 3)))))
          (local.set $c31 (v128.load offset=16 (i32.add (local.get $o) (i32.mul (local.get $pixStep) (i32.const 3)))))
          (local.set $dyp (i32.add (local.get $dy) (i32.shl (i32.add (i32.mul (i32.mul (local.get $r0) (local.get $wo)) (local.get $coP)) (local.get $n)) (i32.const 2))))
          (local.set $xRow (i32.add (i32.add (local.get $xStart) (i32.mul (local.get $u) (local.get $rowStride))) (i32.shl (local.get $m) (i32.const 2))))
          (local.set $i (local.get $i0))
          (local.set $r (local.get $r0))
          (loop $rLoop
            (local.set $xp (local.get $xRow))
            (local.set $rowEnd (i32.add (local.get $dyp) (i32.mul (local.get $wo) (local.get $pixStep))))
            (loop $jLoop
              (local.set $b0 (v128.load (local.get $dyp)))
              (local.set $b1 (v128.load offset=16 (local.get $dyp)))
              (local.set $a (v128.load32_splat offset=0 (local.get $xp)))
              (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $a) (local.get $b0))))
              (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $a) (local.get $b1))))
              (local.set $a (v128.load32_splat offset=4 (local.get $xp)))
              (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $a) (local.get $b0))))
              (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $a) (local.get $b1))))
              (local.set $a (v128.load32_splat offset=8 (local.get $xp)))
              (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $a) (local.get $b0))))
              (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $a) (local.get $b1))))
              (local.set $a (v128.load32_splat offset=12 (local.get $xp)))
              (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $a) (local.get $b0))))
              (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $a) (local.get $b1))))
              (local.set $xp (i32.add (local.get $xp) (local.get $colStep)))
              (local.set $dyp (i32.add (local.get $dyp) (local.get $pixStep)))
              (br_if $jLoop (i32.lt_u (local.get $dyp) (local.get $rowEnd))))
            (local.set $xRow (i32.add (local.get $xRow) (local.get $rowStep)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (if (i32.eq (local.get $i) (local.get $ho))
              (then
                (local.set $i (i32.const 0))
                (local.set $xRow (i32.add (local.get $xRow) (local.get $wrap)))))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br_if $rLoop (i32.lt_u (local.get $r) (local.get $r1))))
          (v128.store offset=0 (local.get $o) (local.get $c00))
          (v128.store offset=16 (local.get $o) (local.get $c01))
          (v128.store offset=0 (i32.add (local.get $o) (i32.mul (local.get $pixStep) (i32.const 1))) (local.get $c10))
          (v128.store offset=16 (i32.add (local.get $o) (i32.mul (local.get $pixStep) (i32.const 1))) (local.get $c11))
          (v128.store offset=0 (i32.add (local.get $o) (i32.mul (local.get $pixStep) (i32.const 2))) (local.get $c20))
          (v128.store offset=16 (i32.add (local.get $o) (i32.mul (local.get $pixStep) (i32.const 2))) (local.get $c21))
          (v128.store offset=0 (i32.add (local.get $o) (i32.mul (local.get $pixStep) (i32.const 3))) (local.get $c30))
          (v128.store offset=16 (i32.add (local.get $o) (i32.mul (local.get $pixStep) (i32.const 3))) (local.get $c31))
          (local.set $n (i32.add (local.get $n) (i32.const 8)))
          (br_if $nLoop (i32.lt_u (local.get $n) (local.get $n1))))
        (local.set $m (i32.add (local.get $m) (i32.const 4)))
        (br_if $mLoop (i32.lt_u (local.get $m) (local.get $mP))))
      (local.set $u (i32.add (local.get $u) (i32.const 1)))
      (br_if $uLoop (i32.lt_u (local.get $u) (local.get $kh)))))
)
