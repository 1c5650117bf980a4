package model

import (
	"math"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
)

// prefixTrie holds the distinct token prefixes of a set of rows. Node c is
// the prefix row[:depth(c)+1]; its value lp[c] is log p(tok[c] | prefix of
// parent[c]) and is computed from the forward pass of its parent. Because
// attention is causal, the hidden states of a position depend only on its
// prefix, so rows sharing a prefix (a prompt, a common completion start)
// share that work: every distinct prefix is computed once.
type prefixTrie struct {
	vocab  int
	tok    []int
	parent []int // −1 for depth-0 nodes
	depth  []int
	inner  []int // index among the nodes with children (computed), or −1
	nInner int
	child  map[int64]int // (parent+1)·vocab + tok → node
	lp     []float64
	// wpo asks trieForward for lpw too: lp − log Σ_v p(v)² per node.
	wpo bool
	lpw []float64
}

func newPrefixTrie(vocab int) *prefixTrie {
	return &prefixTrie{vocab: vocab, child: map[int64]int{}}
}

func (tr *prefixTrie) reset() {
	tr.tok, tr.parent, tr.depth, tr.inner = tr.tok[:0], tr.parent[:0], tr.depth[:0], tr.inner[:0]
	tr.nInner = 0
	clear(tr.child)
}

// insert adds every prefix of row and writes node(row[:j+1]) into ids[j].
func (tr *prefixTrie) insert(row []int, ids []int) {
	p := -1
	for j, t := range row {
		key := int64(p+1)*int64(tr.vocab) + int64(t)
		c, ok := tr.child[key]
		if !ok {
			c = len(tr.tok)
			tr.child[key] = c
			tr.tok = append(tr.tok, t)
			tr.parent = append(tr.parent, p)
			tr.depth = append(tr.depth, j)
			tr.inner = append(tr.inner, -1)
		}
		if p >= 0 && tr.inner[p] < 0 {
			tr.inner[p] = tr.nInner
			tr.nInner++
		}
		ids[j] = c
		p = c
	}
}

// fwdWeights are the parameters in the compute type F, indexed like
// Weights.data.
type fwdWeights[F float32 | float64] [][]F

func weightsAs[F float32 | float64](w *Weights, buf fwdWeights[F]) fwdWeights[F] {
	if f, ok := any(w.data).([][]F); ok {
		return f
	}
	if len(buf) != len(w.data) {
		buf = make(fwdWeights[F], len(w.data))
		for i, d := range w.data {
			buf[i] = make([]F, len(d))
		}
	}
	for i, d := range w.data {
		for j, x := range d {
			buf[i][j] = F(x)
		}
	}
	return buf
}

