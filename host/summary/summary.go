// Package summary defines summary.json, the machine-readable result of a
// side-by-side comparison of objectives.
package summary

import (
	"encoding/json"
	"fmt"
	"os"
)

// Summary is the content of summary.json.
type Summary struct {
	// Experiment is the run name.
	Experiment string `json:"experiment"`
	// Description is the experiment's run.description: what it tests.
	Description string `json:"description,omitempty"`
	// Beta is the β of the optimum π*_β the exact metrics refer to; 0 when
	// the data is not the built-in task.
	Beta float64 `json:"beta,omitempty"`
	// Reference holds the metrics of π_ref itself.
	Reference map[string]float64 `json:"reference"`
	// Optimal holds the metrics of π*_β (exact task only).
	Optimal map[string]float64 `json:"optimal,omitempty"`
	// Frontier is the exact optimal reward–KL frontier: π*_β′ for each β′
	// (of the first seed's task when there are several).
	Frontier []FrontierPoint `json:"frontier,omitempty"`
	// Seeds are the run seeds, run.seed first; each seed draws its own task
	// prompts, pairs, reference and initialisation. Empty means one seed,
	// run.seed.
	Seeds []uint64 `json:"seeds,omitempty"`
	// ReferenceCheckpoints are the checkpoint directories of π_ref, one per
	// seed in Seeds order: each loads as [reference] checkpoint = "...".
	ReferenceCheckpoints []string `json:"reference_checkpoints,omitempty"`
	// Objectives are the runs that finished: for each seed in Seeds order,
	// each objective in the experiment's order.
	Objectives []Objective `json:"objectives"`
	// Aggregates hold, per objective label in the experiment's order, each
	// final metric over the seeds that finished it.
	Aggregates []Aggregate `json:"aggregates,omitempty"`
	// ReferenceStats and OptimalStats are Reference and Optimal over seeds.
	ReferenceStats map[string]Stat `json:"reference_stats,omitempty"`
	OptimalStats   map[string]Stat `json:"optimal_stats,omitempty"`
	// Unfinished labels the objectives of the experiment that did not
	// finish (the run was interrupted or failed); empty for a complete run.
	Unfinished []string `json:"unfinished,omitempty"`
	// WallSeconds is the time of the whole comparison, set-up included.
	WallSeconds float64 `json:"wall_seconds"`
}

// FrontierPoint is one point of the optimal frontier.
type FrontierPoint struct {
	Beta           float64 `json:"beta"`
	KLToReference  float64 `json:"kl_to_reference"`
	ExpectedReward float64 `json:"expected_reward"`
}

// Objective is the result of one objective.
type Objective struct {
	Name    string         `json:"name"`
	Label   string         `json:"label"`
	Version string         `json:"version"`
	Params  map[string]any `json:"params"`
	// Seed is the run seed this result was trained with.
	Seed uint64 `json:"seed"`
	// Group is the label the objective had before a [sweep] expanded it
	// ("dpo" for "dpo/beta=0.1"), with SweepParam and SweepValue the swept
	// parameter and this run's value; all empty without a sweep.
	Group      string `json:"group,omitempty"`
	SweepParam string `json:"sweep_param,omitempty"`
	SweepValue any    `json:"sweep_value,omitempty"`
	Steps      int    `json:"steps"`
	// Final holds the metrics of the final policy.
	Final map[string]float64 `json:"final"`
	// History holds every evaluation, step 0 (the starting policy) first.
	History []Point `json:"history"`
	// Train holds the training log lines (loss, grad_norm, metrics).
	Train []Point `json:"train"`
	// Checkpoint is the directory of the final policy's checkpoint.
	Checkpoint  string  `json:"checkpoint,omitempty"`
	WallSeconds float64 `json:"wall_seconds"`
}

// Aggregate is one objective label's final metrics over seeds.
type Aggregate struct {
	Label      string          `json:"label"`
	Name       string          `json:"name"`
	Group      string          `json:"group,omitempty"`
	SweepParam string          `json:"sweep_param,omitempty"`
	SweepValue any             `json:"sweep_value,omitempty"`
	Metrics    map[string]Stat `json:"metrics"`
}

// Point is the values logged at one step.
type Point struct {
	Step   int                `json:"step"`
	Values map[string]float64 `json:"values"`
}

// Write writes s as indented JSON to path, atomically.
func Write(path string, s *Summary) error { return writeJSON(path, s) }

// Read reads a summary.json.
func Read(path string) (*Summary, error) { return readJSON[Summary](path) }

// writeJSON writes v as indented JSON to path through a temporary file
// renamed into place, so a reader never sees half a file.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	return os.Rename(tmp, path)
}

// readJSON decodes the JSON file at path into a new T.
func readJSON[T any](path string) (*T, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("summary: %w", err)
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("summary: %s: %w", path, err)
	}
	return &v, nil
}
