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

// Z30 = +Inf and Z31 = 0 in every lane, for EXP8 and EXP8X4.
#define EXPCONST \
	VBROADCASTSD tokexp<>+112(SB), Z30 \
	VPXORQ       Z31, Z31, Z31

// EXP8 sets Z5 to math.Exp of each lane of Z0 (kept), using Z1–Z4, K1,
// Z30 and Z31 (EXPCONST) and the constants in memory. EXP8X4 does the
// same for Z0, Z6, Z12, Z18 into Z5, Z11, Z17, Z23 (registers 1–4 after
// each input its scratch), the four interleaved so that their latency
// chains overlap.
//
// Both compute as math.Exp: k = round(t·log₂e) as an int32 (CVTSD2SL);
// r = (t − k·LN2U − k·LN2L)/16 (fused); the Taylor series of e^r − 1 by
// Horner (fused); four squarings of 1+r; then r·2^k from the biased
// exponent e = k+0x3FF: if e ≤ 0, r·2^(e+0x3FE−0x3FF)·2⁻¹⁰²² (0 if
// e < −52); +Inf if e ≥ 0x7FF or t > Overflow; t itself if t is NaN or
// ±Inf, 0 if t = −Inf.
#define EXP8 \
	VMULPD.BCST       tokexp<>+72(SB), Z0, Z1 \
	VCVTPD2DQ         Z1, Y4 \
	VCVTDQ2PD         Y4, Z3 \
	VPMOVSXDQ         Y4, Z4 \
	VMOVAPD           Z0, Z1 \
	VFNMADD231PD.BCST tokexp<>+80(SB), Z3, Z1 \
	VFNMADD231PD.BCST tokexp<>+88(SB), Z3, Z1 \
	VMULPD.BCST       tokexp<>+96(SB), Z1, Z1 \
	VBROADCASTSD      tokexp<>+64(SB), Z2 \
	VFMADD213PD.BCST  tokexp<>+56(SB), Z1, Z2 \
	VFMADD213PD.BCST  tokexp<>+48(SB), Z1, Z2 \
	VFMADD213PD.BCST  tokexp<>+40(SB), Z1, Z2 \
	VFMADD213PD.BCST  tokexp<>+32(SB), Z1, Z2 \
	VFMADD213PD.BCST  tokexp<>+24(SB), Z1, Z2 \
	VFMADD213PD.BCST  tokexp<>+0(SB), Z1, Z2 \
	VFMADD213PD.BCST  tokexp<>+8(SB), Z1, Z2 \
	VMULPD            Z2, Z1, Z1 \
	VADDPD.BCST       tokexp<>+16(SB), Z1, Z2 \
	VMULPD            Z2, Z1, Z1 \
	VADDPD.BCST       tokexp<>+16(SB), Z1, Z2 \
	VMULPD            Z2, Z1, Z1 \
	VADDPD.BCST       tokexp<>+16(SB), Z1, Z2 \
	VMULPD            Z2, Z1, Z1 \
	VADDPD.BCST       tokexp<>+16(SB), Z1, Z2 \
	VFMADD213PD.BCST  tokexp<>+8(SB), Z2, Z1 \
	VPADDQ.BCST       tokexp<>+136(SB), Z4, Z4 \
	VPSLLQ            $52, Z4, Z5 \
	VMULPD            Z5, Z1, Z5 \
	VPADDQ.BCST       tokexp<>+144(SB), Z4, Z3 \
	VPSLLQ            $52, Z3, Z3 \
	VMULPD            Z3, Z1, Z3 \
	VMULPD.BCST       tokexp<>+168(SB), Z3, Z3 \
	VPCMPQ            $2, Z31, Z4, K1 \
	VMOVAPD           Z3, K1, Z5 \
	VPCMPQ.BCST       $1, tokexp<>+160(SB), Z4, K1 \
	VMOVAPD           Z31, K1, Z5 \
	VPCMPQ.BCST       $5, tokexp<>+152(SB), Z4, K1 \
	VMOVAPD           Z30, K1, Z5 \
	VCMPPD.BCST       $0x1E, tokexp<>+104(SB), Z0, K1 \
	VMOVAPD           Z30, K1, Z5 \
	VPANDQ.BCST       tokexp<>+128(SB), Z0, Z3 \
	VPCMPQ            $5, Z30, Z3, K1 \
	VMOVAPD           Z0, K1, Z5 \
	VPCMPQ.BCST       $0, tokexp<>+120(SB), Z0, K1 \
	VMOVAPD           Z31, K1, Z5

