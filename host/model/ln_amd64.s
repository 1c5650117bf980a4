#include "textflag.h"

// The LayerNorm kernels below do the scalar loops' operations in the same
// order, without FMA, so that their results have the scalar loops' bits
// (NaN signs and payloads aside in the gradients). The row sums
// (lnStats2x8, lnBwdX8) run eight rows at once, one row per float64 lane,
// on 8×8 blocks transposed in registers; the elementwise passes run 8 or
// 16 columns at a time. All need AVX-512F only.

// LOAD8 reads the eight float32 at p of rows 0..7 into Y0..Y7; p0, p3
// and p6 point into rows 0, 3 and 6, st is the row stride in bytes.
#define LOAD8(p0, p3, p6, st) \
	VMOVUPS (p0), Y0;       \
	VMOVUPS (p0)(st*1), Y1; \
	VMOVUPS (p0)(st*2), Y2; \
	VMOVUPS (p3), Y3;       \
	VMOVUPS (p3)(st*1), Y4; \
	VMOVUPS (p3)(st*2), Y5; \
	VMOVUPS (p6), Y6;       \
	VMOVUPS (p6)(st*1), Y7

// LOAD8Z is LOAD8 of the columns set in K1 only, the others zero; masked
// columns are not read.
#define LOAD8Z(p0, p3, p6, st) \
	VMOVUPS.Z (p0), K1, Z0;       \
	VMOVUPS.Z (p0)(st*1), K1, Z1; \
	VMOVUPS.Z (p0)(st*2), K1, Z2; \
	VMOVUPS.Z (p3), K1, Z3;       \
	VMOVUPS.Z (p3)(st*1), K1, Z4; \
	VMOVUPS.Z (p3)(st*2), K1, Z5; \
	VMOVUPS.Z (p6), K1, Z6;       \
	VMOVUPS.Z (p6)(st*1), K1, Z7

// TRANSPOSE8 transposes the 8×8 float32 matrix with rows Y0..Y7 and
// converts it to float64: Z8+j gets column j, row i in lane i. Y0..Y7 are
// overwritten.
#define TRANSPOSE8 \
	VUNPCKLPS  Y1, Y0, Y8;          \
	VUNPCKHPS  Y1, Y0, Y9;          \
	VUNPCKLPS  Y3, Y2, Y10;         \
	VUNPCKHPS  Y3, Y2, Y11;         \
	VUNPCKLPS  Y5, Y4, Y12;         \
	VUNPCKHPS  Y5, Y4, Y13;         \
	VUNPCKLPS  Y7, Y6, Y14;         \
	VUNPCKHPS  Y7, Y6, Y15;         \
	VSHUFPS    $0x44, Y10, Y8, Y0;  \
	VSHUFPS    $0xee, Y10, Y8, Y1;  \
	VSHUFPS    $0x44, Y11, Y9, Y2;  \
	VSHUFPS    $0xee, Y11, Y9, Y3;  \
	VSHUFPS    $0x44, Y14, Y12, Y4; \
	VSHUFPS    $0xee, Y14, Y12, Y5; \
	VSHUFPS    $0x44, Y15, Y13, Y6; \
	VSHUFPS    $0xee, Y15, Y13, Y7; \
	VPERM2F128 $0x20, Y4, Y0, Y8;   \
	VPERM2F128 $0x31, Y4, Y0, Y12;  \
	VPERM2F128 $0x20, Y5, Y1, Y9;   \
	VPERM2F128 $0x31, Y5, Y1, Y13;  \
	VPERM2F128 $0x20, Y6, Y2, Y10;  \
	VPERM2F128 $0x31, Y6, Y2, Y14;  \
	VPERM2F128 $0x20, Y7, Y3, Y11;  \
	VPERM2F128 $0x31, Y7, Y3, Y15;  \
	VCVTPS2PD  Y8, Z8;              \
	VCVTPS2PD  Y9, Z9;              \
	VCVTPS2PD  Y10, Z10;            \
	VCVTPS2PD  Y11, Z11;            \
	VCVTPS2PD  Y12, Z12;            \
	VCVTPS2PD  Y13, Z13;            \
	VCVTPS2PD  Y14, Z14;            \
	VCVTPS2PD  Y15, Z15

// ROWS sets the row pointers of LOAD8 for rows of base with stride st:
// p3 = base + 3·st, p6 = base + 6·st (tmp is clobbered).
#define ROWS(base, st, p3, p6, tmp) \
	LEAQ (st)(st*2), tmp;  \
	LEAQ (base)(tmp*1), p3; \
	LEAQ (p3)(tmp*1), p6

