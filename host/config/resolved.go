package config

import (
	"bytes"
	"fmt"
	"reflect"

	"github.com/BurntSushi/toml"
)

// Resolved returns the experiment re-encoded as TOML with every default
// filled in and the sweep expanded: parsing it yields the same experiment.
func (e *Experiment) Resolved() ([]byte, error) {
	out := struct {
		Run        Run             `toml:"run"`
		Model      Model           `toml:"model"`
		Tokenizer  Tokenizer       `toml:"tokenizer"`
		Data       Data            `toml:"data"`
		Reference  Reference       `toml:"reference"`
		Optimizer  Optimizer       `toml:"optimizer"`
		Train      Train           `toml:"train"`
		Task       *toml.Primitive `toml:"task,omitempty"`
		Objectives []Objective     `toml:"objective"`
	}{e.Run, e.Model, e.Tokenizer, e.Data, e.Reference, e.Optimizer, e.Train, e.Task, e.Objectives}
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(out); err != nil {
		return nil, fmt.Errorf("config: encoding resolved experiment: %w", err)
	}
	return buf.Bytes(), nil
}

// Setting is one key and its value as text (strings quoted).
type Setting struct {
	Key   string
	Value string
}

// ShapeKeys returns the settings that fix the shape of the model's
// parameters and the meaning of its token ids: every model.* key except
// model.init (which only chooses starting values) and every tokenizer.* key,
// in file order. A run must not resume under different values.
func (e *Experiment) ShapeKeys() []Setting {
	var s []Setting
	for _, sec := range []struct {
		name string
		v    any
	}{{"model", e.Model}, {"tokenizer", e.Tokenizer}} {
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
