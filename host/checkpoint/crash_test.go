package checkpoint

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const crashRootEnv = "PREFOPT_CHECKPOINT_CRASH_ROOT"

// TestHelperProcess is not a test: run as a child of TestKilledMidWrite, it
// saves large checkpoints in a loop until killed.
func TestHelperProcess(t *testing.T) {
	root := os.Getenv(crashRootEnv)
	if root == "" {
		t.Skip("helper process for TestKilledMidWrite")
	}
	c := sample(0, 1)
	big := make([]float32, 2<<20) // 8 MiB of weights, so a save takes a while
	for i := range big {
		big[i] = float32(i)
	}
	c.Weights = append(c.Weights, Tensor{Name: "big", Shape: []int{len(big)}, Data: big})
	for step := int64(1); ; step++ {
		c.Step = step
		big[0] = float32(step)
		if _, err := Save(root, c); err != nil {
			os.Exit(3)
		}
		if _, err := Prune(root, 2); err != nil {
			os.Exit(4)
		}
	}
}

// TestKilledMidWrite kills a process that is saving checkpoints at random
// moments and checks that the newest checkpoint always loads and verifies.
func TestKilledMidWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	rng := rand.New(rand.NewPCG(2026, 11))
	midWrite := 0
	for round := range 6 {
		root := filepath.Join(t.TempDir(), "checkpoints")
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
		cmd.Env = append(os.Environ(), crashRootEnv+"="+root)
		require.NoError(t, cmd.Start())
		// Wait for the first checkpoint, then kill at a random moment.
		deadline := time.Now().Add(30 * time.Second)
		for {
			if _, err := Latest(root); err == nil {
				break
			}
			require.True(t, time.Now().Before(deadline), "round %d: no checkpoint within 30s", round)
			time.Sleep(2 * time.Millisecond)
		}
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		err := cmd.Wait()
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "the child must still be running when killed")
		require.Equal(t, "signal: killed", exit.Error())

		entries, err := os.ReadDir(root)
		require.NoError(t, err)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), tmpPrefix) {
				midWrite++
				break
			}
		}
		c, skipped, err := LoadLatest(root, false)
		require.NoError(t, err, "round %d", round)
		assert.Empty(t, skipped)
		big := c.Weights[0]
		require.Equal(t, "big", big.Name)
		assert.Equal(t, float32(c.Step), big.Data[0], "the weights belong to the step they are filed under")
	}
	t.Logf("%d of 6 kills interrupted a save or a prune", midWrite)
}
