;; fleet's float32 vector kernels, WebAssembly SIMD (f32x4). Built into
;; vector-math/gen/ by scripts/gen-wasm.mjs. Pointers are byte offsets into
;; the imported memory; n counts floats. V8 runs a JS loop over a
;; Float32Array at ~3 ns a float (every element converts to double and
;; back); these run at memory speed.
(module
  (import "env" "memory" (memory 1))

  ;; y[i] += a * x[i]
  (func (export "axpy") (param $y i32) (param $x i32) (param $n i32) (param $a f32)
    (local $end i32) (local $vend i32) (local $va v128)
    (local.set $va (f32x4.splat (local.get $a)))
    (local.set $end (i32.add (local.get $y) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $vend (i32.add (local.get $y) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $vdone
      (loop $v
        (br_if $vdone (i32.ge_u (local.get $y) (local.get $vend)))
        (v128.store (local.get $y)
          (f32x4.add (v128.load (local.get $y)) (f32x4.mul (v128.load (local.get $x)) (local.get $va))))
        (local.set $y (i32.add (local.get $y) (i32.const 16)))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (br $v)))
    (block $done
      (loop $s
        (br_if $done (i32.ge_u (local.get $y) (local.get $end)))
        (f32.store (local.get $y) (f32.add (f32.load (local.get $y)) (f32.mul (f32.load (local.get $x)) (local.get $a))))
        (local.set $y (i32.add (local.get $y) (i32.const 4)))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (br $s))))

  ;; y[i] *= a
  (func (export "scale") (param $y i32) (param $n i32) (param $a f32)
    (local $end i32) (local $vend i32) (local $va v128)
    (local.set $va (f32x4.splat (local.get $a)))
    (local.set $end (i32.add (local.get $y) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $vend (i32.add (local.get $y) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $vdone
      (loop $v
        (br_if $vdone (i32.ge_u (local.get $y) (local.get $vend)))
        (v128.store (local.get $y) (f32x4.mul (v128.load (local.get $y)) (local.get $va)))
        (local.set $y (i32.add (local.get $y) (i32.const 16)))
        (br $v)))
    (block $done
      (loop $s
        (br_if $done (i32.ge_u (local.get $y) (local.get $end)))
        (f32.store (local.get $y) (f32.mul (f32.load (local.get $y)) (local.get $a)))
        (local.set $y (i32.add (local.get $y) (i32.const 4)))
        (br $s))))

  ;; Index of the first NaN or +-Infinity among the n floats at p (all
  ;; exponent bits set), or -1. Vectors OR their compare masks over blocks
  ;; of 1024 floats; only a block that holds one is searched float by float.
  (func (export "firstNonFinite") (param $p i32) (param $n i32) (result i32)
    (local $i i32) (local $blockStart i32) (local $blockEnd i32) (local $vn i32) (local $acc v128) (local $mask v128)
    (local.set $mask (i32x4.splat (i32.const 0x7f800000)))
    (local.set $vn (i32.and (local.get $n) (i32.const -4)))
    (block $vdone
      (loop $blocks
        (br_if $vdone (i32.ge_u (local.get $i) (local.get $vn)))
        (local.set $blockStart (local.get $i))
        (local.set $blockEnd (i32.add (local.get $i) (i32.const 1024)))
        (if (i32.gt_u (local.get $blockEnd) (local.get $vn)) (then (local.set $blockEnd (local.get $vn))))
        (local.set $acc (v128.const i32x4 0 0 0 0))
        (block $bdone
          (loop $b
            (br_if $bdone (i32.ge_u (local.get $i) (local.get $blockEnd)))
            (local.set $acc (v128.or (local.get $acc)
              (i32x4.eq (v128.and (v128.load (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2)))) (local.get $mask)) (local.get $mask))))
            (local.set $i (i32.add (local.get $i) (i32.const 4)))
            (br $b)))
        (if (v128.any_true (local.get $acc))
          (then
            (local.set $i (local.get $blockStart))
            (loop $find
              (if (i32.eq (i32.and (i32.load (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2)))) (i32.const 0x7f800000)) (i32.const 0x7f800000))
                (then (return (local.get $i))))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br $find))))
        (br $blocks)))
    (block $done
      (loop $s
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (if (i32.eq (i32.and (i32.load (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2)))) (i32.const 0x7f800000)) (i32.const 0x7f800000))
          (then (return (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $s)))
    (i32.const -1))

  ;; out[i] = s[i] + a * x[i], scanning x as it goes: returns the index of
  ;; x's first NaN or +-Infinity (out then partly written), or -1. One pass
  ;; for a contribution's chunk: the finite check and the sum together.
  (func (export "accumulate") (param $out i32) (param $s i32) (param $x i32) (param $n i32) (param $a f32) (result i32)
    (local $i i32) (local $off i32) (local $blockStart i32) (local $blockEnd i32) (local $vn i32)
    (local $acc v128) (local $mask v128) (local $va v128) (local $xv v128) (local $xs f32)
    (local.set $mask (i32x4.splat (i32.const 0x7f800000)))
    (local.set $va (f32x4.splat (local.get $a)))
    (local.set $vn (i32.and (local.get $n) (i32.const -4)))
    (block $vdone
      (loop $blocks
        (br_if $vdone (i32.ge_u (local.get $i) (local.get $vn)))
        (local.set $blockStart (local.get $i))
        (local.set $blockEnd (i32.add (local.get $i) (i32.const 1024)))
        (if (i32.gt_u (local.get $blockEnd) (local.get $vn)) (then (local.set $blockEnd (local.get $vn))))
        (local.set $acc (v128.const i32x4 0 0 0 0))
        (block $bdone
          (loop $b
            (br_if $bdone (i32.ge_u (local.get $i) (local.get $blockEnd)))
            (local.set $off (i32.shl (local.get $i) (i32.const 2)))
            (local.set $xv (v128.load (i32.add (local.get $x) (local.get $off))))
            (local.set $acc (v128.or (local.get $acc) (i32x4.eq (v128.and (local.get $xv) (local.get $mask)) (local.get $mask))))
            (v128.store (i32.add (local.get $out) (local.get $off))
              (f32x4.add (v128.load (i32.add (local.get $s) (local.get $off))) (f32x4.mul (local.get $xv) (local.get $va))))
            (local.set $i (i32.add (local.get $i) (i32.const 4)))
            (br $b)))
        (if (v128.any_true (local.get $acc))
          (then
            (local.set $i (local.get $blockStart))
            (loop $find
              (if (i32.eq (i32.and (i32.load (i32.add (local.get $x) (i32.shl (local.get $i) (i32.const 2)))) (i32.const 0x7f800000)) (i32.const 0x7f800000))
                (then (return (local.get $i))))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br $find))))
        (br $blocks)))
    (block $done
      (loop $tail
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $off (i32.shl (local.get $i) (i32.const 2)))
        (if (i32.eq (i32.and (i32.load (i32.add (local.get $x) (local.get $off))) (i32.const 0x7f800000)) (i32.const 0x7f800000))
          (then (return (local.get $i))))
        (local.set $xs (f32.load (i32.add (local.get $x) (local.get $off))))
        (f32.store (i32.add (local.get $out) (local.get $off)) (f32.add (f32.load (i32.add (local.get $s) (local.get $off))) (f32.mul (local.get $xs) (local.get $a))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail)))
    (i32.const -1))

  ;; SGD with momentum and weight decay on n floats (PyTorch's rule):
  ;; g' = g + wd*p; buf = (useBuf ? mom*buf + g' : g'); p -= lr*buf.
  (func (export "sgd") (param $p i32) (param $m i32) (param $g i32) (param $n i32)
                       (param $lr f32) (param $mom f32) (param $wd f32) (param $useBuf i32)
    (local $end i32) (local $vend i32) (local $vlr v128) (local $vmom v128) (local $vwd v128)
    (local $gv v128) (local $pv v128) (local $bv v128) (local $gs f32) (local $bs f32)
    (local.set $vlr (f32x4.splat (local.get $lr)))
    (local.set $vmom (f32x4.splat (local.get $mom)))
    (local.set $vwd (f32x4.splat (local.get $wd)))
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $vend (i32.add (local.get $p) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $vdone
      (loop $v
        (br_if $vdone (i32.ge_u (local.get $p) (local.get $vend)))
        (local.set $pv (v128.load (local.get $p)))
        (local.set $gv (f32x4.add (v128.load (local.get $g)) (f32x4.mul (local.get $vwd) (local.get $pv))))
        (local.set $bv (local.get $gv))
        (if (local.get $useBuf)
          (then (local.set $bv (f32x4.add (f32x4.mul (local.get $vmom) (v128.load (local.get $m))) (local.get $gv)))))
        (v128.store (local.get $m) (local.get $bv))
        (v128.store (local.get $p) (f32x4.sub (local.get $pv) (f32x4.mul (local.get $vlr) (local.get $bv))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (local.set $m (i32.add (local.get $m) (i32.const 16)))
        (local.set $g (i32.add (local.get $g) (i32.const 16)))
        (br $v)))
    (block $done
      (loop $s
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $gs (f32.add (f32.load (local.get $g)) (f32.mul (local.get $wd) (f32.load (local.get $p)))))
        (local.set $bs (local.get $gs))
        (if (local.get $useBuf)
          (then (local.set $bs (f32.add (f32.mul (local.get $mom) (f32.load (local.get $m))) (local.get $gs)))))
        (f32.store (local.get $m) (local.get $bs))
        (f32.store (local.get $p) (f32.sub (f32.load (local.get $p)) (f32.mul (local.get $lr) (local.get $bs))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (local.set $m (i32.add (local.get $m) (i32.const 4)))
        (local.set $g (i32.add (local.get $g) (i32.const 4)))
        (br $s))))
)
