package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// Ids of the byte tokenizer's special tokens.
const (
	BytePAD  = 256
	ByteBOS  = 257
	ByteEOS  = 258
	ByteSize = 259
)

// Bytes is the byte-level tokenizer: id b < 256 is the byte b, then PAD, BOS
// and EOS. Encode never fails; Decode(Encode(s)) == s for every string s.
type Bytes struct{}

// NewBytes returns the byte-level tokenizer.
func NewBytes() *Bytes { return &Bytes{} }

// Encode returns the bytes of s as ids; the error is always nil.
func (*Bytes) Encode(s string) ([]int, error) {
	ids := make([]int, len(s))
	for i := 0; i < len(s); i++ {
		ids[i] = int(s[i])
	}
	return ids, nil
}

// Decode concatenates the bytes of ids; specials render as their names and
// ids outside [0, 259) as U+FFFD. Byte runs that are not valid UTF-8 (a
// truncated multi-byte character, say) are kept as they are.
func (*Bytes) Decode(ids []int) string {
	var b strings.Builder
	b.Grow(len(ids))
	for _, id := range ids {
		switch {
		case id >= 0 && id < 256:
			b.WriteByte(byte(id))
		case id == BytePAD:
			b.WriteString(string(PAD))
		case id == ByteBOS:
			b.WriteString(string(BOS))
		case id == ByteEOS:
			b.WriteString(string(EOS))
		default:
			b.WriteRune(utf8.RuneError)
		}
	}
	return b.String()
}

// Size returns 259.
func (*Bytes) Size() int { return ByteSize }

// PAD returns 256.
func (*Bytes) PAD() int { return BytePAD }

// BOS returns 257.
func (*Bytes) BOS() int { return ByteBOS }

// EOS returns 258.
func (*Bytes) EOS() int { return ByteEOS }

// Name returns "bytes(259)".
func (*Bytes) Name() string { return "bytes(259)" }

// Spec returns {Kind: "bytes", Specials: [<pad> <bos> <eos>], Size: 259}.
func (*Bytes) Spec() Spec {
	return Spec{Kind: KindBytes, Specials: []Special{PAD, BOS, EOS}, Size: ByteSize}
}
