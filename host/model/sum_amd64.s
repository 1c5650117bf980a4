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
