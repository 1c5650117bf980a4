// Command bench-vs-torch compares the training throughput of prefopt's
// benchmark step with PyTorch's on the same shape, on the CPU.
//
//	go run ./scripts/bench-vs-torch [-model bench|large] [-runs 3] [-threads 1,2]
//
// It installs nothing. It first checks that PyTorch (run with -python, by
// default /usr/bin/python3) multiplies two 1024×1024 float32 matrices at
// ≥ -min-gflops GFLOP/s on one thread, else a ratio against it would be
// meaningless, and exits with status 2. It then alternates runs: one
// prefopt run (bench.Run, DPO through the plugin, as `prefopt bench`) and
// one PyTorch run per thread count of torch_dpo_step.py, -runs times, each
// run in a fresh process so that its peak RSS is its own,
// prints every run's tokens/s and peak RSS, and the ratio of prefopt's
// median tokens/s to PyTorch's best median over the thread counts.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/prefopt/prefopt/host/bench"
	"github.com/prefopt/prefopt/host/objective"
)

// blasCheck prints the best-of-10 GFLOP/s of a 1024² float32 matmul on one
// thread.
const blasCheck = `
import time, torch
torch.set_num_threads(1)
a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
for _ in range(3): a @ b
best = 1e9
for _ in range(10):
    t = time.perf_counter(); a @ b; best = min(best, time.perf_counter() - t)
print(2 * 1024**3 / best / 1e9)
`

func main() {
	objective.ServeIfAsked()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-vs-torch:", err)
		var ce *configError
		if errors.As(err, &ce) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// configError is a PyTorch set-up that makes a comparison meaningless.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

func run() error {
	modelName := flag.String("model", "bench", "shape: bench or large")
	runs := flag.Int("runs", 3, "alternating runs of each side")
	steps := flag.Int("steps", 0, "measured prefopt steps per run (0: 10 for bench, 3 for large)")
	threadList := flag.String("threads", "1,2", "PyTorch thread counts, comma-separated")
	python := flag.String("python", "/usr/bin/python3", "Python with torch")
	script := flag.String("script", "/work/shared/bench/torch_dpo_step.py", "PyTorch yardstick")
	minGFLOPs := flag.Float64("min-gflops", 30, "least PyTorch 1024² matmul GFLOP/s on one thread")
	child := flag.Bool("child", false, "run one prefopt measurement and print it as JSON (used by the parent)")
	flag.Parse()
	if _, ok := bench.Shapes[*modelName]; !ok {
		return fmt.Errorf("-model: unknown shape %q", *modelName)
	}
	if *runs < 1 {
		return fmt.Errorf("-runs must be >= 1, got %d", *runs)
	}
	if *steps == 0 {
		*steps = 10
		if *modelName == "large" {
			*steps = 3
		}
	}
	if *child {
		r, err := bench.Run(context.Background(), bench.Options{Model: *modelName, Steps: *steps, Seed: 1})
		if err != nil {
			return err
		}
		return json.NewEncoder(os.Stdout).Encode(r)
	}
	var threads []int
	for _, f := range strings.Split(*threadList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("-threads: %q is not a thread count", f)
		}
		threads = append(threads, n)
	}

	// OpenBLAS's pthread build ignores torch.set_num_threads and would
	// use every core: pin it so that the check measures one thread.
	check := exec.Command(*python, "-c", blasCheck)
	check.Env = append(os.Environ(), "OPENBLAS_NUM_THREADS=1")
	out, err := check.CombinedOutput()
	if err != nil {
		return &configError{fmt.Sprintf("pytorch matmul check with %s: %v: %s", *python, err, strings.TrimSpace(string(out)))}
	}
	gf, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		return &configError{fmt.Sprintf("pytorch matmul check printed %q", out)}
	}
	fmt.Printf("pytorch 1024² matmul, 1 thread: %.1f GFLOP/s\n", gf)
	if gf < *minGFLOPs {
		return &configError{fmt.Sprintf("pytorch matmul runs at %.1f GFLOP/s, below %.0f: its BLAS is misconfigured (install libopenblas0-pthread)", gf, *minGFLOPs)}
	}
	printLoad()

	var goTPS []float64
	torchTPS := map[int][]float64{}
	for i := range *runs {
		r, err := goRun(*modelName, *steps)
		if err != nil {
			return err
		}
		goTPS = append(goTPS, r.TokensPerSecond)
		fmt.Printf("run %d  prefopt          %8.0f tokens/s  step %7.1f ms  peak RSS %6.0f MiB\n",
			i+1, r.TokensPerSecond, 1e3*r.StepSeconds, float64(r.PeakRSSBytes)/(1<<20))
		for _, th := range threads {
			tps, rss, err := torchRun(*python, *script, *modelName, th)
			if err != nil {
				return err
			}
			torchTPS[th] = append(torchTPS[th], tps)
			fmt.Printf("run %d  pytorch %d thread %8.0f tokens/s                   peak RSS %6.0f MiB\n", i+1, th, tps, float64(rss)/(1<<20))
		}
	}
	printLoad()
	goMed := median(goTPS)
	fmt.Printf("prefopt            median %8.0f tokens/s  range %.0f–%.0f\n", goMed, slices.Min(goTPS), slices.Max(goTPS))
	best, bestTh := 0.0, 0
	for _, th := range threads {
		m := median(torchTPS[th])
		fmt.Printf("pytorch %d thread   median %8.0f tokens/s  range %.0f–%.0f\n", th, m, slices.Min(torchTPS[th]), slices.Max(torchTPS[th]))
		if m > best {
			best, bestTh = m, th
		}
	}
	fmt.Printf("ratio prefopt / pytorch best (%d thread): %.2f\n", bestTh, goMed/best)
	return nil
}

// goRun measures prefopt once in a child process: this program with
// -child.
func goRun(model string, steps int) (*bench.Result, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this program to re-execute: %w", err)
	}
	cmd := exec.Command(exe, "-child", "-model", model, "-steps", strconv.Itoa(steps))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("prefopt run: %w", err)
	}
	var r bench.Result
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("prefopt run printed %q: %w", out, err)
	}
	return &r, nil
}

var tpsRE = regexp.MustCompile(`tokens_per_s=([0-9.]+)`)

// torchRun runs the yardstick once and returns its tokens/s and the child's
// peak RSS in bytes.
func torchRun(python, script, shape string, threads int) (float64, int64, error) {
	cmd := exec.Command(python, script, strconv.Itoa(threads), shape)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, 0, fmt.Errorf("%s %s: %v: %s", python, script, err, out)
	}
	m := tpsRE.FindSubmatch(out)
	if m == nil {
		return 0, 0, fmt.Errorf("%s printed no tokens_per_s: %s", script, out)
	}
	tps, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: tokens_per_s: %w", script, err)
	}
	var rss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss * 1024 // KiB on Linux
	}
	return tps, rss, nil
}

func printLoad() {
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("load average: %s", b)
	}
}

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	return s[len(s)/2]
}
