#include "textflag.h"

// func colSums64(o, x *float32, rows, ldx int)
//
// o[j] = x[j] + x[ldx+j] + … + x[(rows−1)·ldx+j] for j < 64, the rows
// added one at a time in order, as float32 additions (no reassociation),
// 16 lanes at a time. rows ≥ 1. Needs AVX-512F.
TEXT ·colSums64(SB), NOSPLIT, $0-32
	MOVQ o+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ rows+16(FP), CX
	MOVQ ldx+24(FP), DX
	SHLQ $2, DX
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z1
	VMOVUPS 128(SI), Z2
	VMOVUPS 192(SI), Z3
	DECQ CX
	JEQ  colSums64store

colSums64loop:
	ADDQ   DX, SI
	VADDPS (SI), Z0, Z0
	VADDPS 64(SI), Z1, Z1
	VADDPS 128(SI), Z2, Z2
	VADDPS 192(SI), Z3, Z3
	DECQ   CX
	JNZ    colSums64loop

colSums64store:
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	VZEROUPPER
	RET

// func colSums16(o, x *float32, rows, ldx int)
//
// As colSums64 for 16 columns. Needs AVX-512F.
TEXT ·colSums16(SB), NOSPLIT, $0-32
	MOVQ o+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ rows+16(FP), CX
	MOVQ ldx+24(FP), DX
	SHLQ $2, DX
	VMOVUPS (SI), Z0
	DECQ CX
	JEQ  colSums16store

colSums16loop:
	ADDQ   DX, SI
	VADDPS (SI), Z0, Z0
	DECQ   CX
	JNZ    colSums16loop

colSums16store:
	VMOVUPS Z0, (DI)
	VZEROUPPER
	RET

// func colSums128(o, x *float32, rows, ldx int)
//
// As colSums64 for 128 columns. Needs AVX-512F.
TEXT ·colSums128(SB), NOSPLIT, $0-32
	MOVQ    o+0(FP), DI
	MOVQ    x+8(FP), SI
	MOVQ    rows+16(FP), CX
	MOVQ    ldx+24(FP), DX
	SHLQ    $2, DX
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z1
	VMOVUPS 128(SI), Z2
	VMOVUPS 192(SI), Z3
	VMOVUPS 256(SI), Z4
	VMOVUPS 320(SI), Z5
	VMOVUPS 384(SI), Z6
	VMOVUPS 448(SI), Z7
	DECQ    CX
	JEQ     colSums128store

colSums128loop:
	ADDQ   DX, SI
	VADDPS (SI), Z0, Z0
	VADDPS 64(SI), Z1, Z1
	VADDPS 128(SI), Z2, Z2
	VADDPS 192(SI), Z3, Z3
	VADDPS 256(SI), Z4, Z4
	VADDPS 320(SI), Z5, Z5
	VADDPS 384(SI), Z6, Z6
	VADDPS 448(SI), Z7, Z7
	DECQ   CX
	JNZ    colSums128loop

colSums128store:
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	VMOVUPS Z4, 256(DI)
	VMOVUPS Z5, 320(DI)
	VMOVUPS Z6, 384(DI)
	VMOVUPS Z7, 448(DI)
	VZEROUPPER
	RET

// func colSums32(o, x *float32, rows, ldx int)
//
// As colSums64 for 32 columns. Needs AVX-512F.
TEXT ·colSums32(SB), NOSPLIT, $0-32
	MOVQ    o+0(FP), DI
	MOVQ    x+8(FP), SI
	MOVQ    rows+16(FP), CX
	MOVQ    ldx+24(FP), DX
	SHLQ    $2, DX
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z1
	DECQ    CX
	JEQ     colSums32store

colSums32loop:
	ADDQ   DX, SI
	VADDPS (SI), Z0, Z0
	VADDPS 64(SI), Z1, Z1
	DECQ   CX
	JNZ    colSums32loop

colSums32store:
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	VZEROUPPER
	RET

// func addRow16(o, y, b *float32, n int)
//
// o[j] = y[j] + b[j] for j < n, n a multiple of 16, in float32 (o may be
// y). Needs AVX-512F.
TEXT ·addRow16(SB), NOSPLIT, $0-32
	MOVQ o+0(FP), DI
	MOVQ y+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	SHRQ $4, CX
	JEQ  addRow16done

addRow16loop:
	VMOVUPS (SI), Z0
	VADDPS  (DX), Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DX
	ADDQ    $64, DI
	DECQ    CX
	JNZ     addRow16loop
	VZEROUPPER

addRow16done:
	RET

// func residualRow16(x, y, b *float32, n int)
//
// x[j] = x[j] + (y[j] + b[j]) for j < n, n a multiple of 16, in float32.
// Needs AVX-512F.
TEXT ·residualRow16(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), DI
	MOVQ y+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	SHRQ $4, CX
	JEQ  residualRow16done

residualRow16loop:
	VMOVUPS (SI), Z0
	VADDPS  (DX), Z0, Z0
	VMOVUPS (DI), Z1
	VADDPS  Z0, Z1, Z1
	VMOVUPS Z1, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DX
	ADDQ    $64, DI
	DECQ    CX
	JNZ     residualRow16loop
	VZEROUPPER

residualRow16done:
	RET