#define EXP8X4 \
	VMULPD.BCST       tokexp<>+72(SB), Z0, Z1 \
	VMULPD.BCST       tokexp<>+72(SB), Z6, Z7 \
	VMULPD.BCST       tokexp<>+72(SB), Z12, Z13 \
	VMULPD.BCST       tokexp<>+72(SB), Z18, Z19 \
	VCVTPD2DQ         Z1, Y4 \
	VCVTPD2DQ         Z7, Y10 \
	VCVTPD2DQ         Z13, Y16 \
	VCVTPD2DQ         Z19, Y22 \
	VCVTDQ2PD         Y4, Z3 \
	VCVTDQ2PD         Y10, Z9 \
	VCVTDQ2PD         Y16, Z15 \
	VCVTDQ2PD         Y22, Z21 \
	VPMOVSXDQ         Y4, Z4 \
	VPMOVSXDQ         Y10, Z10 \
	VPMOVSXDQ         Y16, Z16 \
	VPMOVSXDQ         Y22, Z22 \
	VMOVAPD           Z0, Z1 \
	VMOVAPD           Z6, Z7 \
	VMOVAPD           Z12, Z13 \
	VMOVAPD           Z18, Z19 \
	VFNMADD231PD.BCST tokexp<>+80(SB), Z3, Z1 \
	VFNMADD231PD.BCST tokexp<>+80(SB), Z9, Z7 \
	VFNMADD231PD.BCST tokexp<>+80(SB), Z15, Z13 \
	VFNMADD231PD.BCST tokexp<>+80(SB), Z21, Z19 \
	VFNMADD231PD.BCST tokexp<>+88(SB), Z3, Z1 \
	VFNMADD231PD.BCST tokexp<>+88(SB), Z9, Z7 \
	VFNMADD231PD.BCST tokexp<>+88(SB), Z15, Z13 \
	VFNMADD231PD.BCST tokexp<>+88(SB), Z21, Z19 \
	VMULPD.BCST       tokexp<>+96(SB), Z1, Z1 \
	VMULPD.BCST       tokexp<>+96(SB), Z7, Z7 \
	VMULPD.BCST       tokexp<>+96(SB), Z13, Z13 \
	VMULPD.BCST       tokexp<>+96(SB), Z19, Z19 \
	VBROADCASTSD      tokexp<>+64(SB), Z2 \
	VBROADCASTSD      tokexp<>+64(SB), Z8 \
	VBROADCASTSD      tokexp<>+64(SB), Z14 \
	VBROADCASTSD      tokexp<>+64(SB), Z20 \
	VFMADD213PD.BCST  tokexp<>+56(SB), Z1, Z2 \
	VFMADD213PD.BCST  tokexp<>+56(SB), Z7, Z8 \
	VFMADD213PD.BCST  tokexp<>+56(SB), Z13, Z14 \
	VFMADD213PD.BCST  tokexp<>+56(SB), Z19, Z20 \
	VFMADD213PD.BCST  tokexp<>+48(SB), Z1, Z2 \
	VFMADD213PD.BCST  tokexp<>+48(SB), Z7, Z8 \
	VFMADD213PD.BCST  tokexp<>+48(SB), Z13, Z14 \
	VFMADD213PD.BCST  tokexp<>+48(SB), Z19, Z20 \
	VFMADD213PD.BCST  tokexp<>+40(SB), Z1, Z2 \
	VFMADD213PD.BCST  tokexp<>+40(SB), Z7, Z8 \
	VFMADD213PD.BCST  tokexp<>+40(SB), Z13, Z14 \
	VFMADD213PD.BCST  tokexp<>+40(SB), Z19, Z20 \
	VFMADD213PD.BCST  tokexp<>+32(SB), Z1, Z2 \
	VFMADD213PD.BCST  tokexp<>+32(SB), Z7, Z8 \
	VFMADD213PD.BCST  tokexp<>+32(SB), Z13, Z14 \
	VFMADD213PD.BCST  tokexp<>+32(SB), Z19, Z20 \
	VFMADD213PD.BCST  tokexp<>+24(SB), Z1, Z2 \
	VFMADD213PD.BCST  tokexp<>+24(SB), Z7, Z8 \
	VFMADD213PD.BCST  tokexp<>+24(SB), Z13, Z14 \
	VFMADD213PD.BCST  tokexp<>+24(SB), Z19, Z20 \
	VFMADD213PD.BCST  tokexp<>+0(SB), Z1, Z2 \
	VFMADD213PD.BCST  tokexp<>+0(SB), Z7, Z8 \
	VFMADD213PD.BCST  tokexp<>+0(SB), Z13, Z14 \
	VFMADD213PD.BCST  tokexp<>+0(SB), Z19, Z20 \
	VFMADD213PD.BCST  tokexp<>+8(SB), Z1, Z2 \
	VFMADD213PD.BCST  tokexp<>+8(SB), Z7, Z8 \
	VFMADD213PD.BCST  tokexp<>+8(SB), Z13, Z14 \
	VFMADD213PD.BCST  tokexp<>+8(SB), Z19, Z20 \
	VMULPD            Z2, Z1, Z1 \
	VMULPD            Z8, Z7, Z7 \
	VMULPD            Z14, Z13, Z13 \
	VMULPD            Z20, Z19, Z19 \
	VADDPD.BCST       tokexp<>+16(SB), Z1, Z2 \
	VADDPD.BCST       tokexp<>+16(SB), Z7, Z8 \
	VADDPD.BCST       tokexp<>+16(SB), Z13, Z14 \
	VADDPD.BCST       tokexp<>+16(SB), Z19, Z20 \
	VMULPD            Z2, Z1, Z1 \
	VMULPD            Z8, Z7, Z7 \
	VMULPD            Z14, Z13, Z13 \
	VMULPD            Z20, Z19, Z19 \
	VADDPD.BCST       tokexp<>+16(SB), Z1, Z2 \
	VADDPD.BCST       tokexp<>+16(SB), Z7, Z8 \
	VADDPD.BCST       tokexp<>+16(SB), Z13, Z14 \
	VADDPD.BCST       tokexp<>+16(SB), Z19, Z20 \
	VMULPD            Z2, Z1, Z1 \
	VMULPD            Z8, Z7, Z7 \
	VMULPD            Z14, Z13, Z13 \
	VMULPD            Z20, Z19, Z19 \
	VADDPD.BCST       tokexp<>+16(SB), Z1, Z2 \
	VADDPD.BCST       tokexp<>+16(SB), Z7, Z8 \
	VADDPD.BCST       tokexp<>+16(SB), Z13, Z14 \
	VADDPD.BCST       tokexp<>+16(SB), Z19, Z20 \
	VMULPD            Z2, Z1, Z1 \
	VMULPD            Z8, Z7, Z7 \
	VMULPD            Z14, Z13, Z13 \
	VMULPD            Z20, Z19, Z19 \
	VADDPD.BCST       tokexp<>+16(SB), Z1, Z2 \
	VADDPD.BCST       tokexp<>+16(SB), Z7, Z8 \
	VADDPD.BCST       tokexp<>+16(SB), Z13, Z14 \
	VADDPD.BCST       tokexp<>+16(SB), Z19, Z20 \
	VFMADD213PD.BCST  tokexp<>+8(SB), Z2, Z1 \
	VFMADD213PD.BCST  tokexp<>+8(SB), Z8, Z7 \
	VFMADD213PD.BCST  tokexp<>+8(SB), Z14, Z13 \
	VFMADD213PD.BCST  tokexp<>+8(SB), Z20, Z19 \
	VPADDQ.BCST       tokexp<>+136(SB), Z4, Z4 \
	VPADDQ.BCST       tokexp<>+136(SB), Z10, Z10 \
	VPADDQ.BCST       tokexp<>+136(SB), Z16, Z16 \
	VPADDQ.BCST       tokexp<>+136(SB), Z22, Z22 \
	VPSLLQ            $52, Z4, Z5 \
	VPSLLQ            $52, Z10, Z11 \
	VPSLLQ            $52, Z16, Z17 \
	VPSLLQ            $52, Z22, Z23 \
	VMULPD            Z5, Z1, Z5 \
	VMULPD            Z11, Z7, Z11 \
	VMULPD            Z17, Z13, Z17 \
	VMULPD            Z23, Z19, Z23 \
	VPADDQ.BCST       tokexp<>+144(SB), Z4, Z3 \
	VPADDQ.BCST       tokexp<>+144(SB), Z10, Z9 \
	VPADDQ.BCST       tokexp<>+144(SB), Z16, Z15 \
	VPADDQ.BCST       tokexp<>+144(SB), Z22, Z21 \
	VPSLLQ            $52, Z3, Z3 \
	VPSLLQ            $52, Z9, Z9 \
	VPSLLQ            $52, Z15, Z15 \
	VPSLLQ            $52, Z21, Z21 \
	VMULPD            Z3, Z1, Z3 \
	VMULPD            Z9, Z7, Z9 \
	VMULPD            Z15, Z13, Z15 \
	VMULPD            Z21, Z19, Z21 \
	VMULPD.BCST       tokexp<>+168(SB), Z3, Z3 \
	VMULPD.BCST       tokexp<>+168(SB), Z9, Z9 \
	VMULPD.BCST       tokexp<>+168(SB), Z15, Z15 \
	VMULPD.BCST       tokexp<>+168(SB), Z21, Z21 \
	VPCMPQ            $2, Z31, Z4, K1 \
	VMOVAPD           Z3, K1, Z5 \
	VPCMPQ            $2, Z31, Z10, K1 \
	VMOVAPD           Z9, K1, Z11 \
	VPCMPQ            $2, Z31, Z16, K1 \
	VMOVAPD           Z15, K1, Z17 \
	VPCMPQ            $2, Z31, Z22, K1 \
	VMOVAPD           Z21, K1, Z23 \
	VPCMPQ.BCST       $1, tokexp<>+160(SB), Z4, K1 \
	VMOVAPD           Z31, K1, Z5 \
	VPCMPQ.BCST       $1, tokexp<>+160(SB), Z10, K1 \
	VMOVAPD           Z31, K1, Z11 \
	VPCMPQ.BCST       $1, tokexp<>+160(SB), Z16, K1 \
	VMOVAPD           Z31, K1, Z17 \
	VPCMPQ.BCST       $1, tokexp<>+160(SB), Z22, K1 \
	VMOVAPD           Z31, K1, Z23 \
	VPCMPQ.BCST       $5, tokexp<>+152(SB), Z4, K1 \
	VMOVAPD           Z30, K1, Z5 \
	VPCMPQ.BCST       $5, tokexp<>+152(SB), Z10, K1 \
	VMOVAPD           Z30, K1, Z11 \
	VPCMPQ.BCST       $5, tokexp<>+152(SB), Z16, K1 \
	VMOVAPD           Z30, K1, Z17 \
	VPCMPQ.BCST       $5, tokexp<>+152(SB), Z22, K1 \
	VMOVAPD           Z30, K1, Z23 \
	VCMPPD.BCST       $0x1E, tokexp<>+104(SB), Z0, K1 \
	VMOVAPD           Z30, K1, Z5 \
	VCMPPD.BCST       $0x1E, tokexp<>+104(SB), Z6, K1 \
	VMOVAPD           Z30, K1, Z11 \
	VCMPPD.BCST       $0x1E, tokexp<>+104(SB), Z12, K1 \
	VMOVAPD           Z30, K1, Z17 \
	VCMPPD.BCST       $0x1E, tokexp<>+104(SB), Z18, K1 \
	VMOVAPD           Z30, K1, Z23 \
	VPANDQ.BCST       tokexp<>+128(SB), Z0, Z3 \
	VPANDQ.BCST       tokexp<>+128(SB), Z6, Z9 \
	VPANDQ.BCST       tokexp<>+128(SB), Z12, Z15 \
	VPANDQ.BCST       tokexp<>+128(SB), Z18, Z21 \
	VPCMPQ            $5, Z30, Z3, K1 \
	VMOVAPD           Z0, K1, Z5 \
	VPCMPQ            $5, Z30, Z9, K1 \
	VMOVAPD           Z6, K1, Z11 \
	VPCMPQ            $5, Z30, Z15, K1 \
	VMOVAPD           Z12, K1, Z17 \
	VPCMPQ            $5, Z30, Z21, K1 \
	VMOVAPD           Z18, K1, Z23 \
	VPCMPQ.BCST       $0, tokexp<>+120(SB), Z0, K1 \
	VMOVAPD           Z31, K1, Z5 \
	VPCMPQ.BCST       $0, tokexp<>+120(SB), Z6, K1 \
	VMOVAPD           Z31, K1, Z11 \
	VPCMPQ.BCST       $0, tokexp<>+120(SB), Z12, K1 \
	VMOVAPD           Z31, K1, Z17 \
	VPCMPQ.BCST       $0, tokexp<>+120(SB), Z18, K1 \
	VMOVAPD           Z31, K1, Z23