// trieForward runs the model over the inner (computed) nodes of tr, all
// nodes a layer at a time, and fills tr.lp for every node of depth ≥ 1.
// Depth-0 nodes get lp 0 (the first token of a row has no prediction).
//
// Every inner node goes through exactly the per-position arithmetic of the
// training graph (see the package documentation): the same functions, on
// the same operands, in the same order, so a prefix gets bit-identical
// activations and log-probs here and in the graph, whatever else is
// computed with it.
// Arithmetic is in F; the LayerNorm statistics, the softmax weights, the
// log-softmax normaliser and lp are formed in float64.
func trieForward[F float32 | float64](w *Weights, p fwdWeights[F], tr *prefixTrie, buf *fwdBuffers[F]) {
	cfg := w.cfg
	d, hid, vocab := cfg.Width, cfg.Hidden(), cfg.Vocab
	n, m := len(tr.tok), tr.nInner
	tr.lp = append(tr.lp[:0], make([]float64, n)...)
	if m == 0 {
		return
	}
	// node[i] is the trie node of inner index i; paths[pathAt[i]:pathAt[i+1]]
	// are the inner indices of its prefix positions 0..depth.
	node := buf.ints(&buf.node, m)
	pathAt := buf.ints(&buf.pathAt, m+1)
	for c, i := range tr.inner {
		if i >= 0 {
			node[i] = c
		}
	}
	pathAt[0] = 0
	for i, c := range node {
		pathAt[i+1] = pathAt[i] + tr.depth[c] + 1
	}
	paths := buf.ints(&buf.paths, pathAt[m])
	for i, c := range node {
		for a, k := c, pathAt[i+1]-1; k >= pathAt[i]; a, k = tr.parent[a], k-1 {
			paths[k] = tr.inner[a]
		}
	}

	idx := func(name string) []F { return p[w.index[name]] }
	x := grow(&buf.x, m*d)
	h := grow(&buf.h, m*d)
	y := grow(&buf.y, m*d)
	qkv := grow(&buf.qkv, m*3*d)
	att := grow(&buf.att, m*d)
	u := grow(&buf.u, m*hid)
	logits := grow(&buf.logits, m*vocab)
	tokW, posW := idx("tok.weight"), idx("pos.weight")
	for i, c := range node {
		xr, te, pe := x[i*d:(i+1)*d], tokW[tr.tok[c]*d:], posW[tr.depth[c]*d:]
		for k := range xr {
			xr[k] = te[k] + pe[k]
		}
	}
	for l := range cfg.Layers {
		pre := "blocks." + strconv.Itoa(l) + "."
		layerNormRows(h, x, idx(pre+"ln1.gain"), idx(pre+"ln1.bias"), m, d)
		linear(qkv, h, idx(pre+"attn.qkv.weight"), idx(pre+"attn.qkv.bias"), m, d, 3*d)
		attendPaths(att, qkv, paths, pathAt, d, cfg.Heads, buf)
		residual(x, x, y, att, idx(pre+"attn.proj.weight"), idx(pre+"attn.proj.bias"), m, d, d)
		layerNormRows(h, x, idx(pre+"ln2.gain"), idx(pre+"ln2.bias"), m, d)
		linear(u, h, idx(pre+"mlp.fc.weight"), idx(pre+"mlp.fc.bias"), m, d, hid)
		geluFwd(u, u)
		residual(x, x, y, u, idx(pre+"mlp.proj.weight"), idx(pre+"mlp.proj.bias"), m, hid, d)
	}
	layerNormRows(h, x, idx("lnf.gain"), idx("lnf.bias"), m, d)
	linear(logits, h, idx("head.weight"), nil, m, d, vocab)
	lse := make([]float64, m)
	parallelFor(m, 3*vocab, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			lse[i] = logSumExp(logits[i*vocab : (i+1)*vocab])
		}
	})
	for c, par := range tr.parent {
		if par >= 0 {
			i := tr.inner[par]
			tr.lp[c] = float64(logits[i*vocab+tr.tok[c]]) - lse[i]
		}
	}
	if !tr.wpo {
		return
	}
	// log Σ_v p(v)² = logsumexp(2·logits) − 2·logsumexp(logits).
	sq := make([]float64, m)
	parallelFor(m, 3*vocab, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			sq[i] = logSumExpScaled(logits[i*vocab:(i+1)*vocab], 2) - 2*lse[i]
		}
	})
	tr.lpw = append(tr.lpw[:0], make([]float64, n)...)
	for c, par := range tr.parent {
		if par >= 0 {
			tr.lpw[c] = tr.lp[c] - sq[tr.inner[par]]
		}
	}
}

// fwdBuffers are the reusable work arrays of trieForward.
type fwdBuffers[F float32 | float64] struct {
	node, pathAt, paths, taken, isParent []int
	chains                               [][2]int
	x, h, y, qkv, att, u, logits         []F
}

func (b *fwdBuffers[F]) ints(s *[]int, n int) []int {
	if cap(*s) < n {
		*s = make([]int, n)
	}
	*s = (*s)[:n]
	return *s
}

func grow[F float32 | float64](s *[]F, n int) []F {
	if cap(*s) < n {
		*s = make([]F, n)
	}
	*s = (*s)[:n]
	return *s
}

