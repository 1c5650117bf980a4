#include "textflag.h"

// The exponentials here are math.Exp of amd64 (math/exp_amd64.s, its FMA
// path) eight lanes at a time: the same operations on the same operands
// in the same order, the same special cases, each lane its own argument,
// so each lane gets math.Exp's bits. The constants are that file's,
// written the same way.

#define LOG2E 1.4426950408889634073599246810018920 // 1/LN2
#define LN2U 0.69314718055966295651160180568695068359375 // upper half LN2
#define LN2L 0.28235290563031577122588448175013436025525412068e-12 // lower half LN2
#define Overflow 7.09782712893384e+02

DATA tokexp<>+0(SB)/8, $0.5
DATA tokexp<>+8(SB)/8, $1.0
DATA tokexp<>+16(SB)/8, $2.0
DATA tokexp<>+24(SB)/8, $1.6666666666666666667e-1
DATA tokexp<>+32(SB)/8, $4.1666666666666666667e-2
DATA tokexp<>+40(SB)/8, $8.3333333333333333333e-3
DATA tokexp<>+48(SB)/8, $1.3888888888888888889e-3
DATA tokexp<>+56(SB)/8, $1.9841269841269841270e-4
DATA tokexp<>+64(SB)/8, $2.4801587301587301587e-5
DATA tokexp<>+72(SB)/8, $LOG2E
DATA tokexp<>+80(SB)/8, $LN2U
DATA tokexp<>+88(SB)/8, $LN2L
DATA tokexp<>+96(SB)/8, $0.0625
DATA tokexp<>+104(SB)/8, $Overflow
DATA tokexp<>+112(SB)/8, $0x7FF0000000000000 // +Inf
DATA tokexp<>+120(SB)/8, $0xFFF0000000000000 // −Inf
DATA tokexp<>+128(SB)/8, $0x7FFFFFFFFFFFFFFF // all bits but the sign
DATA tokexp<>+136(SB)/8, $0x3FF              // exponent bias
DATA tokexp<>+144(SB)/8, $0x3FE              // bias − 1
DATA tokexp<>+152(SB)/8, $0x7FF
DATA tokexp<>+160(SB)/8, $-52
DATA tokexp<>+168(SB)/8, $0x0010000000000000 // 2⁻¹⁰²² as bits
DATA tokexp<>+176(SB)/8, $0x7FF8000000000001 // math.NaN()
GLOBL tokexp<>+0(SB), RODATA, $184

// EXPCONST loads the constants of EXP8 into Z8–Z10, Z12–Z19, Z21–Z23,
// Z30, Z31.
#define EXPCONST \
	VBROADCASTSD tokexp<>+72(SB), Z8   \
	VBROADCASTSD tokexp<>+80(SB), Z9   \
	VBROADCASTSD tokexp<>+88(SB), Z10  \
	VBROADCASTSD tokexp<>+64(SB), Z12  \
	VBROADCASTSD tokexp<>+16(SB), Z13  \
	VBROADCASTSD tokexp<>+8(SB), Z14   \
	VBROADCASTSD tokexp<>+104(SB), Z15 \
	VBROADCASTSD tokexp<>+112(SB), Z16 \
	VBROADCASTSD tokexp<>+120(SB), Z17 \
	VBROADCASTSD tokexp<>+128(SB), Z18 \
	VBROADCASTSD tokexp<>+136(SB), Z19 \
	VBROADCASTSD tokexp<>+168(SB), Z21 \
	VPXORQ       Z22, Z22, Z22         \
	VBROADCASTSD tokexp<>+144(SB), Z23 \
	VBROADCASTSD tokexp<>+152(SB), Z30 \
	VBROADCASTSD tokexp<>+160(SB), Z31