// GATHER8 sets dst to float64 of the float32 at base+off+4·idx[l] of each
// lane l selected by the bits of BX (tmp: a Y register, and K7); other
// lanes keep what tmp held.
#define GATHER8(off, base, idx, tmp, dst) \
	KMOVW      BX, K7                     \
	VGATHERDPS off(base)(idx*4), K7, tmp  \
	VCVTPS2PD  tmp, dst

// func expLanes8(dst, src *[8]float64)
//
// dst[l] = math.Exp(src[l]) by EXP8, for tests. Needs AVX-512F and FMA.
TEXT ·expLanes8(SB), NOSPLIT, $0-16
	MOVQ    dst+0(FP), DI
	MOVQ    src+8(FP), SI
	EXPCONST
	VMOVUPD (SI), Z0
	EXP8
	VMOVUPD Z5, (DI)
	VZEROUPPER
	RET

// func expLanes32(dst, src *[32]float64)
//
// dst[l] = math.Exp(src[l]) by EXP8X4, for tests. Needs AVX-512F and FMA.
TEXT ·expLanes32(SB), NOSPLIT, $0-16
	MOVQ    dst+0(FP), DI
	MOVQ    src+8(FP), SI
	EXPCONST
	VMOVUPD (SI), Z0
	VMOVUPD 64(SI), Z6
	VMOVUPD 128(SI), Z12
	VMOVUPD 192(SI), Z18
	EXP8X4
	VMOVUPD Z5, (DI)
	VMOVUPD Z11, 64(DI)
	VMOVUPD Z17, 128(DI)
	VMOVUPD Z23, 192(DI)
	VZEROUPPER
	RET

