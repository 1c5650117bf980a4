#include "textflag.h"

// func exp32x16(dst, src *float32, n int)
//
// dst[i] = exp32(src[i]) for i < n, n a multiple of 16, bit for bit: the
// same float32 operations in the same order (no FMA), 16 lanes at a time,
// the range cases blended in last. Needs AVX-512F.
TEXT ·exp32x16(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $4, CX
	JEQ  done
	MOVL $0x3fb8aa3b, AX // float32(log₂e)
	VPBROADCASTD AX, Z16
	MOVL $0x4b400000, AX // 1.5·2²³
	VPBROADCASTD AX, Z17
	MOVL $0x3f318000, AX // exp32Ln2Hi
	VPBROADCASTD AX, Z18
	MOVL $0xb95e8083, AX // exp32Ln2Lo
	VPBROADCASTD AX, Z19
	MOVL $0x39506967, AX // polynomial, highest degree first
	VPBROADCASTD AX, Z20
	MOVL $0x3ab743ce, AX
	VPBROADCASTD AX, Z21
	MOVL $0x3c088908, AX
	VPBROADCASTD AX, Z22
	MOVL $0x3d2aa9c1, AX
	VPBROADCASTD AX, Z23
	MOVL $0x3e2aaaaa, AX
	VPBROADCASTD AX, Z24
	MOVL $0x3f000000, AX
	VPBROADCASTD AX, Z25
	MOVL $0x3f800000, AX // 1
	VPBROADCASTD AX, Z26
	MOVL $0x42b17218, AX // exp32Max
	VPBROADCASTD AX, Z27
	MOVL $0xc2cff1b4, AX // exp32Min
	VPBROADCASTD AX, Z28
	MOVL $0x40000000, AX // 2
	VPBROADCASTD AX, Z29
	MOVL $0x03800000, AX // 2⁻¹²⁰
	VPBROADCASTD AX, Z30
	MOVL $0x7f800000, AX // +Inf
	VPBROADCASTD AX, Z31
	MOVL $127, AX
	VPBROADCASTD AX, Z15
	MOVL $-120, AX
	VPBROADCASTD AX, Z14
	MOVL $120, AX
	VPBROADCASTD AX, Z13
	MOVL $1, AX
	VPBROADCASTD AX, Z12
	VPXORD Z11, Z11, Z11

loop:
	VMOVUPS    (SI), Z0
	VMULPS     Z16, Z0, Z1 // n = x·log₂e + round − round
	VADDPS     Z17, Z1, Z1
	VSUBPS     Z17, Z1, Z1
	VCVTTPS2DQ Z1, Z2      // k
	VMULPS     Z18, Z1, Z3 // r = x − n·hi − n·lo
	VSUBPS     Z3, Z0, Z3
	VMULPS     Z19, Z1, Z4
	VSUBPS     Z4, Z3, Z3
	VMULPS     Z3, Z20, Z5 // p
	VADDPS     Z21, Z5, Z5
	VMULPS     Z3, Z5, Z5
	VADDPS     Z22, Z5, Z5
	VMULPS     Z3, Z5, Z5
	VADDPS     Z23, Z5, Z5
	VMULPS     Z3, Z5, Z5
	VADDPS     Z24, Z5, Z5
	VMULPS     Z3, Z5, Z5
	VADDPS     Z25, Z5, Z5
	VMULPS     Z3, Z5, Z5  // y = p·r·r + r + 1
	VMULPS     Z3, Z5, Z5
	VADDPS     Z3, Z5, Z5
	VADDPS     Z26, Z5, Z5
	VPCMPGTD   Z2, Z14, K1 // k < −120: y ·= 2⁻¹²⁰, k += 120
	VMULPS     Z30, Z5, K1, Z5
	VPADDD     Z13, Z2, K1, Z2
	VPCMPGTD   Z15, Z2, K2 // k > 127: y ·= 2, k −= 1
	VMULPS     Z29, Z5, K2, Z5
	VPSUBD     Z12, Z2, K2, Z2
	VPADDD     Z15, Z2, Z2 // y·2ᵏ
	VPSLLD     $23, Z2, Z2
	VMULPS     Z2, Z5, Z5
	VCMPPS     $0x11, Z28, Z0, K3 // x < exp32Min: 0
	VMOVAPS    Z11, K3, Z5
	VCMPPS     $0x1e, Z27, Z0, K4 // x > exp32Max: +Inf
	VMOVAPS    Z31, K4, Z5
	VCMPPS     $3, Z0, Z0, K5     // NaN: x
	VMOVAPS    Z0, K5, Z5
	VMOVUPS    Z5, (DI)
	ADDQ       $64, SI
	ADDQ       $64, DI
	DECQ       CX
	JNZ        loop
	VZEROUPPER

done:
	RET

// func geluBwd8(o, x, y, dy *float32, n int)
//
// o[i] = float32(dy·(s + x·s·(1−s)·c·(1+3a·x²))) with s = y/x, in float64,
// for i < n, n a multiple of 8: geluBwd's arithmetic for |x| ≥ 1e-3, the
// same operations in the same order, 8 lanes at a time. Needs AVX-512F.
TEXT ·geluBwd8(SB), NOSPLIT, $0-40
	MOVQ o+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ y+16(FP), R8
	MOVQ dy+24(FP), R9
	MOVQ n+32(FP), CX
	SHRQ $3, CX
	JEQ  gdone
	MOVQ $0x3ff0000000000000, AX // 1
	VPBROADCASTQ AX, Z16
	MOVQ $0x3ff9884533d43651, AX // geluC
	VPBROADCASTQ AX, Z17
	MOVQ $0x3fc12ba9d1f60179, AX // 3·geluA
	VPBROADCASTQ AX, Z18

gloop:
	VCVTPS2PD (SI), Z0  // v
	VCVTPS2PD (R8), Z1  // y
	VCVTPS2PD (R9), Z2  // dy
	VDIVPD    Z0, Z1, Z3 // s = y/v
	VMULPD    Z3, Z0, Z4 // v·s
	VSUBPD    Z3, Z16, Z5 // 1−s
	VMULPD    Z5, Z4, Z4
	VMULPD    Z17, Z4, Z4 // ·c
	VMULPD    Z0, Z18, Z6 // 1 + 3a·v·v
	VMULPD    Z0, Z6, Z6
	VADDPD    Z16, Z6, Z6
	VMULPD    Z6, Z4, Z4
	VADDPD    Z4, Z3, Z4 // s + …
	VMULPD    Z4, Z2, Z4 // dy·(…)
	VCVTPD2PS Z4, Y4
	VMOVUPS   Y4, (DI)
	ADDQ      $32, SI
	ADDQ      $32, R8
	ADDQ      $32, R9
	ADDQ      $32, DI
	DECQ      CX
	JNZ       gloop
	VZEROUPPER

gdone:
	RET

// func geluSmall16(x *float32, n int, t float32) int
//
// The first i < n with !(|x[i]| ≥ t) (|x[i]| < t, or NaN), n if none, n a
// multiple of 16. Needs AVX-512F.
TEXT ·geluSmall16(SB), NOSPLIT, $0-32
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS t+16(FP), Z1
	MOVL         $0x7fffffff, AX
	VPBROADCASTD AX, Z2
	XORQ         DX, DX
	CMPQ         DX, CX
	JGE          smallnone

smallloop:
	VPANDD  (SI)(DX*4), Z2, Z0
	VCMPPS  $0x19, Z1, Z0, K1 // NGE_UQ: !(|x| ≥ t), true for NaN
	KMOVW   K1, AX
	TESTL   AX, AX
	JNE     smallfound
	ADDQ    $16, DX
	CMPQ    DX, CX
	JLT     smallloop

smallnone:
	MOVQ CX, ret+24(FP)
	VZEROUPPER
	RET

smallfound:
	TZCNTL AX, AX
	ADDQ   AX, DX
	MOVQ   DX, ret+24(FP)
	VZEROUPPER
	RET

// func geluArg16(dst, src *float32, n int, a, nc float32)
//
// dst[i] = nc·(v + ((a·v)·v)·v) with v = src[i], for i < n, n a multiple
// of 16: geluFwd's argument, the same float32 operations in the same order
// (no FMA). Needs AVX-512F.
TEXT ·geluArg16(SB), NOSPLIT, $0-32
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS a+24(FP), Z2
	VBROADCASTSS nc+28(FP), Z3
	SHRQ         $4, CX
	JEQ          argdone

argloop:
	VMOVUPS (SI), Z0
	VMULPS  Z0, Z2, Z1
	VMULPS  Z0, Z1, Z1
	VMULPS  Z0, Z1, Z1
	VADDPS  Z1, Z0, Z1
	VMULPS  Z1, Z3, Z1
	VMOVUPS Z1, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	DECQ    CX
	JNZ     argloop
	VZEROUPPER

argdone:
	RET

// func geluQuot16(o, x, e *float32, n int)
//
// o[i] = x[i] / (1 + e[i]) for i < n, n a multiple of 16, in float32 (o
// may be x). Needs AVX-512F.
TEXT ·geluQuot16(SB), NOSPLIT, $0-32
	MOVQ         o+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         e+16(FP), DX
	MOVQ         n+24(FP), CX
	MOVL         $0x3f800000, AX // 1
	VPBROADCASTD AX, Z3
	SHRQ         $4, CX
	JEQ          quotdone

quotloop:
	VMOVUPS (SI), Z0
	VADDPS  (DX), Z3, Z1
	VDIVPS  Z1, Z0, Z2
	VMOVUPS Z2, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DX
	ADDQ    $64, DI
	DECQ    CX
	JNZ     quotloop
	VZEROUPPER

quotdone:
	RET