// TAILMASK sets K1 to the low n&7 bits and tail to n&7 (CX is clobbered).
#define TAILMASK(n, tail) \
	MOVQ n, CX;      \
	ANDQ $7, CX;     \
	MOVQ CX, tail;   \
	MOVL $1, AX;     \
	SHLL CX, AX;     \
	DECL AX;         \
	KMOVW AX, K1

// MEANSTEP adds column z to the sums acc and stores it at off(R15).
#define MEANSTEP(z, off, acc) \
	VMOVUPD z, off(R15); \
	VADDPD  z, acc, acc

// MEANSTEP8 adds the eight columns Z8..Z15 to acc in order and stores
// them 128 bytes apart from off(R15).
#define MEANSTEP8(off, acc) \
	MEANSTEP(Z8, off, acc);     \
	MEANSTEP(Z9, off+128, acc);  \
	MEANSTEP(Z10, off+256, acc); \
	MEANSTEP(Z11, off+384, acc); \
	MEANSTEP(Z12, off+512, acc); \
	MEANSTEP(Z13, off+640, acc); \
	MEANSTEP(Z14, off+768, acc); \
	MEANSTEP(Z15, off+896, acc)

// STORE8 stores the eight columns Z8..Z15 128 bytes apart from off(R15).
#define STORE8(off) \
	VMOVUPD Z8, off(R15);      \
	VMOVUPD Z9, off+128(R15);  \
	VMOVUPD Z10, off+256(R15); \
	VMOVUPD Z11, off+384(R15); \
	VMOVUPD Z12, off+512(R15); \
	VMOVUPD Z13, off+640(R15); \
	VMOVUPD Z14, off+768(R15); \
	VMOVUPD Z15, off+896(R15)