// func tokLse8(out *[24]float64, x, w *float32, idx *[8]int32, v, mask int, scr *float64)
//
// For each lane l selected by the bits of mask, a row of x and w [·, v]
// at element offset idx[l]: out[l] = the row's maximum as math.Max
// chains keep it (from −Inf: +Inf over NaN, NaN (math.NaN()) over the
// rest, +0 over −0); out[8+l] = Σ_j math.Exp(x_j − max) and out[16+l] =
// Σ_j w_j, each sum from 0, j ascending, one float64 addition at a time.
// It leaves x and w as float64 in scr [2v][8]: x_j of lane l at
// scr[8j+l], w_j at scr[8(v+j)+l] (other lanes garbage), for tokDot8.
// v ≥ 1. Needs AVX-512F, AVX-512VL and FMA.
TEXT ·tokLse8(SB), NOSPLIT, $0-56
	MOVQ      out+0(FP), DI
	MOVQ      x+8(FP), SI
	MOVQ      w+16(FP), DX
	MOVQ      idx+24(FP), AX
	MOVQ      v+32(FP), CX
	MOVQ      mask+40(FP), BX
	MOVQ      scr+48(FP), R11
	EXPCONST
	VMOVDQU32 (AX), Y28
	VPXORQ    Z5, Z5, Z5
	VPXORQ    Z11, Z11, Z11
	MOVQ      CX, R12
	SHLQ      $6, R12 // 8v float64s: from x's to w's in scr

	// The maximum over the lanes' non-NaN values as int64 keys: the bits,
	// all but the sign flipped when negative, order as the values do
	// (−0 below +0).
	VPBROADCASTQ tokexp<>+128(SB), Z27
	VPBROADCASTQ tokexp<>+120(SB), Z0
	VPSRAQ       $63, Z0, Z24
	VPANDQ       Z27, Z24, Z24
	VPXORQ       Z0, Z24, Z24 // key of −Inf
	VMOVAPD      Z31, Z25     // Σw
	KXORW        K6, K6, K6   // lanes that saw a NaN
	MOVQ         R11, R8
	MOVQ         CX, R10

