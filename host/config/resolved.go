package config

import (
	"bytes"
	"fmt"
	"reflect"

	"github.com/BurntSushi/toml"
)

// Resolved returns the experiment as TOML holding every value in effect —
// defaults, the task's included, and paths made absolute — with the sweep
// expanded, and no section that does not apply: no [tokenizer] or [data]
// beside [task]; no [reference] or [[objective]], and of [data] only what
// fine-tuning reads, in a fine-tuning experiment. Parsing it (with Parse, or
// ParseSFT for fine-tuning) yields the same experiment.
func (e *Experiment) Resolved() ([]byte, error) {
	type sftData struct {
		Train        string  `toml:"train"`
		Eval         string  `toml:"eval"`
		EvalFraction float64 `toml:"eval_fraction"`
		MaxLength    int     `toml:"max_length"`
	}
	out := struct {
		Run        Run         `toml:"run"`
		Model      Model       `toml:"model"`
		Tokenizer  *Tokenizer  `toml:"tokenizer,omitempty"`
		Data       any         `toml:"data,omitempty"`
		Task       *Task       `toml:"task,omitempty"`
		Reference  *Reference  `toml:"reference,omitempty"`
		Optimizer  Optimizer   `toml:"optimizer"`
		Train      Train       `toml:"train"`
		Objectives []Objective `toml:"objective,omitempty"`
	}{Run: e.Run, Model: e.Model, Optimizer: e.Optimizer, Train: e.Train, Objectives: e.Objectives}
	switch {
	case e.Task != nil:
		out.Task = e.Task
	case e.sft:
		d := e.Data
		out.Tokenizer = &e.Tokenizer
		out.Data = sftData{Train: d.Train, Eval: d.Eval, EvalFraction: d.EvalFraction, MaxLength: d.MaxLength}
	default:
		out.Tokenizer, out.Data = &e.Tokenizer, e.Data
	}
	if !e.sft {
		out.Reference = &e.Reference
	}
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(out); err != nil {
		return nil, fmt.Errorf("config: encoding resolved experiment: %w", err)
	}
	return buf.Bytes(), nil
}

// Reresolve parses saved, the resolved configuration of an earlier run
// (path names it in errors), as the same kind of experiment as e, and
// returns it resolved again: keys the schema gained since it was saved
// appear with their defaults, so it compares key by key with e.Resolved().
func (e *Experiment) Reresolve(saved []byte, path string) ([]byte, error) {
	old, err := parse(saved, path, e.sft, false)
	if err != nil {
		return nil, err
	}
	return old.Resolved()
}

// Setting is one key and its value as text (strings quoted).
type Setting struct {
	Key   string
	Value string
}

// ShapeKeys returns the settings that fix the shape of the model's
// parameters and the meaning of its token ids: every model.* key except
// model.init (which only chooses starting values) and every tokenizer.* key
// (none beside [task], whose tokenizer model.vocab fixes), in file order. A
// run must not resume under different values.
func (e *Experiment) ShapeKeys() []Setting {
	var s []Setting
	secs := []struct {
		name string
		v    any
	}{{"model", e.Model}, {"tokenizer", e.Tokenizer}}
	if e.Task != nil {
		secs = secs[:1]
	}
	for _, sec := range secs {
		rv := reflect.ValueOf(sec.v)
		for i := range rv.NumField() {
			tag := rv.Type().Field(i).Tag.Get("toml")
			if sec.name == "model" && tag == "init" {
				continue
			}
			f := rv.Field(i)
			val := fmt.Sprint(f.Interface())
			if f.Kind() == reflect.String {
				val = fmt.Sprintf("%q", f.String())
			}
			s = append(s, Setting{sec.name + "." + tag, val})
		}
	}
	return s
}

// ShapeChanges lists how the shape-defining settings of next differ from
// those of prev, one message per key ("model.width changed from 128 to
// 64"); nil when they agree.
func ShapeChanges(prev, next *Experiment) []string {
	a, b := prev.ShapeKeys(), next.ShapeKeys()
	var msgs []string
	for i := range a {
		if a[i].Value != b[i].Value {
			msgs = append(msgs, fmt.Sprintf("%s changed from %s to %s", a[i].Key, a[i].Value, b[i].Value))
		}
	}
	return msgs
}