// attendPaths writes causal multi-head attention into att [m, D]: the
// query of inner node i attends to the keys and values of the inner nodes
// paths[pathAt[i]:pathAt[i+1]] (its prefix positions, itself last). qkv
// [m, 3D] holds q | k | v of every inner node.
//
// The work goes by chains: an inner node that is no inner node's parent
// ends a chain, its path; the chain's queries are the nodes of the path no
// earlier chain has taken, always a suffix of the path. Each chain gathers
// its keys, values and queries and runs attnBlock, so every query is
// computed once, with the arithmetic of the graph's attention.
func attendPaths[F float32 | float64](att, qkv []F, paths, pathAt []int, d, heads int, buf *fwdBuffers[F]) {
	m := len(pathAt) - 1
	taken := buf.ints(&buf.taken, m)
	parent := buf.ints(&buf.isParent, m)
	clear(taken)
	clear(parent)
	for i := range m {
		if pathAt[i+1]-pathAt[i] > 1 {
			parent[paths[pathAt[i+1]-2]] = 1
		}
	}
	chains := buf.chains[:0]
	work := 0
	for i := range m {
		if parent[i] != 0 {
			continue
		}
		path := paths[pathAt[i]:pathAt[i+1]]
		first := len(path)
		for first > 0 && taken[path[first-1]] == 0 {
			first--
			taken[path[first]] = 1
		}
		chains = append(chains, [2]int{i, first})
		work += (len(path) - first) * len(path)
	}
	buf.chains = chains
	hd := d / heads
	parallelFor(len(chains), 4*d*(work/len(chains)+1), func(lo, hi int) {
		ws := getAttnWork[F]()
		defer putAttnWork(ws)
		for _, c := range chains[lo:hi] {
			path := paths[pathAt[c[0]]:pathAt[c[0]+1]]
			first := c[1]
			n, nq := len(path), len(path)-first
			kv := grow(&ws.kv, n*2*d)
			q := grow(&ws.q, nq*d)
			o := grow(&ws.o, nq*d)
			for u, a := range path {
				copy(kv[u*2*d:(u+1)*2*d], qkv[a*3*d+d:(a+1)*3*d])
			}
			for j, a := range path[first:] {
				copy(q[j*d:(j+1)*d], qkv[a*3*d:a*3*d+d])
			}
			for h := range heads {
				attnBlock(o[h*hd:], d, q[h*hd:], d, kv[h*hd:], kv[d+h*hd:], 2*d, nq, n, first, hd, ws, nil)
			}
			for j, a := range path[first:] {
				copy(att[a*d:(a+1)*d], o[j*d:(j+1)*d])
			}
		}
	})
}

// attnWork holds the scratch arrays of attnBlock and its callers.
type attnWork[F float32 | float64] struct {
	s, p, kv, q, o, ds []F
	kt, vt             []F // Kᵀ and Vᵀ packed once per head (prePackB)
	sc                 []float64
	e                  []float32
}

// attnPool32 and attnPool64 keep attnWork between calls: attention runs
// every layer of every step with the same sizes.
var attnPool32, attnPool64 sync.Pool

func getAttnWork[F float32 | float64]() *attnWork[F] {
	pool := &attnPool32
	if _, ok := any(F(0)).(float64); ok {
		pool = &attnPool64
	}
	if ws, ok := pool.Get().(*attnWork[F]); ok {
		return ws
	}
	return new(attnWork[F])
}

func putAttnWork[F float32 | float64](ws *attnWork[F]) {
	if _, ok := any(F(0)).(float64); ok {
		attnPool64.Put(ws)
		return
	}
	attnPool32.Put(ws)
}

// attnBlock writes into o (row stride ldo) the attention of nq queries over
// nk keys of one head of width hd: query j sits at position first+j and
// sees keys 0..first+j. q has row stride ldq, k and v row stride ldkv.
//
// Reduction order, the contract that makes a position's output a function
// of its query and its prefix's keys and values only (not of the batch, the
// padding, nk or the caller):
//
//	S = Q·Kᵀ     gemmFixed: each score the kernel sum over the hd entries
//	P_j          attnSoftmax(S_j[:first+j+1]) rounded to F, zeros after
//	O = P·V      gemmFixed: each entry the kernel sum over key positions,
//	             where the zeros of P past the query change nothing
//
// The graph's attention op and the scorer both call it.
//
// P is written to keep (nq·nk values) when it is not nil, else to ws.
func attnBlock[F float32 | float64](o []F, ldo int, q []F, ldq int, k, v []F, ldkv, nq, nk, first, hd int, ws *attnWork[F], keep []F) {
	p := attnProbsBlock(q, ldq, k, ldkv, nq, nk, first, hd, ws, keep)
	// By blocks of rows, over the keys the block sees: the zeros of P
	// past them change nothing (gemmFixed).
	for j0 := 0; j0 < nq; j0 += attnRows {
		j1 := min(j0+attnRows, nq)
		gemmFixed(false, false, j1-j0, hd, min(nk, first+j1), p[j0*nk:], nk, v, ldkv, o[j0*ldo:], ldo)
	}
}

// attnRows is the number of queries per product in attention: a block of
// rows reads only the keys its last row sees, skipping most of the
// masked half of the scores.
const attnRows = 48