lsemax:
	GATHER8(0, SI, Y28, Y5, Z0)
	VMOVUPD Z0, (R8)
	VPSRAQ  $63, Z0, Z1
	VPANDQ  Z27, Z1, Z1
	VPXORQ  Z0, Z1, Z1
	VCMPPD  $7, Z0, Z0, K2 // not NaN
	VPMAXSQ Z1, Z24, K2, Z24
	KNOTW   K2, K2
	KORW    K2, K6, K6
	GATHER8(0, DX, Y28, Y11, Z2)
	VMOVUPD Z2, (R8)(R12*1)
	VADDPD  Z2, Z25, Z25
	ADDQ    $4, SI
	ADDQ    $4, DX
	ADDQ    $64, R8
	DECQ    R10
	JNZ     lsemax

	VPSRAQ       $63, Z24, Z1
	VPANDQ       Z27, Z1, Z1
	VPXORQ       Z24, Z1, Z24     // the maximum
	VCMPPD       $0, Z30, Z24, K2 // +Inf
	KANDNW       K6, K2, K2       // NaN seen and no +Inf
	VBROADCASTSD tokexp<>+176(SB), Z1
	VMOVAPD      Z1, K2, Z24
	VMOVUPD      Z24, (DI)
	VMOVUPD      Z25, 128(DI)

	// Σ exp, four columns at a time, added in column order.
	VMOVAPD Z31, Z26
	MOVQ    R11, R8
	MOVQ    CX, R10
	SHRQ    $2, R10
	JEQ     lsesum1