// EXP8 sets Z5 to math.Exp of each lane of Z0 (kept), using Z1–Z4, Z6,
// K1–K5 and the constants of EXPCONST.
#define EXP8 \
	VMULPD           Z8, Z0, Z1               \
	VCVTPD2DQ        Z1, Y4                   \
	VCVTDQ2PD        Y4, Z3                   \
	VPMOVSXDQ        Y4, Z4                   \
	VMOVAPD          Z0, Z1                   \
	VFNMADD231PD     Z9, Z3, Z1               \
	VFNMADD231PD     Z10, Z3, Z1              \
	VMULPD.BCST      tokexp<>+96(SB), Z1, Z1  \
	VMOVAPD          Z12, Z2                  \
	VFMADD213PD.BCST tokexp<>+56(SB), Z1, Z2  \
	VFMADD213PD.BCST tokexp<>+48(SB), Z1, Z2  \
	VFMADD213PD.BCST tokexp<>+40(SB), Z1, Z2  \
	VFMADD213PD.BCST tokexp<>+32(SB), Z1, Z2  \
	VFMADD213PD.BCST tokexp<>+24(SB), Z1, Z2  \
	VFMADD213PD.BCST tokexp<>+0(SB), Z1, Z2   \
	VFMADD213PD      Z14, Z1, Z2              \
	VMULPD           Z2, Z1, Z1               \
	VADDPD           Z13, Z1, Z2              \
	VMULPD           Z2, Z1, Z1               \
	VADDPD           Z13, Z1, Z2              \
	VMULPD           Z2, Z1, Z1               \
	VADDPD           Z13, Z1, Z2              \
	VMULPD           Z2, Z1, Z1               \
	VADDPD           Z13, Z1, Z2              \
	VFMADD213PD      Z14, Z2, Z1              \
	VPADDQ           Z19, Z4, Z4              \
	VPSLLQ           $52, Z4, Z5              \
	VMULPD           Z5, Z1, Z5               \
	VPCMPQ           $2, Z22, Z4, K1          \
	VPADDQ           Z23, Z4, Z6              \
	VPSLLQ           $52, Z6, Z6              \
	VMULPD           Z6, Z1, Z6               \
	VMULPD           Z21, Z6, Z6              \
	VMOVAPD          Z6, K1, Z5               \
	VPCMPQ           $1, Z31, Z4, K2          \
	VMOVAPD          Z22, K2, Z5              \
	VPCMPQ           $5, Z30, Z4, K3          \
	VMOVAPD          Z16, K3, Z5              \
	VCMPPD           $0x1E, Z15, Z0, K4       \
	VMOVAPD          Z16, K4, Z5              \
	VPANDQ           Z18, Z0, Z6              \
	VPCMPQ           $5, Z16, Z6, K5          \
	VMOVAPD          Z0, K5, Z5               \
	VPCMPQ           $0, Z17, Z0, K5          \
	VMOVAPD          Z22, K5, Z5

// In EXP8: k = round(t·log₂e) as int32 (as CVTSD2SL); r = (t − k·LN2U −
// k·LN2L)/16 (fused); the Taylor series of e^r − 1 by Horner (fused); four
// squarings of 1+r; then r·2^k with the biased exponent e = k+0x3FF: if
// e ≤ 0, r·2^(e+0x3FE−0x3FF)·2⁻¹⁰²² (0 if e < −52); +Inf if e ≥ 0x7FF
// or t > Overflow; t itself if t is NaN or ±Inf, 0 if t = −Inf.

// GATHER8 sets dst to float64 of the float32 at base+4·Y20[l] of each lane
// l selected by the bits of BX (Y7 and K7 scratch); other lanes hold
// garbage.
#define GATHER8(base, dst) \
	KMOVW      BX, K7                \
	VGATHERDPS (base)(Y20*4), K7, Y7 \
	VCVTPS2PD  Y7, dst

// func expLanes8(dst, src *float64)
//
// dst[l] = math.Exp(src[l]) for l < 8, for tests. Needs AVX-512F and FMA.
TEXT ·expLanes8(SB), NOSPLIT, $0-16
	MOVQ    dst+0(FP), DI
	MOVQ    src+8(FP), SI
	EXPCONST
	VMOVUPD (SI), Z0
	EXP8
	VMOVUPD Z5, (DI)
	VZEROUPPER
	RET

// func tokLse8(out *[24]float64, x, w *float32, idx *[8]int32, v, mask int)
//
// For each lane l selected by the bits of mask, a row of x and w [·, v]
// at element offset idx[l]: out[l] = the row's maximum as math.Max
// chains keep it (from −Inf: +Inf over NaN, NaN (math.NaN()) over the
// rest, +0 over −0); out[8+l] = Σ_j math.Exp(x_j − max) and out[16+l] =
// Σ_j w_j, each sum from 0, j ascending, one float64 addition at a time.
// v ≥ 1. Needs AVX-512F, AVX-512VL and FMA.
TEXT ·tokLse8(SB), NOSPLIT, $0-48
	MOVQ      out+0(FP), DI
	MOVQ      x+8(FP), SI
	MOVQ      w+16(FP), DX
	MOVQ      idx+24(FP), AX
	MOVQ      v+32(FP), CX
	MOVQ      mask+40(FP), BX
	EXPCONST
	VMOVDQU32 (AX), Y20
	VPXORQ    Z7, Z7, Z7

	// The maximum over the lanes' non-NaN values as int64 keys: the bits,
	// all but the sign flipped when negative, order as the values do
	// (−0 below +0).
	VPSRAQ    $63, Z17, Z24
	VPANDQ    Z18, Z24, Z24
	VPXORQ    Z17, Z24, Z24       // key of −Inf
	VMOVAPD   Z22, Z25            // Σw
	KXORW     K6, K6, K6          // lanes that saw a NaN
	MOVQ      SI, R8
	MOVQ      DX, R9
	MOVQ      CX, R10