// attnProbsBlock returns P [nq, nk] of attnBlock, in p if it is not nil,
// else in ws.p.
func attnProbsBlock[F float32 | float64](q []F, ldq int, k []F, ldk, nq, nk, first, hd int, ws *attnWork[F], p []F) []F {
	s := grow(&ws.s, nq*nk)
	if p == nil {
		p = grow(&ws.p, nq*nk)
	}
	p = p[:nq*nk]
	if cap(ws.sc) < nk {
		ws.sc = make([]float64, nk)
		ws.e = make([]float32, nk)
	}
	// Kᵀ packed once for all the blocks of rows.
	kt := prePackB(&ws.kt, k, ldk, true, min(nk, first+nq), hd)
	for j0 := 0; j0 < nq; j0 += attnRows {
		j1 := min(j0+attnRows, nq)
		gemmFixedPre(false, true, j1-j0, min(nk, first+j1), hd, q[j0*ldq:], ldq, k, ldk, s[j0*nk:], nk, kt)
	}
	scale := 1 / math.Sqrt(float64(hd))
	for j := range nq {
		n := first + j + 1
		pr := p[j*nk : (j+1)*nk]
		attnSoftmax(pr[:n], ws.sc[:n], ws.e, s[j*nk:j*nk+n], scale)
		clear(pr[n:])
	}
	return p
}

// attnSoftmax writes out_u = F(p_u), p_u = exp(σ_u − max σ) / Σ_u exp(σ_u − max σ)
// with σ_u = float64(s_u)·scale, in float64, u ascending, except that for
// float32 scores each exponential is exp32 of the float32 rounding of
// σ_u − max σ (the weights are rounded to float32 anyway), computed by
// exp32s in e. p and e are scratch of len(s) values.
//
// With AVX-512, float32 rows run 8 at a time (softmaxScale8, softmaxShift8,
// softmaxDiv8: the same operations) but for the sum, which stays in order.
// The maximum may then differ in the sign of a zero, which changes no
// σ_u − max σ but that of a zero σ_u, and exp32 of either zero is 1.
func attnSoftmax[F float32 | float64](out []F, p []float64, e []float32, s []F, scale float64) {
	mx := math.Inf(-1)
	v8 := 0 // float32 entries done 8 at a time
	if s32, ok := any(s).([]float32); ok && haveAVX512 {
		v8 = len(s) &^ 7
		if v8 > 0 {
			mx = softmaxScale8(&p[0], &s32[0], v8, scale)
		}
	}
	for u := v8; u < len(s); u++ {
		p[u] = float64(s[u]) * scale
		if p[u] > mx {
			mx = p[u]
		}
	}
	z := 0.0
	if _, ok := any(s).([]float32); ok {
		e = e[:len(p)]
		if v8 > 0 {
			softmaxShift8(&e[0], &p[0], v8, mx)
		}
		for u := v8; u < len(p); u++ {
			e[u] = float32(p[u] - mx)
		}
		exp32s(e, e)
		for _, v := range e {
			z += float64(v)
		}
		if v8 > 0 {
			softmaxDiv8(&any(out).([]float32)[0], &e[0], v8, z)
		}
		for u := v8; u < len(e); u++ {
			out[u] = F(float64(e[u]) / z)
		}
		return
	}
	for u := range p {
		p[u] = math.Exp(p[u] - mx)
		z += p[u]
	}
	for u, v := range p {
		out[u] = F(v / z)
	}
}

// layerNormRows writes LayerNorm of the m rows of x [m, d] into y.
func layerNormRows[F float32 | float64](y, x, gain, bias []F, m, d int) {
	layerNormRowsStats(y, x, gain, bias, m, d, nil)
}

// layerNormRowsStats is layerNormRows that also writes each row's rowStats
// into stats[2i], stats[2i+1] unless stats is nil. With AVX-512, float32
// rows go sixteen or eight at a time through lnStats2x8, one row per lane,
// with each row's arithmetic that of rowStats and lnNormRow: a row's bits
// do not depend on its neighbours or on the split over the cores.
func layerNormRowsStats[F float32 | float64](y, x, gain, bias []F, m, d int, stats []float64) {
	parallelFor(m, 4*d, func(lo, hi int) {
		i := lo
		if x32, ok := any(x).([]float32); ok && haveAVX512 && d > 0 && hi-lo >= 8 {
			var st [32]float64 // μ of the sixteen rows, then their r
			buf := getLNScratch(16 * ((d + 7) &^ 7))
			defer lnScratch.Put(buf)
			tmp := *buf
			for i < hi {
				// Sixteen rows, or eight (the second group repeats the
				// first); the last group ends at hi, and rows before i that
				// it computes again are not written again.
				a := min(i, hi-8)
				n, b := 16, a+8
				if a+16 > hi {
					n, b = 8, a
				}
				lnStats2x8(&st[0], &x32[a*d], &x32[b*d], d, lnEps, &tmp[0])
				for j := i - a; j < n; j++ {
					row := (a + j) * d
					if stats != nil {
						stats[2*(a+j)], stats[2*(a+j)+1] = st[j], st[16+j]
					}
					lnNormRow(y[row:row+d], x[row:row+d], gain, bias, st[j], st[16+j])
				}
				i = a + n
			}
		}
		for ; i < hi; i++ {
			xr, yr := x[i*d:(i+1)*d], y[i*d:(i+1)*d]
			mu, rstd := rowStats(xr)
			if stats != nil {
				stats[2*i], stats[2*i+1] = mu, rstd
			}
			lnNormRow(yr, xr, gain, bias, mu, rstd)
		}
	})
}

