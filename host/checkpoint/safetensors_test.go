package checkpoint

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stBytes assembles a safetensors file from a header and data, padding the
// header with spaces to 8 bytes as the reference writer does.
func stBytes(header string, data []byte) []byte {
	for len(header)%8 != 0 {
		header += " "
	}
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

func TestReadSafetensorsAccepts(t *testing.T) {
	// 1.0f32 is 0x3f800000, little-endian 00 00 80 3f.
	b := stBytes(`{"__metadata__":{"k":"v"},"b":{"dtype":"F32","shape":[],"data_offsets":[4,8]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`,
		[]byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0x40})
	meta, tensors, err := ReadSafetensors(b)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"k": "v"}, meta)
	assert.Equal(t, []TensorInfo{{"a", "F32", []int{1}}, {"b", "F32", []int{}}}, tensors, "in file order")
	ws, err := decodeWeights(b)
	require.NoError(t, err)
	assert.Equal(t, []Tensor{{"a", []int{1}, []float32{1}}, {"b", []int{}, []float32{2}}}, ws)
}

func TestReadSafetensorsRejects(t *testing.T) {
	f32 := func(name, offsets string) string {
		return `"` + name + `":{"dtype":"F32","shape":[1],"data_offsets":` + offsets + `}`
	}
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"too short", []byte{1, 2}, "safetensors: file has 2 bytes, fewer than the 8-byte header length"},
		{"header beyond file", append(binary.LittleEndian.AppendUint64(nil, 100), "{}"...), "safetensors: header length 100 exceeds the 2 bytes after it (truncated file?)"},
		{"header limit", binary.LittleEndian.AppendUint64(nil, 1<<40), "safetensors: header length 1099511627776 exceeds the limit of 104857600 bytes"},
		{"not an object", stBytes(`[]`, nil), "safetensors: header is not a JSON object"},
		{"duplicate", stBytes(`{`+f32("a", "[0,4]")+`,`+f32("a", "[0,4]")+`}`, make([]byte, 4)), `safetensors: header: duplicate key "a"`},
		{"overlap", stBytes(`{`+f32("a", "[0,4]")+`,`+f32("b", "[0,4]")+`}`, make([]byte, 4)), `safetensors: tensor "b": data_offsets start at 0, want 4 (tensors must cover the data without holes or overlaps)`},
		{"hole", stBytes(`{`+f32("a", "[4,8]")+`}`, make([]byte, 8)), `safetensors: tensor "a": data_offsets start at 4, want 0 (tensors must cover the data without holes or overlaps)`},
		{"trailing data", stBytes(`{`+f32("a", "[0,4]")+`}`, make([]byte, 8)), "safetensors: tensors cover 4 data bytes but the file has 8"},
		{"size mismatch", stBytes(`{`+f32("a", "[0,8]")+`}`, make([]byte, 8)), `safetensors: tensor "a": data_offsets span 8 bytes but F32[1] needs 4`},
		{"truncated data", stBytes(`{`+f32("a", "[0,4]")+`}`, make([]byte, 2)), `safetensors: tensor "a": data_offsets [0, 4] outside the 2 data bytes (truncated file?)`},
		{"dtype", stBytes(`{"a":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), `safetensors: tensor "a": unknown dtype "F33"`},
		{"unknown field", stBytes(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}`, make([]byte, 4)), `safetensors: header: tensor "a": json: unknown field "x"`},
		{"overflow", stBytes(`{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`, nil), `safetensors: tensor "a": shape [4294967296 4294967296] overflows`},
		{"garbage after", stBytes(`{}x`, nil), "safetensors: header: data after the JSON object"},
		{"metadata type", stBytes(`{"__metadata__":{"k":1}}`, nil), "safetensors: header: __metadata__ must map strings to strings: json: cannot unmarshal number into Go value of type string"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := ReadSafetensors(c.file)
			require.Error(t, err)
			assert.Equal(t, c.want, err.Error())
		})
	}
}
