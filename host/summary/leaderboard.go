package summary

// Leaderboard is the content of leaderboard.json: objectives × scenarios of
// the benchmark suite, each cell one exact metric over seeds.
type Leaderboard struct {
	// Metric is the metric of every cell (lower is better for
	// kl_to_optimal).
	Metric string `json:"metric"`
	// LowerIsBetter says which way Best was chosen.
	LowerIsBetter bool `json:"lower_is_better"`
	// Seeds are the run seeds every scenario was run with.
	Seeds     []uint64   `json:"seeds"`
	Scenarios []Scenario `json:"scenarios"`
	// WallSeconds is the time of the whole suite.
	WallSeconds float64 `json:"wall_seconds"`
}

// Scenario is one row group of the leaderboard: one experiment of the suite.
type Scenario struct {
	// Name identifies the scenario ("noisy-labels"); Claim is the sentence
	// of the literature it tests.
	Name  string `json:"name"`
	Claim string `json:"claim"`
	// Dir is the scenario's comparison directory (summary.json, report.html),
	// relative to the leaderboard's directory.
	Dir string `json:"dir"`
	// Reference and Optimal are π_ref's and π*_β's values.
	Reference Stat `json:"reference"`
	Optimal   Stat `json:"optimal"`
	// Cells map objective label to its value; a label the scenario does
	// not train is absent.
	Cells map[string]Stat `json:"cells"`
	// Best lists the labels whose mean is best, and every label whose
	// interval overlaps the best one's (statistically tied).
	Best []string `json:"best"`
}

// WriteLeaderboard writes l as indented JSON to path, atomically.
func WriteLeaderboard(path string, l *Leaderboard) error { return writeJSON(path, l) }

// ReadLeaderboard reads a leaderboard.json.
func ReadLeaderboard(path string) (*Leaderboard, error) { return readJSON[Leaderboard](path) }
