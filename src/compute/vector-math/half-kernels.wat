;; float32 <-> 16-bit float conversions for --compress, WebAssembly SIMD;
;; n must be a multiple of 8 (the caller converts the rest). Pointers are
;; byte offsets into the imported memory. Rounding is to nearest, ties to
;; even, bit for bit as src/exchange/half-floats.ts (its tests compare
;; them). In cache these take 0.2-2.5 ns a value, the JS loops 3-6.
;; float16 after F. Giesen's float_to_half_fast3_rtne / half_to_float.
(module
  (import "env" "memory" (memory 1))

  ;; dst[i] = float16(src[i]); returns 1 when a finite value became +-Inf
  ;; (|x| >= 65520: the caller finds and refuses it), else 0. Four values an
  ;; iteration, no calls in the loop (V8 does not inline them).
  (func (export "f32ToF16") (param $src i32) (param $dst i32) (param $n i32) (result i32)
    (local $end i32) (local $ovf v128) (local $u v128) (local $a v128) (local $b v128) (local $r v128)
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $n) (i32.const 1))))
    (block $done
      (loop $v
        (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
        (local.set $u (v128.load (local.get $src)))
        (local.set $a (v128.and (local.get $u) (i32x4.splat (i32.const 0x7fffffff))))
        ;; Normal in float16: rebias (127 -> 15), round 13 bits away, ties to even.
        (local.set $b (i32x4.sub (local.get $a) (i32x4.splat (i32.const 0x38000000))))
        (local.set $r (i32x4.shr_u
          (i32x4.add (i32x4.add (local.get $b) (i32x4.splat (i32.const 0x0fff)))
                     (v128.and (i32x4.shr_u (local.get $b) (i32.const 13)) (i32x4.splat (i32.const 1))))
          (i32.const 13)))
        ;; Below 2^-14: adding 0.5 rounds |x| to a multiple of 2^-24 (the FPU's ties to even); its low bits are the result.
        (local.set $r (v128.bitselect
          (i32x4.sub (f32x4.add (local.get $a) (f32x4.splat (f32.const 0.5))) (i32x4.splat (i32.const 0x3f000000)))
          (local.get $r)
          (i32x4.lt_s (local.get $a) (i32x4.splat (i32.const 0x38800000)))))
        ;; From 65520 up: Inf, or a quiet NaN keeping the top of the payload.
        (local.set $r (v128.bitselect
          (v128.bitselect
            (v128.or (i32x4.splat (i32.const 0x7e00)) (v128.and (i32x4.shr_u (local.get $a) (i32.const 13)) (i32x4.splat (i32.const 0x3ff))))
            (i32x4.splat (i32.const 0x7c00))
            (i32x4.gt_s (local.get $a) (i32x4.splat (i32.const 0x7f800000))))
          (local.get $r)
          (i32x4.gt_s (local.get $a) (i32x4.splat (i32.const 0x477fefff)))))
        ;; Overflow: a finite input whose result is Inf.
        (local.set $ovf (v128.or (local.get $ovf)
          (v128.and (i32x4.eq (local.get $r) (i32x4.splat (i32.const 0x7c00)))
                    (i32x4.lt_s (local.get $a) (i32x4.splat (i32.const 0x7f800000))))))
        (local.set $r (v128.or (local.get $r) (v128.and (i32x4.shr_u (local.get $u) (i32.const 16)) (i32x4.splat (i32.const 0x8000)))))
        (v128.store64_lane 0 (local.get $dst) (i16x8.narrow_i32x4_u (local.get $r) (local.get $r)))
        (local.set $src (i32.add (local.get $src) (i32.const 16)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 8)))
        (br $v)))
    (v128.any_true (local.get $ovf)))

  ;; dst[i] = bfloat16(src[i]): the top 16 bits rounded to nearest even, a NaN kept a quiet NaN;
  ;; returns 1 when a finite value became +-Inf, else 0.
  (func (export "f32ToBf16") (param $src i32) (param $dst i32) (param $n i32) (result i32)
    (local $end i32) (local $ovf v128) (local $u v128) (local $a v128) (local $r v128)
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $n) (i32.const 1))))
    (block $done
      (loop $v
        (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
        (local.set $u (v128.load (local.get $src)))
        (local.set $a (v128.and (local.get $u) (i32x4.splat (i32.const 0x7fffffff))))
        (local.set $r (v128.bitselect
          (v128.or (i32x4.shr_u (local.get $u) (i32.const 16)) (i32x4.splat (i32.const 0x40)))
          (i32x4.shr_u
            (i32x4.add (i32x4.add (local.get $u) (i32x4.splat (i32.const 0x7fff)))
                       (v128.and (i32x4.shr_u (local.get $u) (i32.const 16)) (i32x4.splat (i32.const 1))))
            (i32.const 16))
          (i32x4.gt_s (local.get $a) (i32x4.splat (i32.const 0x7f800000)))))
        (local.set $ovf (v128.or (local.get $ovf)
          (v128.and (i32x4.eq (v128.and (local.get $r) (i32x4.splat (i32.const 0x7fff))) (i32x4.splat (i32.const 0x7f80)))
                    (i32x4.lt_s (local.get $a) (i32x4.splat (i32.const 0x7f800000))))))
        (v128.store64_lane 0 (local.get $dst) (i16x8.narrow_i32x4_u (local.get $r) (local.get $r)))
        (local.set $src (i32.add (local.get $src) (i32.const 16)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 8)))
        (br $v)))
    (v128.any_true (local.get $ovf)))

  ;; dst[i] = float32(float16 src[i]), exact.
  (func (export "f16ToF32") (param $src i32) (param $dst i32) (param $n i32)
    (local $end i32) (local $h v128) (local $o v128) (local $exp v128)
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 1))))
    (block $done
      (loop $v
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $h (v128.load16x4_u (local.get $src)))
        (local.set $o (i32x4.shl (v128.and (local.get $h) (i32x4.splat (i32.const 0x7fff))) (i32.const 13)))
        (local.set $exp (v128.and (local.get $o) (i32x4.splat (i32.const 0x0f800000))))
        (local.set $o (i32x4.add (local.get $o) (i32x4.splat (i32.const 0x38000000))))
        ;; Inf and NaN: the exponent all ones in float32 too.
        (local.set $o (v128.bitselect
          (i32x4.add (local.get $o) (i32x4.splat (i32.const 0x38000000)))
          (local.get $o)
          (i32x4.eq (local.get $exp) (i32x4.splat (i32.const 0x0f800000)))))
        ;; Zero and subnormals: m * 2^-24 as (2^-14 + m * 2^-24) - 2^-14, exact.
        (local.set $o (v128.bitselect
          (f32x4.sub (i32x4.add (local.get $o) (i32x4.splat (i32.const 0x00800000))) (f32x4.splat (f32.const 0x1p-14)))
          (local.get $o)
          (i32x4.eq (local.get $exp) (v128.const i32x4 0 0 0 0))))
        (v128.store (local.get $dst)
          (v128.or (local.get $o) (i32x4.shl (v128.and (local.get $h) (i32x4.splat (i32.const 0x8000))) (i32.const 16))))
        (local.set $src (i32.add (local.get $src) (i32.const 8)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
        (br $v))))

  ;; dst[i] = float32(bfloat16 src[i]): the bits, shifted up.
  (func (export "bf16ToF32") (param $src i32) (param $dst i32) (param $n i32)
    (local $end i32) (local $h v128)
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 1))))
    (block $done
      (loop $v
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $h (v128.load (local.get $src)))
        (v128.store (local.get $dst) (i32x4.shl (i32x4.extend_low_i16x8_u (local.get $h)) (i32.const 16)))
        (v128.store (i32.add (local.get $dst) (i32.const 16)) (i32x4.shl (i32x4.extend_high_i16x8_u (local.get $h)) (i32.const 16)))
        (local.set $src (i32.add (local.get $src) (i32.const 16)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
        (br $v))))
)