// func lnStats2x8(out *float64, xa, xb *float32, d int, eps float64, tmp *float64)
//
// For rows i = 0..7 of xa and of xb (d float32 each, d ≥ 1, consecutive;
// xb may equal xa): out[i] and out[8+i] = μ, out[16+i] and out[24+i] =
// (σ²+eps)^(−1/2) of xa's and xb's rows, computed as rowStats computes
// them. The two groups' sums are independent chains that run together.
// tmp holds 16·d float64 rounded up to a multiple of 128.
TEXT ·lnStats2x8(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ xa+8(FP), SI
	MOVQ xb+16(FP), R11
	MOVQ tmp+40(FP), R15
	MOVQ d+24(FP), R8
	TAILMASK(R8, DX)
	SHLQ $2, R8                  // row stride in bytes
	ROWS(SI, R8, R9, R10, AX)
	ROWS(R11, R8, R12, R13, AX)
	MOVQ d+24(FP), BX
	SHRQ $3, BX                  // whole chunks of 8 columns
	VXORPD Z16, Z16, Z16
	VXORPD Z20, Z20, Z20
	TESTQ  BX, BX
	JEQ    meantail

meanloop:
	LOAD8(SI, R9, R10, R8)
	TRANSPOSE8
	MEANSTEP8(0, Z16)
	LOAD8(R11, R12, R13, R8)
	TRANSPOSE8
	MEANSTEP8(64, Z20)
	ADDQ $32, SI
	ADDQ $32, R9
	ADDQ $32, R10
	ADDQ $32, R11
	ADDQ $32, R12
	ADDQ $32, R13
	ADDQ $1024, R15
	DECQ BX
	JNZ  meanloop

meantail:
	TESTQ DX, DX
	JEQ   meandone
	LOAD8Z(SI, R9, R10, R8)
	TRANSPOSE8
	STORE8(0)
	LOAD8Z(R11, R12, R13, R8)
	TRANSPOSE8
	STORE8(64)

meantailloop:
	VADDPD (R15), Z16, Z16
	VADDPD 64(R15), Z20, Z20
	ADDQ   $128, R15
	DECQ   DX
	JNZ    meantailloop

meandone:
	MOVQ         d+24(FP), CX
	VCVTSI2SDQ   CX, X0, X0
	VBROADCASTSD X0, Z17        // d
	VDIVPD       Z17, Z16, Z16  // μ = Σx / d
	VDIVPD       Z17, Z20, Z20

	// Σ(x−μ)² over the columns kept in tmp, in order.
	MOVQ   tmp+40(FP), R15
	VXORPD Z18, Z18, Z18
	VXORPD Z21, Z21, Z21

varloop:
	VMOVUPD (R15), Z8
	VMOVUPD 64(R15), Z9
	VSUBPD  Z16, Z8, Z8
	VSUBPD  Z20, Z9, Z9
	VMULPD  Z8, Z8, Z8
	VMULPD  Z9, Z9, Z9
	VADDPD  Z8, Z18, Z18
	VADDPD  Z9, Z21, Z21
	ADDQ    $128, R15
	DECQ    CX
	JNZ     varloop

	VDIVPD       Z17, Z18, Z18      // σ² = Σ(x−μ)² / d
	VDIVPD       Z17, Z21, Z21
	VBROADCASTSD eps+32(FP), Z19
	VADDPD       Z19, Z18, Z18
	VADDPD       Z19, Z21, Z21
	VSQRTPD      Z18, Z18
	VSQRTPD      Z21, Z21
	MOVQ         $0x3ff0000000000000, AX // 1.0
	VPBROADCASTQ AX, Z19
	VDIVPD       Z18, Z19, Z18      // 1 / √(σ²+eps)
	VDIVPD       Z21, Z19, Z21
	VMOVUPD      Z16, (DI)
	VMOVUPD      Z20, 64(DI)
	VMOVUPD      Z18, 128(DI)
	VMOVUPD      Z21, 192(DI)
	VZEROUPPER
	RET

// func lnNormRow8(y, x, gain, bias *float32, n int, mu, r float64)
//
// y[k] = float32((x[k]−mu)·r)·gain[k] + bias[k] for k < n, n a multiple
// of 8: layerNormRowsStats's normalisation of one row, the same
// operations in the same order (no FMA).
TEXT ·lnNormRow8(SB), NOSPLIT, $0-56
	MOVQ         y+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         gain+16(FP), DX
	MOVQ         bias+24(FP), BX
	MOVQ         n+32(FP), CX
	VBROADCASTSD mu+40(FP), Z4
	VBROADCASTSD r+48(FP), Z5
	SHLQ         $2, CX
	XORQ         AX, AX
	TESTQ        $32, CX
	JEQ          normpairs
	VCVTPS2PD    (SI), Z0
	VSUBPD       Z4, Z0, Z0
	VMULPD       Z5, Z0, Z0
	VCVTPD2PS    Z0, Y0
	VMULPS       (DX), Y0, Y0
	VADDPS       (BX), Y0, Y0
	VMOVUPS      Y0, (DI)
	MOVQ         $32, AX

normpairs:
	CMPQ AX, CX
	JGE  normdone

normloop:
	VCVTPS2PD     (SI)(AX*1), Z0
	VCVTPS2PD     32(SI)(AX*1), Z1
	VSUBPD        Z4, Z0, Z0
	VSUBPD        Z4, Z1, Z1
	VMULPD        Z5, Z0, Z0
	VMULPD        Z5, Z1, Z1
	VCVTPD2PS     Z0, Y0
	VCVTPD2PS     Z1, Y1
	VINSERTF64X4  $1, Y1, Z0, Z0
	VMULPS        (DX)(AX*1), Z0, Z0
	VADDPS        (BX)(AX*1), Z0, Z0
	VMOVUPS       Z0, (DI)(AX*1)
	ADDQ          $64, AX
	CMPQ          AX, CX
	JLT           normloop

normdone:
	VZEROUPPER
	RET

// GRAD multiplies dy column Z8+j by gain[k+j] (gain in R13) into g.
#define GRAD(j, z, g) VMULPD.BCST (8*j)(R13), z, g

// DXSTEP adds g to the sums Z24 and (g·(x−μ))·r to the sums Z25, x the
// column z, μ in Z26, r in Z27.
#define DXSTEP(z, g) \
	VSUBPD Z26, z, z;   \
	VMULPD z, g, z;     \
	VMULPD Z27, z, z;   \
	VADDPD g, Z24, Z24; \
	VADDPD z, Z25, Z25

#define GRAD8 \
	GRAD(0, Z8, Z16);  \
	GRAD(1, Z9, Z17);  \
	GRAD(2, Z10, Z18); \
	GRAD(3, Z11, Z19); \
	GRAD(4, Z12, Z20); \
	GRAD(5, Z13, Z21); \
	GRAD(6, Z14, Z22); \
	GRAD(7, Z15, Z23)

// DXROW writes 8 outputs of lnBwdXRow8 at byte offset AX of o, x (SI)
// and dy (DX), 2·AX of the float64 gain (BX), μ, r, mg, mgx in Z4..Z7,
// using z0, z2 and Y8.
#define DXROW(o, z0, z2) \
	VCVTPS2PD (DX)(AX*1), z0;     \
	VMULPD    (BX)(AX*2), z0, z0; \
	VCVTPS2PD (SI)(AX*1), z2;     \
	VSUBPD    Z4, z2, z2;         \
	VMULPD    Z5, z2, z2;         \
	VMULPD    Z7, z2, z2;         \
	VSUBPD    Z6, z0, z0;         \
	VSUBPD    z2, z0, z0;         \
	VMULPD    z0, Z5, z0;         \
	VCVTPD2PS z0, Y8;             \
	VMOVUPS   Y8, (o)(AX*1)

// func lnBwdX8(means *float64, o, x, dy *float32, gain, musr *float64, d, first int)
//
// lnBwdX of rows i = 0..7 of x and dy (d float32 each, d ≥ 1,
// consecutive) with μ = musr[i], r = musr[8+i]: means[i] = mg = Σ_k g / d
// and means[8+i] = mgx = Σ_k g·(x−μ)·r / d, g = dy·gain[k], k ascending,
// summed one row per lane as lnBwdX sums them; then for rows first..7,
// o[k] = float32(r·((g − mg) − ((x−μ)·r)·mgx)) for k < d rounded down to
// a multiple of 8, with the operations and operand order of lnBwdXRow8.
// gain holds d float64 padded with zeros to a multiple of 8.
TEXT ·lnBwdX8(SB), NOSPLIT, $0-64
	MOVQ means+0(FP), DI
	MOVQ x+16(FP), SI
	MOVQ dy+24(FP), DX
	MOVQ gain+32(FP), R13
	MOVQ musr+40(FP), AX
	VMOVUPD (AX), Z26
	VMOVUPD 64(AX), Z27
	MOVQ d+48(FP), R8
	TAILMASK(R8, R15)
	SHLQ $2, R8
	ROWS(SI, R8, R9, R10, AX)
	ROWS(DX, R8, R11, R12, AX)
	MOVQ d+48(FP), BX
	SHRQ $3, BX
	VXORPD Z24, Z24, Z24
	VXORPD Z25, Z25, Z25
	TESTQ BX, BX
	JEQ   dxtail

dxloop:
	LOAD8(DX, R11, R12, R8)
	TRANSPOSE8
	GRAD8
	LOAD8(SI, R9, R10, R8)
	TRANSPOSE8
	DXSTEP(Z8, Z16)
	DXSTEP(Z9, Z17)
	DXSTEP(Z10, Z18)
	DXSTEP(Z11, Z19)
	DXSTEP(Z12, Z20)
	DXSTEP(Z13, Z21)
	DXSTEP(Z14, Z22)
	DXSTEP(Z15, Z23)
	ADDQ $32, SI
	ADDQ $32, R9
	ADDQ $32, R10
	ADDQ $32, DX
	ADDQ $32, R11
	ADDQ $32, R12
	ADDQ $64, R13
	DECQ BX
	JNZ  dxloop

dxtail:
	TESTQ R15, R15
	JEQ   dxdone
	LOAD8Z(DX, R11, R12, R8)
	TRANSPOSE8
	GRAD8
	LOAD8Z(SI, R9, R10, R8)
	TRANSPOSE8
	DXSTEP(Z8, Z16)
	CMPQ R15, $1
	JEQ  dxdone
	DXSTEP(Z9, Z17)
	CMPQ R15, $2
	JEQ  dxdone
	DXSTEP(Z10, Z18)
	CMPQ R15, $3
	JEQ  dxdone
	DXSTEP(Z11, Z19)
	CMPQ R15, $4
	JEQ  dxdone
	DXSTEP(Z12, Z20)
	CMPQ R15, $5
	JEQ  dxdone
	DXSTEP(Z13, Z21)
	CMPQ R15, $6
	JEQ  dxdone
	DXSTEP(Z14, Z22)

dxdone:
	MOVQ         d+48(FP), CX
	VCVTSI2SDQ   CX, X0, X0
	VBROADCASTSD X0, Z0
	VDIVPD       Z0, Z24, Z24     // mg
	VDIVPD       Z0, Z25, Z25     // mgx
	VMOVUPD      Z24, (DI)
	VMOVUPD      Z25, 64(DI)

	// The outputs, row by row.
	ANDQ  $-8, CX
	SHLQ  $2, CX                  // bytes of a row's whole chunks
	JEQ   dxrowsdone
	MOVQ  first+56(FP), R9        // row
	CMPQ  R9, $8
	JGE   dxrowsdone
	MOVQ  musr+40(FP), R10
	MOVQ  gain+32(FP), BX
	MOVQ  R9, R12
	IMULQ R8, R12                 // offset of row first
	MOVQ  o+8(FP), R11
	MOVQ  x+16(FP), SI
	MOVQ  dy+24(FP), DX
	ADDQ  R12, R11
	ADDQ  R12, SI
	ADDQ  R12, DX

dxrowloop:
	VBROADCASTSD (R10)(R9*8), Z4
	VBROADCASTSD 64(R10)(R9*8), Z5
	VBROADCASTSD (DI)(R9*8), Z6
	VBROADCASTSD 64(DI)(R9*8), Z7
	XORQ         AX, AX

dxcolloop:
	DXROW(R11, Z0, Z2)
	ADDQ $32, AX
	CMPQ AX, CX
	JLT  dxcolloop
	ADDQ R8, R11
	ADDQ R8, SI
	ADDQ R8, DX
	INCQ R9
	CMPQ R9, $8
	JLT  dxrowloop

dxrowsdone:
	VZEROUPPER
	RET

// func lnBwdXRow8g(o, x, dy *float32, gain *float64, n int, mu, r, mg, mgx float64)
//
// lnBwdXRow8 with gain in float64: o[k] = float32(r·((g − mg) −
// ((x[k]−mu)·r)·mgx)) with g = dy[k]·gain[k], in float64, for k < n, n a
// multiple of 8, the operations and operand order of lnBwdXRow8.
TEXT ·lnBwdXRow8g(SB), NOSPLIT, $0-72
	MOVQ         o+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         dy+16(FP), DX
	MOVQ         gain+24(FP), BX
	MOVQ         n+32(FP), CX
	VBROADCASTSD mu+40(FP), Z4
	VBROADCASTSD r+48(FP), Z5
	VBROADCASTSD mg+56(FP), Z6
	VBROADCASTSD mgx+64(FP), Z7
	SHLQ         $2, CX
	XORQ         AX, AX
	TESTQ        $32, CX
	JEQ          dxrpairs
	DXROW(DI, Z0, Z2)
	ADDQ         $32, AX

dxrpairs:
	CMPQ AX, CX
	JGE  dxrdone

dxrloop:
	DXROW(DI, Z0, Z2)
	ADDQ $32, AX
	DXROW(DI, Z10, Z12)
	ADDQ $32, AX
	CMPQ AX, CX
	JLT  dxrloop

dxrdone:
	VZEROUPPER
	RET

// func lnGainRows(acc *float64, x, dy *float32, stats *float64, rows, ld, n int)
//
// acc[k] += (dy[i·ld+k]·(x[i·ld+k]−μ_i))·r_i for k < n, n a multiple of 8,
// one row i at a time ascending from 0, μ_i = stats[2i], r_i =
// stats[2i+1]: lnBwdGain's sums, the operations and operand order of
// lnGainRow8, reading x and dy in order.
TEXT ·lnGainRows(SB), NOSPLIT, $0-56
	MOVQ  acc+0(FP), DI
	MOVQ  x+8(FP), SI
	MOVQ  dy+16(FP), DX
	MOVQ  stats+24(FP), BX
	MOVQ  rows+32(FP), CX
	MOVQ  ld+40(FP), R8
	MOVQ  n+48(FP), R9
	SHLQ  $2, R8
	SHLQ  $2, R9
	TESTQ CX, CX
	JEQ   grdone
	TESTQ R9, R9
	JEQ   grdone

growloop:
	VBROADCASTSD (BX), Z4
	VBROADCASTSD 8(BX), Z5
	XORQ         AX, AX

gcolloop:
	VCVTPS2PD (SI)(AX*1), Z0
	VSUBPD    Z4, Z0, Z0
	VCVTPS2PD (DX)(AX*1), Z1
	VMULPD    Z0, Z1, Z1
	VMULPD    Z5, Z1, Z1
	VMOVUPD   (DI)(AX*2), Z2
	VADDPD    Z1, Z2, Z2
	VMOVUPD   Z2, (DI)(AX*2)
	ADDQ      $32, AX
	CMPQ      AX, R9
	JLT       gcolloop
	ADDQ      $16, BX
	ADDQ      R8, SI
	ADDQ      R8, DX
	DECQ      CX
	JNZ       growloop
	VZEROUPPER

grdone:
	RET
