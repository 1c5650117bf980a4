package dpo_test

import (
	"testing"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/core/conformance"
	"github.com/prefopt/prefopt/objectives/dpo"
)

// variants configures every loss type alone, mixtures, every f-divergence,
// WPO and LD-DPO; the plugin test in objectives/builtin runs them too.
var variants = []struct {
	name   string
	params map[string]any
}{
	{"defaults", nil},
	{"sigmoid/label_smoothing", map[string]any{"label_smoothing": 0.2, "beta": 0.5}},
	{"sigmoid/label_smoothing_half", map[string]any{"label_smoothing": 0.5}},
	{"hinge", map[string]any{"loss_type": []string{"hinge"}, "beta": 0.3}},
	{"ipo", map[string]any{"loss_type": []string{"ipo"}}},
	{"exo_pair", map[string]any{"loss_type": []string{"exo_pair"}, "label_smoothing": 1e-3}},
	{"nca_pair", map[string]any{"loss_type": []string{"nca_pair"}}},
	{"robust", map[string]any{"loss_type": []string{"robust"}}},
	{"robust/label_smoothing", map[string]any{"loss_type": []string{"robust"}, "label_smoothing": 0.1}},
	{"bco_pair", map[string]any{"loss_type": []string{"bco_pair"}}},
	{"sppo_hard", map[string]any{"loss_type": []string{"sppo_hard"}}},
	{"aot", map[string]any{"loss_type": []string{"aot"}}},
	{"aot/label_smoothing", map[string]any{"loss_type": []string{"aot"}, "label_smoothing": 0.2}},
	{"aot_unpaired", map[string]any{"loss_type": []string{"aot_unpaired"}, "beta": 0.5}},
	{"apo_zero", map[string]any{"loss_type": []string{"apo_zero"}}},
	{"apo_down", map[string]any{"loss_type": []string{"apo_down"}}},
	{"discopop", map[string]any{"loss_type": []string{"discopop"}}},
	{"discopop/tau", map[string]any{"loss_type": []string{"discopop"}, "discopop_tau": 0.5, "beta": 0.05}},
	{"sft", map[string]any{"loss_type": []string{"sft"}}},
	{"sigmoid_norm", map[string]any{"loss_type": []string{"sigmoid_norm"}, "beta": 2.0}},
	{"rpo", map[string]any{"loss_type": []string{"sigmoid", "sft"}, "loss_weights": []float64{1, 0.5}}},
	{"mpo", map[string]any{"loss_type": []string{"sigmoid", "bco_pair", "sft"}, "loss_weights": []float64{0.8, 0.2, 1}}},
	{"mix/sorted", map[string]any{"loss_type": []string{"aot", "ipo", "hinge"}, "loss_weights": []float64{0.5, 0.25, 2}}},
	{"forward_kl", map[string]any{"f_divergence_type": "forward_kl"}},
	// Squared losses of forward_kl scores reach e^160 on random batches,
	// beyond what a float64 finite difference resolves; golden.json covers them.
	{"forward_kl/mix", map[string]any{"f_divergence_type": "forward_kl", "loss_type": []string{"bco_pair", "apo_down", "exo_pair"},
		"label_smoothing": 0.01}},
	{"js_divergence", map[string]any{"f_divergence_type": "js_divergence"}},
	{"js_divergence/mix", map[string]any{"f_divergence_type": "js_divergence",
		"loss_type": []string{"nca_pair", "apo_down", "ipo", "aot_unpaired"}}},
	{"alpha_divergence", map[string]any{"f_divergence_type": "alpha_divergence"}},
	{"alpha_divergence/0.3/mix", map[string]any{"f_divergence_type": "alpha_divergence", "f_alpha_divergence_coef": 0.3,
		"loss_type": []string{"bco_pair", "discopop", "sigmoid_norm"}}},
	{"wpo", map[string]any{"use_weighting": true}},
	{"wpo/rpo", map[string]any{"use_weighting": true, "loss_type": []string{"sigmoid", "sft"}}},
	{"wpo/ipo", map[string]any{"use_weighting": true, "loss_type": []string{"ipo"}}},
	{"ld", map[string]any{"ld_alpha": 0.5}},
	{"ld/zero", map[string]any{"ld_alpha": 0.0, "loss_type": []string{"sigmoid_norm"}}},
	{"ld/rpo", map[string]any{"ld_alpha": 0.3, "loss_type": []string{"sigmoid", "sft"}}},
	{"ld/aot", map[string]any{"ld_alpha": 0.7, "loss_type": []string{"aot", "apo_zero"}}},
	{"ld/wpo/js", map[string]any{"ld_alpha": 0.5, "use_weighting": true, "f_divergence_type": "js_divergence"}},
	{"ld/reference_free", map[string]any{"ld_alpha": 0.5, "reference_free": true}},
	{"reference_free", map[string]any{"reference_free": true}},
	{"reference_free/hinge", map[string]any{"reference_free": true, "loss_type": []string{"hinge"}}},
}

func TestConformance(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) { conformance.Run(t, core.Local(dpo.Definition()), v.params) })
	}
}