// func lnBwdXRow8(o, x, dy, gain *float32, n int, mu, r, mg, mgx float64)
//
// o[k] = float32(r·((g − mg) − ((x[k]−mu)·r)·mgx)) with g = dy[k]·gain[k],
// in float64, for k < n, n a multiple of 8: lnBwdX's second pass over a
// row, the same operations in the same order (no FMA). Needs AVX-512F.
TEXT ·lnBwdXRow8(SB), NOSPLIT, $0-72
	MOVQ         o+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         dy+16(FP), DX
	MOVQ         gain+24(FP), BX
	MOVQ         n+32(FP), CX
	VBROADCASTSD mu+40(FP), Z4
	VBROADCASTSD r+48(FP), Z5
	VBROADCASTSD mg+56(FP), Z6
	VBROADCASTSD mgx+64(FP), Z7
	SHRQ         $3, CX
	JEQ          lnxdone

lnxloop:
	VCVTPS2PD (DX), Z0
	VCVTPS2PD (BX), Z1
	VMULPD    Z1, Z0, Z0
	VCVTPS2PD (SI), Z2
	VSUBPD    Z4, Z2, Z2
	VMULPD    Z5, Z2, Z2
	VMULPD    Z7, Z2, Z2
	VSUBPD    Z6, Z0, Z0
	VSUBPD    Z2, Z0, Z0
	VMULPD    Z0, Z5, Z0
	VCVTPD2PS Z0, Y0
	VMOVUPS   Y0, (DI)
	ADDQ      $32, SI
	ADDQ      $32, DX
	ADDQ      $32, BX
	ADDQ      $32, DI
	DECQ      CX
	JNZ       lnxloop
	VZEROUPPER

lnxdone:
	RET

// func lnGainRow8(acc *float64, x, dy *float32, n int, mu, r float64)
//
// acc[k] = acc[k] + (dy[k]·(x[k]−mu))·r in float64 for k < n, n a
// multiple of 8: lnBwdGain's update for one row, the same operations in
// the same order (no FMA). Needs AVX-512F.
TEXT ·lnGainRow8(SB), NOSPLIT, $0-48
	MOVQ         acc+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         dy+16(FP), DX
	MOVQ         n+24(FP), CX
	VBROADCASTSD mu+32(FP), Z4
	VBROADCASTSD r+40(FP), Z5
	SHRQ         $3, CX
	JEQ          lngdone

lngloop:
	VCVTPS2PD (SI), Z0
	VSUBPD    Z4, Z0, Z0
	VCVTPS2PD (DX), Z1
	VMULPD    Z0, Z1, Z1
	VMULPD    Z5, Z1, Z1
	VMOVUPD   (DI), Z2
	VADDPD    Z1, Z2, Z2
	VMOVUPD   Z2, (DI)
	ADDQ      $32, SI
	ADDQ      $32, DX
	ADDQ      $64, DI
	DECQ      CX
	JNZ       lngloop
	VZEROUPPER

lngdone:
	RET

// func softmaxScale8(p *float64, s *float32, n int, scale float64) float64
//
// p[u] = float64(s[u])·scale for u < n, n a multiple of 8, and returns the
// largest p[u] that is not NaN (−Inf if none). Needs AVX-512F.
TEXT ·softmaxScale8(SB), NOSPLIT, $0-40
	MOVQ         p+0(FP), DI
	MOVQ         s+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSD scale+24(FP), Z4
	MOVQ         $0xfff0000000000000, AX // −Inf
	VPBROADCASTQ AX, Z5
	SHRQ         $3, CX
	JEQ          smsreduce

smsloop:
	VCVTPS2PD (SI), Z0
	VMULPD    Z4, Z0, Z0
	VMOVUPD   Z0, (DI)
	VMAXPD    Z5, Z0, Z5 // a NaN in Z0 yields Z5: NaN never becomes the maximum
	ADDQ      $32, SI
	ADDQ      $64, DI
	DECQ      CX
	JNZ       smsloop

smsreduce:
	VEXTRACTF64X4 $1, Z5, Y1
	VMAXPD        Y1, Y5, Y5
	VEXTRACTF128  $1, Y5, X1
	VMAXPD        X1, X5, X5
	VPERMILPD     $1, X5, X1
	VMAXSD        X1, X5, X5
	MOVSD         X5, ret+32(FP)
	VZEROUPPER
	RET

// func softmaxShift8(e *float32, p *float64, n int, mx float64)
//
// e[u] = float32(p[u] − mx) for u < n, n a multiple of 8. Needs AVX-512F.
TEXT ·softmaxShift8(SB), NOSPLIT, $0-32
	MOVQ         e+0(FP), DI
	MOVQ         p+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSD mx+24(FP), Z4
	SHRQ         $3, CX
	JEQ          smshdone

smshloop:
	VMOVUPD   (SI), Z0
	VSUBPD    Z4, Z0, Z0
	VCVTPD2PS Z0, Y0
	VMOVUPS   Y0, (DI)
	ADDQ      $64, SI
	ADDQ      $32, DI
	DECQ      CX
	JNZ       smshloop
	VZEROUPPER

smshdone:
	RET

// func softmaxDiv8(out, e *float32, n int, z float64)
//
// out[u] = float32(float64(e[u]) / z) for u < n, n a multiple of 8.
// Needs AVX-512F.
TEXT ·softmaxDiv8(SB), NOSPLIT, $0-32
	MOVQ         out+0(FP), DI
	MOVQ         e+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSD z+24(FP), Z4
	SHRQ         $3, CX
	JEQ          smddone

smdloop:
	VCVTPS2PD (SI), Z0
	VDIVPD    Z4, Z0, Z0
	VCVTPD2PS Z0, Y0
	VMOVUPS   Y0, (DI)
	ADDQ      $32, SI
	ADDQ      $32, DI
	DECQ      CX
	JNZ       smdloop
	VZEROUPPER

smddone:
	RET
