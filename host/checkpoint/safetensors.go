package checkpoint

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"

	"github.com/nlpodyssey/safetensors"
)

// The safetensors format (https://github.com/huggingface/safetensors):
// an 8-byte little-endian header length N, N bytes of JSON header mapping
// each tensor name to {"dtype", "shape", "data_offsets": [begin, end]}
// (offsets relative to the byte after the header) plus an optional
// "__metadata__" string map, then the raw little-endian tensor bytes, which
// the tensors cover exactly, without holes or overlaps.
//
// Files are written with github.com/nlpodyssey/safetensors, which lays
// tensors out as the reference implementation does (by descending dtype
// alignment, then name) and pads the header to 8 bytes; tensors are handed
// to it through the view type below, since its NewTensorView counts zero
// elements for a scalar (shape []). Files are read by ReadSafetensors below
// rather than by that package, whose reader accepts a header that names a
// tensor twice (keeping one of them) and whose errors do not say which
// bound a tensor breaks.

const (
	metadataKey    = "__metadata__"
	maxHeaderBytes = 100 << 20 // the reference implementation's limit
)

// rawTensor is one tensor of a safetensors file, its bytes not yet decoded.
type rawTensor struct {
	Name  string
	DType string
	Shape []int
	Data  []byte
}

// stFile is a parsed safetensors file.
type stFile struct {
	Metadata map[string]string
	Tensors  []rawTensor // in file order
}

var dtypeSize = map[string]uint64{
	"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
	"I16": 2, "U16": 2, "F16": 2, "BF16": 2,
	"I32": 4, "U32": 4, "F32": 4,
	"I64": 8, "U64": 8, "F64": 8,
}

// ReadSafetensors parses a safetensors file held in b and checks it against
// the format: header length within the file, a JSON object without
// duplicate keys, known dtypes, offsets matching shape·dtype size, tensors
// tiling the data section exactly. It returns the metadata and the tensor
// names, dtypes and shapes in file order. It never panics.
func ReadSafetensors(b []byte) (metadata map[string]string, tensors []TensorInfo, err error) {
	f, err := parseSafetensors(b)
	if err != nil {
		return nil, nil, err
	}
	for _, t := range f.Tensors {
		tensors = append(tensors, TensorInfo{Name: t.Name, DType: t.DType, Shape: t.Shape})
	}
	return f.Metadata, tensors, nil
}

// TensorInfo describes one tensor of a safetensors file.
type TensorInfo struct {
	Name  string
	DType string
	Shape []int
}

type headerEntry struct {
	DType       string   `json:"dtype"`
	Shape       []uint64 `json:"shape"`
	DataOffsets []uint64 `json:"data_offsets"`
}