lsemax:
	GATHER8(R8, Z0)
	VPSRAQ    $63, Z0, Z1
	VPANDQ    Z18, Z1, Z1
	VPXORQ    Z0, Z1, Z1
	VCMPPD    $7, Z0, Z0, K2      // not NaN
	VPMAXSQ   Z1, Z24, K2, Z24
	KNOTW     K2, K2
	KORW      K2, K6, K6
	GATHER8(R9, Z2)
	VADDPD    Z2, Z25, Z25
	ADDQ      $4, R8
	ADDQ      $4, R9
	DECQ      R10
	JNZ       lsemax

	VPSRAQ       $63, Z24, Z1
	VPANDQ       Z18, Z1, Z1
	VPXORQ       Z24, Z1, Z24     // the maximum
	VCMPPD       $0, Z16, Z24, K2 // +Inf
	KANDNW       K6, K2, K2       // NaN seen and no +Inf
	VBROADCASTSD tokexp<>+176(SB), Z1
	VMOVAPD      Z1, K2, Z24
	VMOVUPD      Z24, (DI)
	VMOVUPD      Z25, 128(DI)

	VMOVAPD Z22, Z26 // Σ exp
	MOVQ    SI, R8
	MOVQ    CX, R10

lsesum:
	GATHER8(R8, Z0)
	VSUBPD Z24, Z0, Z0
	EXP8
	VADDPD Z5, Z26, Z26
	ADDQ   $4, R8
	DECQ   R10
	JNZ    lsesum

	VMOVUPD Z26, 64(DI)
	VZEROUPPER
	RET

// func tokDot8(out *[8]float64, x, w *float32, idx *[8]int32, v, mask int, lse *[8]float64)
//
// For each lane l selected by the bits of mask, the row of x and w at
// element offset idx[l]: out[l] = Σ_{j: w_j ≠ 0} w_j·(x_j − lse[l]), from
// 0, j ascending, one float64 addition at a time. Needs AVX-512F and
// AVX-512VL.
TEXT ·tokDot8(SB), NOSPLIT, $0-56
	MOVQ      out+0(FP), DI
	MOVQ      x+8(FP), SI
	MOVQ      w+16(FP), DX
	MOVQ      idx+24(FP), AX
	MOVQ      v+32(FP), CX
	MOVQ      mask+40(FP), BX
	MOVQ      lse+48(FP), R11
	VMOVDQU32 (AX), Y20
	VPXORQ    Z7, Z7, Z7
	VPXORQ    Z22, Z22, Z22
	VMOVUPD   (R11), Z24
	VMOVAPD   Z22, Z25

dotloop:
	GATHER8(DX, Z2)
	VCMPPD $4, Z22, Z2, K2 // w ≠ 0 (NaN included)
	GATHER8(SI, Z0)
	VSUBPD Z24, Z0, Z0
	VMULPD Z0, Z2, Z0
	VADDPD Z0, Z25, K2, Z25
	ADDQ   $4, SI
	ADDQ   $4, DX
	DECQ   CX
	JNZ    dotloop

	VMOVUPD Z25, (DI)
	VZEROUPPER
	RET

// func tokGrad8(o, x, w *float32, n int, gi, lse, sw float64)
//
// o[j] = float32(gi·(w_j − math.Exp(x_j − lse)·sw)) in float64 for j < n,
// n a positive multiple of 8. Needs AVX-512F and FMA.
TEXT ·tokGrad8(SB), NOSPLIT, $0-56
	MOVQ         o+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         w+16(FP), DX
	MOVQ         n+24(FP), CX
	VBROADCASTSD gi+32(FP), Z24
	VBROADCASTSD lse+40(FP), Z25
	VBROADCASTSD sw+48(FP), Z26
	EXPCONST
	SHRQ         $3, CX

gradloop:
	VCVTPS2PD (SI), Z0
	VSUBPD    Z25, Z0, Z0
	EXP8
	VMULPD    Z26, Z5, Z5
	VCVTPS2PD (DX), Z6
	VSUBPD    Z5, Z6, Z6
	VMULPD    Z6, Z24, Z6
	VCVTPD2PS Z6, Y6
	VMOVUPS   Y6, (DI)
	ADDQ      $32, SI
	ADDQ      $32, DX
	ADDQ      $32, DI
	DECQ      CX
	JNZ       gradloop
	VZEROUPPER
	RET