lsesum4:
	VMOVUPD (R8), Z0
	VSUBPD  Z24, Z0, Z0
	VMOVUPD 64(R8), Z6
	VSUBPD  Z24, Z6, Z6
	VMOVUPD 128(R8), Z12
	VSUBPD  Z24, Z12, Z12
	VMOVUPD 192(R8), Z18
	VSUBPD  Z24, Z18, Z18
	EXP8X4
	VADDPD Z5, Z26, Z26
	VADDPD Z11, Z26, Z26
	VADDPD Z17, Z26, Z26
	VADDPD Z23, Z26, Z26
	ADDQ   $256, R8
	DECQ   R10
	JNZ    lsesum4

lsesum1:
	ANDQ $3, CX
	JEQ  lsedone

lsesum1loop:
	VMOVUPD (R8), Z0
	VSUBPD  Z24, Z0, Z0
	EXP8
	VADDPD Z5, Z26, Z26
	ADDQ   $64, R8
	DECQ   CX
	JNZ    lsesum1loop

lsedone:
	VMOVUPD Z26, 64(DI)
	VZEROUPPER
	RET

// func tokDot8(out *[8]float64, scr *float64, v int, lse *[8]float64)
//
// out[l] = Σ_{j: w_j ≠ 0} w_j·(x_j − lse[l]), from 0, j ascending, one
// float64 addition at a time, for x and w of lane l as tokLse8 left them
// in scr. v ≥ 1. Needs AVX-512F.
TEXT ·tokDot8(SB), NOSPLIT, $0-32
	MOVQ    out+0(FP), DI
	MOVQ    scr+8(FP), SI
	MOVQ    v+16(FP), CX
	MOVQ    lse+24(FP), R11
	MOVQ    CX, R12
	SHLQ    $6, R12
	VPXORQ  Z22, Z22, Z22
	VMOVUPD (R11), Z24
	VMOVAPD Z22, Z25