func parseSafetensors(b []byte) (*stFile, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("safetensors: file has %d bytes, fewer than the 8-byte header length", len(b))
	}
	n := binary.LittleEndian.Uint64(b)
	if n > maxHeaderBytes {
		return nil, fmt.Errorf("safetensors: header length %d exceeds the limit of %d bytes", n, maxHeaderBytes)
	}
	if n > uint64(len(b)-8) {
		return nil, fmt.Errorf("safetensors: header length %d exceeds the %d bytes after it (truncated file?)", n, len(b)-8)
	}
	header, data := b[8:8+n], b[8+n:]
	dec := json.NewDecoder(bytes.NewReader(header))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("safetensors: header is not a JSON object")
	}
	f := &stFile{}
	type span struct {
		begin, end uint64
		i          int
	}
	var spans []span
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("safetensors: header: %w", err)
		}
		name, _ := tok.(string)
		if seen[name] {
			return nil, fmt.Errorf("safetensors: header: duplicate key %q", name)
		}
		seen[name] = true
		if name == metadataKey {
			if err := dec.Decode(&f.Metadata); err != nil {
				return nil, fmt.Errorf("safetensors: header: %s must map strings to strings: %w", metadataKey, err)
			}
			continue
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("safetensors: header: tensor %q: %w", name, err)
		}
		var h headerEntry
		hd := json.NewDecoder(bytes.NewReader(raw))
		hd.DisallowUnknownFields()
		if err := hd.Decode(&h); err != nil {
			return nil, fmt.Errorf("safetensors: header: tensor %q: %w", name, err)
		}
		size, ok := dtypeSize[h.DType]
		switch {
		case !ok:
			return nil, fmt.Errorf("safetensors: tensor %q: unknown dtype %q", name, h.DType)
		case h.Shape == nil:
			return nil, fmt.Errorf("safetensors: tensor %q: missing shape", name)
		case len(h.DataOffsets) != 2:
			return nil, fmt.Errorf("safetensors: tensor %q: data_offsets must have 2 entries, got %d", name, len(h.DataOffsets))
		}
		count := uint64(1)
		shape := make([]int, len(h.Shape))
		for i, d := range h.Shape {
			hi, lo := bits.Mul64(count, d)
			if hi != 0 || d > math.MaxInt32 {
				return nil, fmt.Errorf("safetensors: tensor %q: shape %v overflows", name, h.Shape)
			}
			count, shape[i] = lo, int(d)
		}
		hi, nbytes := bits.Mul64(count, size)
		begin, end := h.DataOffsets[0], h.DataOffsets[1]
		switch {
		case hi != 0:
			return nil, fmt.Errorf("safetensors: tensor %q: shape %v overflows", name, h.Shape)
		case begin > end || end > uint64(len(data)):
			return nil, fmt.Errorf("safetensors: tensor %q: data_offsets [%d, %d] outside the %d data bytes (truncated file?)", name, begin, end, len(data))
		case end-begin != nbytes:
			return nil, fmt.Errorf("safetensors: tensor %q: data_offsets span %d bytes but %s%v needs %d", name, end-begin, h.DType, h.Shape, nbytes)
		}
		spans = append(spans, span{begin, end, len(f.Tensors)})
		f.Tensors = append(f.Tensors, rawTensor{Name: name, DType: h.DType, Shape: shape, Data: data[begin:end:end]})
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("safetensors: header: %w", err)
	}
	if len(bytes.TrimLeft(header[dec.InputOffset():], " \t\r\n")) > 0 {
		return nil, errors.New("safetensors: header: data after the JSON object")
	}
	slices.SortFunc(spans, func(a, b span) int {
		if a.begin != b.begin {
			return compare(a.begin, b.begin)
		}
		return compare(a.end, b.end)
	})
	pos := uint64(0)
	for _, s := range spans {
		if s.begin != pos {
			return nil, fmt.Errorf("safetensors: tensor %q: data_offsets start at %d, want %d (tensors must cover the data without holes or overlaps)", f.Tensors[s.i].Name, s.begin, pos)
		}
		pos = s.end
	}
	if pos != uint64(len(data)) {
		return nil, fmt.Errorf("safetensors: tensors cover %d data bytes but the file has %d", pos, len(data))
	}
	ordered := make([]rawTensor, len(spans))
	for i, s := range spans {
		ordered[i] = f.Tensors[s.i]
	}
	f.Tensors = ordered
	return f, nil
}

func compare(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// view adapts little-endian bytes to safetensors.View.
type view struct {
	dtype safetensors.DType
	shape []uint64
	data  []byte
}

func (v view) DType() safetensors.DType { return v.dtype }
func (v view) Shape() []uint64          { return v.shape }
func (v view) Data() []byte             { return v.data }
func (v view) DataLen() uint64          { return uint64(len(v.data)) }

func dims(shape []int) []uint64 {
	d := make([]uint64, len(shape))
	for i, s := range shape {
		d[i] = uint64(s)
	}
	return d
}

func f32Bytes(xs []float32) []byte {
	b := make([]byte, 4*len(xs))
	for i, x := range xs {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func f64Bytes(xs []float64) []byte {
	b := make([]byte, 8*len(xs))
	for i, x := range xs {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
	}
	return b
}

func bytesF32(b []byte) []float32 {
	xs := make([]float32, len(b)/4)
	for i := range xs {
		xs[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return xs
}

func bytesF64(b []byte) []float64 {
	xs := make([]float64, len(b)/8)
	for i := range xs {
		xs[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return xs
}

// writeSafetensors writes tensors and metadata to w in safetensors format.
func writeSafetensors(w io.Writer, tensors map[string]view, metadata map[string]string) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	if err := safetensors.SerializeToWriter(tensors, metadata, bw); err != nil {
		return err
	}
	return bw.Flush()
}
