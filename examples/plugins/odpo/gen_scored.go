//go:build ignore

// gen_scored writes scored.jsonl: 36 arithmetic preference pairs in TRL's
// paired format with UltraFeedback-style scores on a 1–10 scale. The chosen
// completion is the right sum, the rejected one is off by k ∈ {1, …, 4};
// score_chosen is 9, 9.25 or 9.5 and score_rejected = score_chosen − 1.5·k,
// so a worse answer is dispreferred more strongly. Deterministic: no
// randomness.
package main

import (
	"encoding/json"
	"fmt"
	"log"
	"os"
)

type pair struct {
	Prompt        string  `json:"prompt"`
	Chosen        string  `json:"chosen"`
	Rejected      string  `json:"rejected"`
	ScoreChosen   float64 `json:"score_chosen"`
	ScoreRejected float64 `json:"score_rejected"`
}

func main() {
	f, err := os.Create("scored.jsonl")
	if err != nil {
		log.Fatal(err)
	}
	enc := json.NewEncoder(f)
	for i := range 36 {
		a, b := 2+i%6, 3+i/6
		k := 1 + (i*5)%4
		wrong := a + b + k
		if i%2 == 1 {
			wrong = a + b - k
		}
		sc := 9 + 0.25*float64(i%3)
		p := pair{
			Prompt:      fmt.Sprintf("%d + %d =", a, b),
			Chosen:      fmt.Sprintf(" %d", a+b),
			Rejected:    fmt.Sprintf(" %d", wrong),
			ScoreChosen: sc, ScoreRejected: sc - 1.5*float64(k),
		}
		if err := enc.Encode(p); err != nil {
			log.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}