dotloop:
	VMOVUPD (SI)(R12*1), Z2
	VCMPPD  $4, Z22, Z2, K2 // w ≠ 0 (NaN included)
	VMOVUPD (SI), Z0
	VSUBPD  Z24, Z0, Z0
	VMULPD  Z0, Z2, Z0
	VADDPD  Z0, Z25, K2, Z25
	ADDQ    $64, SI
	DECQ    CX
	JNZ     dotloop

	VMOVUPD Z25, (DI)
	VZEROUPPER
	RET

// GRADOUT stores float32(gi·(w − e·sw)) at off(DI), e in Z(e), w the
// float32 at off(DX), gi, lse, sw in Z24–Z26; t and ty a scratch register
// and its Y half.
#define GRADOUT(e, t, ty, off) \
	VMULPD    Z26, e, e       \
	VCVTPS2PD off(DX), t      \
	VSUBPD    e, t, t         \
	VMULPD    t, Z24, t       \
	VCVTPD2PS t, ty           \
	VMOVUPS   ty, off(DI)

// func tokGrad8(o, x, w *float32, n int, gi, lse, sw float64)
//
// o[j] = float32(gi·(w_j − math.Exp(x_j − lse)·sw)) in float64 for j < n,
// n a positive multiple of 8, 32 at a time then 8. Needs AVX-512F and
// FMA.
TEXT ·tokGrad8(SB), NOSPLIT, $0-56
	MOVQ         o+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         w+16(FP), DX
	MOVQ         n+24(FP), CX
	VBROADCASTSD gi+32(FP), Z24
	VBROADCASTSD lse+40(FP), Z25
	VBROADCASTSD sw+48(FP), Z26
	EXPCONST
	MOVQ         CX, R10
	SHRQ         $5, R10
	JEQ          grad8

grad32:
	VCVTPS2PD (SI), Z0
	VCVTPS2PD 32(SI), Z6
	VCVTPS2PD 64(SI), Z12
	VCVTPS2PD 96(SI), Z18
	VSUBPD    Z25, Z0, Z0
	VSUBPD    Z25, Z6, Z6
	VSUBPD    Z25, Z12, Z12
	VSUBPD    Z25, Z18, Z18
	EXP8X4
	GRADOUT(Z5, Z3, Y3, 0)
	GRADOUT(Z11, Z9, Y9, 32)
	GRADOUT(Z17, Z15, Y15, 64)
	GRADOUT(Z23, Z21, Y21, 96)
	ADDQ      $128, SI
	ADDQ      $128, DX
	ADDQ      $128, DI
	DECQ      R10
	JNZ       grad32

grad8:
	ANDQ $31, CX
	SHRQ $3, CX
	JEQ  graddone

grad8loop:
	VCVTPS2PD (SI), Z0
	VSUBPD    Z25, Z0, Z0
	EXP8
	GRADOUT(Z5, Z3, Y3, 0)
	ADDQ      $32, SI
	ADDQ      $32, DX
	ADDQ      $32, DI
	DECQ      CX
	JNZ       grad8loop

graddone:
	VZEROUPPER
	RET
