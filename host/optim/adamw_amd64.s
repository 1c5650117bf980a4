#include "textflag.h"

// func adamwApply8(data, grad *float32, ms, vs *float64, n int, h *adamwConsts) float64
//
// adamwApply for n values, n a multiple of 8, eight at a time with the
// same float64 operations in the same order (no FMA):
//
//	x = float64(data)·decay
//	m = β1·m + (1−β1)·g
//	v = β2·v + ((1−β2)·g)·g
//	x = x − (stepSize·m) / (√v/bc2Sqrt + ε)
//
// and returns max |m| written. h holds β1, 1−β1, β2, 1−β2, ε, decay,
// stepSize, bc2Sqrt. Needs AVX-512F.
TEXT ·adamwApply8(SB), NOSPLIT, $0-56
	MOVQ data+0(FP), DI
	MOVQ grad+8(FP), SI
	MOVQ ms+16(FP), R8
	MOVQ vs+24(FP), R9
	MOVQ n+32(FP), CX
	MOVQ h+40(FP), AX
	VBROADCASTSD 0(AX), Z20  // β1
	VBROADCASTSD 8(AX), Z21  // 1−β1
	VBROADCASTSD 16(AX), Z22 // β2
	VBROADCASTSD 24(AX), Z23 // 1−β2
	VBROADCASTSD 32(AX), Z24 // ε
	VBROADCASTSD 40(AX), Z25 // decay
	VBROADCASTSD 48(AX), Z26 // stepSize
	VBROADCASTSD 56(AX), Z27 // bc2Sqrt
	VPXORQ Z15, Z15, Z15     // max |m|
	MOVQ $0x7fffffffffffffff, DX
	VPBROADCASTQ DX, Z14     // |·| mask
	SHRQ $3, CX
	JEQ  adamwdone

adamwloop:
	VCVTPS2PD (SI), Z0 // g
	VCVTPS2PD (DI), Z1 // x
	VMULPD    Z25, Z1, Z1
	VMULPD    (R8), Z20, Z2 // β1·m
	VMULPD    Z0, Z21, Z3   // (1−β1)·g
	VADDPD    Z3, Z2, Z2    // m
	VMULPD    (R9), Z22, Z4 // β2·v
	VMULPD    Z0, Z23, Z5   // (1−β2)·g
	VMULPD    Z0, Z5, Z5    // ·g
	VADDPD    Z5, Z4, Z4    // v
	VSQRTPD   Z4, Z6
	VDIVPD    Z27, Z6, Z6
	VADDPD    Z24, Z6, Z6
	VMULPD    Z2, Z26, Z7 // stepSize·m
	VDIVPD    Z6, Z7, Z7
	VSUBPD    Z7, Z1, Z1
	VMOVUPD   Z2, (R8)
	VMOVUPD   Z4, (R9)
	VCVTPD2PS Z1, Y1
	VMOVUPS   Y1, (DI)
	VPANDQ    Z14, Z2, Z2
	VMAXPD    Z2, Z15, Z15
	ADDQ      $32, SI
	ADDQ      $32, DI
	ADDQ      $64, R8
	ADDQ      $64, R9
	DECQ      CX
	JNZ       adamwloop

adamwdone:
	VEXTRACTF64X4 $1, Z15, Y1
	VMAXPD        Y1, Y15, Y15
	VEXTRACTF128  $1, Y15, X1
	VMAXPD        X1, X15, X15
	VPERMILPD     $1, X15, X1
	VMAXSD        X1, X15, X15
	VMOVSD        X15, ret+48(FP)
	VZEROUPPER
	RET
