// Package tokenpo tests the Python TokenPO plugin in tokenpo.py through
// prefopt's Go host: the shared conformance suite across the process
// boundary on per-token inputs, list parameters and a data column, and the
// Python SDK's parameter resolution against core.Spec.Resolve on the same
// spec. The tests skip when /usr/bin/python3 lacks the Python SDK's
// dependencies.
package tokenpo

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prefopt/prefopt/core"
	"github.com/prefopt/prefopt/core/conformance"
	"github.com/prefopt/prefopt/core/plugin"
	"github.com/prefopt/prefopt/internal/pytest"
)

func requirePython(t testing.TB) { pytest.Require(t, pytest.SDK...) }

func launch(t *testing.T) *plugin.Client {
	t.Helper()
	requirePython(t)
	path, err := filepath.Abs("tokenpo.py")
	require.NoError(t, err)
	c, err := plugin.Launch(context.Background(), plugin.Config{Path: path, Label: "tokenpo", AutoMTLS: true})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, c.Close()) })
	return c
}

func TestConformanceThroughPython(t *testing.T) {
	c := launch(t)
	require.Equal(t, "tokenpo", c.Spec().Name)
	for name, params := range map[string]map[string]any{
		"defaults": nil,
		"mix_discount_column": {"loss_type": []any{"sigmoid", "hinge", "ipo"}, "loss_weights": []any{1.0, 0.5, 0.25},
			"gamma": 0.8, "beta": 0.5, "weight_column": "score"},
	} {
		t.Run(name, func(t *testing.T) { conformance.Run(t, c, params) })
	}
}

// TestColumnReachesObjective checks that the data column weighs each pair:
// doubling it doubles every loss and gradient.
func TestColumnReachesObjective(t *testing.T) {
	c := launch(t)
	obj, _, err := c.Configure(context.Background(), map[string]any{"weight_column": "w"})
	require.NoError(t, err)
	require.Contains(t, obj.Inputs(), core.ColumnInput("w"))
	b := conformance.RandomBatch(rand.New(rand.NewPCG(3, 4)), obj.Inputs(), 4)
	r1, err := obj.Compute(context.Background(), b)
	require.NoError(t, err)
	w := *b.Floats(core.ColumnInput("w"))
	doubled := make([]float64, len(w))
	for i, v := range w {
		doubled[i] = 2 * v
	}
	b2 := b.Clone()
	b2.SetColumn(core.ColumnInput("w"), doubled)
	r2, err := obj.Compute(context.Background(), b2)
	require.NoError(t, err)
	for i := range r1.Losses {
		assert.Equal(t, 2*r1.Losses[i], r2.Losses[i], "losses[%d]", i)
	}
	for k, rows := range r1.TokenGrads {
		for i, row := range rows {
			for j, g := range row {
				assert.Equal(t, 2*g, r2.TokenGrads[k][i][j], "%s[%d][%d]", k, i, j)
			}
		}
	}
}

// TestListParamsResolveAsGo sends the same parameters to the Python plugin
// and to core.Spec.Resolve on the spec the plugin publishes: errors must
// read the same, resolved values must be equal.
func TestListParamsResolveAsGo(t *testing.T) {
	c := launch(t)
	spec := c.Spec()
	cases := []map[string]any{
		{"loss_type": []any{"sigmoid", "bogus"}},
		{"loss_type": []any{}},
		{"loss_type": []any{"sigmoid", "hinge", "ipo", "sigmoid"}},
		{"loss_type": "sigmoid"},
		{"loss_type": []any{1, 2}},
		{"loss_type": []any{"sigmoid", "ipo"}},
		{"loss_type": []any{"sigmoid", "ipo"}, "loss_weights": []any{1, 0.5}},
		{"loss_type": []any{"hinge"}, "loss_weights": []any{}},
		{"loss_weights": []any{1.0, -2.0}},
		{"loss_weights": []any{0.5, 0.5}},
		{"loss_weights": []any{math.NaN()}},
		{"loss_weights": []any{"a"}},
		{"loss_weights": []any{int64(3)}},
		{"loss_weights": 1.0},
		{"beta": []any{1.0, 2.5}},
		{"beta": []any{"a", "b"}},
		{"gamma": 0.0, "loss_type": []any{"x", "sigmoid", "y"}, "zzz": 1, "loss_weights": []any{1e-300, 1e21}},
		{"loss_type": []any{"ipo", "hinge"}, "loss_weights": []any{2, 3}, "beta": 0.25},
	}
	for _, raw := range cases {
		want, wantErr := spec.Resolve(raw)
		_, got, gotErr := c.Configure(context.Background(), raw)
		if wantErr != nil {
			require.Error(t, gotErr, "%v", raw)
			assert.Equal(t, wantErr.Error(), gotErr.Error(), "%v", raw)
			continue
		}
		require.NoError(t, gotErr, "%v", raw)
		assert.Equal(t, want.Values(), got.Values(), "%v", raw)
		assert.Equal(t, want.SetValues(), got.SetValues(), "%v", raw)
	}
}

// TestPythonVocabularyMatchesCore compares the Python SDK's input vocabulary
// (python/prefopt/inputs.py) with core.Fields and core.LookupField.
func TestPythonVocabularyMatchesCore(t *testing.T) {
	requirePython(t)
	probes := []string{"column.score_chosen", "column.a-b_9", "column.", "column.a b", "column.é", "columns.x", "policy_x"}
	script := `import json, sys
from prefopt import inputs
probes = json.loads(sys.argv[1])
fields = [dict(name=f.name, kind=f.kind, layout=f.layout or "", policy=f.policy, reference=f.reference,
               lengths=f.lengths, column=f.column) for f in inputs.FIELDS]
looked = {}
for p in probes:
    f = inputs.lookup(p)
    looked[p] = None if f is None else dict(kind=f.kind, column=f.column, policy=f.policy)
print(json.dumps(dict(fields=fields, lookup=looked)))`
	pjson, err := json.Marshal(probes)
	require.NoError(t, err)
	cmd := exec.Command("/usr/bin/python3", "-c", script, string(pjson))
	cmd.Env = append(os.Environ(), "PYTHONPATH="+filepath.Join("..", "..", "..", "..", "python"))
	out, err := cmd.Output()
	require.NoError(t, err)
	type field struct {
		Name, Kind, Layout, Lengths string
		Policy, Reference, Column   bool
	}
	type lookup struct {
		Kind           string
		Column, Policy bool
	}
	var got struct {
		Fields []field
		Lookup map[string]*lookup
	}
	require.NoError(t, json.Unmarshal(out, &got))
	var want []field
	for _, f := range core.Fields {
		want = append(want, field{Name: f.Name, Kind: f.Kind.String(), Layout: f.Layout.String(), Lengths: f.Lengths,
			Policy: f.Policy, Reference: f.Reference, Column: f.Column})
	}
	assert.Equal(t, want, got.Fields)
	for _, p := range probes {
		f, ok := core.LookupField(p)
		if !ok {
			assert.Nil(t, got.Lookup[p], p)
			continue
		}
		require.NotNil(t, got.Lookup[p], p)
		assert.Equal(t, lookup{Kind: f.Kind.String(), Column: f.Column, Policy: f.Policy}, *got.Lookup[p], p)
	}
}
