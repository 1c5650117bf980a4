package checkpoint_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/prefopt/prefopt/host/checkpoint"
)

func Example() {
	root, err := os.MkdirTemp("", "checkpoints")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(root)

	for _, step := range []int64{100, 200} {
		c := &checkpoint.Checkpoint{
			Step:    step,
			Weights: []checkpoint.Tensor{{Name: "w", Shape: []int{2}, Data: []float32{1, float32(step)}}},
			Config:  []byte("[train]\nsteps = 200\n"),
		}
		if _, err := checkpoint.Save(root, c); err != nil {
			panic(err)
		}
	}
	c, skipped, err := checkpoint.LoadLatest(root, true)
	if err != nil {
		panic(err)
	}
	fmt.Println(filepath.Base(c.Dir), c.Weights[0].Data, len(skipped))
	// Output:
	// step-00000200 [1 200] 0
}
