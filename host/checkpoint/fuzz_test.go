package checkpoint

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to the safetensors reader and the weight and
// optimizer decoders. They must return an error or a result that satisfies
// the format's invariants, never panic. Seeds: the files of a saved
// checkpoint plus the corpus in testdata/fuzz/FuzzLoad.
func FuzzLoad(f *testing.F) {
	dir, err := Save(f.TempDir(), sample(42, 5))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range []string{ModelFile, OptimizerFile} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := parseSafetensors(b)
		if err != nil {
			return
		}
		n := binary.LittleEndian.Uint64(b)
		total := 0
		for _, tensor := range file.Tensors {
			count := 1
			for _, d := range tensor.Shape {
				count *= d
			}
			if uint64(count)*dtypeSize[tensor.DType] != uint64(len(tensor.Data)) {
				t.Fatalf("tensor %q: %d bytes for %s%v", tensor.Name, len(tensor.Data), tensor.DType, tensor.Shape)
			}
			if !bytes.Contains(b[8+n:], tensor.Data) {
				t.Fatalf("tensor %q: data outside the data section", tensor.Name)
			}
			total += len(tensor.Data)
		}
		if uint64(total) != uint64(len(b))-8-n {
			t.Fatalf("tensors cover %d of %d data bytes", total, uint64(len(b))-8-n)
		}
		_, _ = decodeWeights(b)
		_, _ = decodeOptim(b)
	})
}