// logSumExpScaled returns log Σ_j exp(a·x_j), in float64.
func logSumExpScaled[F float32 | float64](x []F, a float64) float64 {
	mx := math.Inf(-1)
	for _, v := range x {
		mx = math.Max(mx, a*float64(v))
	}
	s := 0.0
	for _, v := range x {
		s += math.Exp(a*float64(v) - mx)
	}
	return mx + math.Log(s)
}

func logSumExp[F float32 | float64](x []F) float64 {
	mx := math.Inf(-1)
	for _, v := range x {
		mx = math.Max(mx, float64(v))
	}
	s := 0.0
	for _, v := range x {
		s += math.Exp(float64(v) - mx)
	}
	return mx + math.Log(s)
}

// linear writes x·w + bias into y for x [m, k], w [k, n], bias [n] or nil:
// y_ij = F(Σ_p x_ip·w_pj) + b_j, the product from gemm (whose sum order
// depends on k only) rounded to F before the bias is added. It is the
// training graph's Mul followed by its bias op. The bias is added to
// each range of rows as soon as the product has finished it.
func linear[F float32 | float64](y, x, w, bias []F, m, k, n int) {
	y = y[:m*n]
	if bias == nil {
		gemm(false, false, m, n, k, 1, x[:m*k], k, w[:k*n], n, 0, y, n)
		return
	}
	gemmRows(false, false, m, n, k, x[:m*k], k, w[:k*n], n, y, n, func(i0, i1 int) {
		addBias(y[i0*n:i1*n], y[i0*n:i1*n], bias)
	})
}

// residual writes r plus the linear layer in·w + bias (bias [n]) into x,
// through y [m, n]:
// x_ij = r_ij + (F(Σ_p in_ip·w_pj) + b_j), the graph's Add of r and its
// linear node. r may be x itself. Each range of rows is added as soon as
// the product has finished it.
func residual[F float32 | float64](x, r, y, in, w, bias []F, m, k, n int) {
	y, x, r = y[:m*n], x[:m*n], r[:m*n]
	bias = bias[:n]
	n16 := 0 // columns added 16 at a time, the same additions
	if haveAVX512 {
		if _, ok := any(x).([]float32); ok {
			n16 = n &^ 15
		}
	}
	gemmRows(false, false, m, n, k, in[:m*k], k, w[:k*n], n, y, n, func(i0, i1 int) {
		for i := i0 * n; i < i1*n; i += n {
			xr, rr, yr := x[i:i+n], r[i:i+n], y[i:i+n]
			copy(xr, rr)
			if n16 > 0 {
				residualRow16(&any(xr).([]float32)[0], &any(yr).([]float32)[0], &any(bias).([]float32)[0], n16)
			}
			for j := n16; j < n; j++ {
				xr[j] += yr[j] + bias[j]
			}
		}
	})
}

// parallelColumns is parallelFor for a pass down the d columns of a
// matrix: one contiguous range per core, so that each core streams long
// pieces of every row.
func parallelColumns(d, cost int, f func(lo, hi int)) {
	parts := min(runtime.GOMAXPROCS(0), d)
	if parts < 2 || d*cost < 1<<15 {
		f(0, d)
		return
	}
	parallelFor(parts, 1<<15, func(lo, hi int) {
		for part := lo; part < hi; part++ {
			f(d*part/parts, d*(part+1)/parts)
		}
	})
}

// parallelFor splits [0, n) into contiguous ranges run on the available
// cores (the pool's, see inRegion) when n·cost is large enough to pay
// for sharing them out. The ranges
// are more than the cores and taken in turn by whichever core is free, so
// a core slowed by other work does not hold the rest back. Each index is
// handled by exactly one call of f, so results do not depend on the split.
func parallelFor(n, cost int, f func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if workers < 2 || n < 2 || n*cost < 1<<15 {
		f(0, n)
		return
	}
	workers = min(workers, n)
	// Four ranges per core, each worth at least 2¹⁵ of cost.
	chunks := min(n, 4*workers, max(workers, n*cost>>15))
	var next atomic.Int64
	run := func() {
		for {
			c := int(next.Add(1) - 1)
			if c >= chunks {
				return
			}
			f(n*c/chunks, n*(c+1)/chunks)
		}
	}
	runShared(workers, run)
}
