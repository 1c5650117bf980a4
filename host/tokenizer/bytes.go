package tokenizer

import (
	"fmt"
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
// and (unless made by NewBytesNoEOS) EOS. Encode never fails;
// Decode(Encode(s)) == s for every string s.
type Bytes struct {
	noEOS bool
}

// NewBytes returns the byte-level tokenizer, with EOS: 259 ids.
func NewBytes() *Bytes { return &Bytes{} }

// NewBytesNoEOS returns the byte-level tokenizer without EOS (completions
// are not terminated): 258 ids, and EOS returns -1.
func NewBytesNoEOS() *Bytes { return &Bytes{noEOS: true} }

// Encode returns the bytes of s as ids; the error is always nil.
func (*Bytes) Encode(s string) ([]int, error) {
	ids := make([]int, len(s))
	for i := 0; i < len(s); i++ {
		ids[i] = int(s[i])
	}
	return ids, nil
}

// Decode concatenates the bytes of ids; specials render as their names and
// ids outside [0, Size()) as U+FFFD. Byte runs that are not valid UTF-8 (a
// truncated multi-byte character, say) are kept as they are.
func (t *Bytes) Decode(ids []int) string {
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
		case id == ByteEOS && !t.noEOS:
			b.WriteString(string(EOS))
		default:
			b.WriteRune(utf8.RuneError)
		}
	}
	return b.String()
}

// Size returns 259, or 258 without EOS.
func (t *Bytes) Size() int {
	if t.noEOS {
		return ByteSize - 1
	}
	return ByteSize
}

// PAD returns 256.
func (*Bytes) PAD() int { return BytePAD }

// BOS returns 257.
func (*Bytes) BOS() int { return ByteBOS }

// EOS returns 258, or -1 without EOS.
func (t *Bytes) EOS() int {
	if t.noEOS {
		return -1
	}
	return ByteEOS
}

// Name returns "bytes(259)", or "bytes(258)" without EOS.
func (t *Bytes) Name() string { return fmt.Sprintf("bytes(%d)", t.Size()) }

// Spec returns {Kind: "bytes", Specials: [<pad> <bos> <eos>], Size: 259}, or
// without EOS {Kind: "bytes", Specials: [<pad> <bos>], Size: 258}.
func (t *Bytes) Spec() Spec {
	if t.noEOS {
		return Spec{Kind: KindBytes, Specials: []Special{PAD, BOS}, Size: ByteSize - 1}
	}
	return Spec{Kind: KindBytes, Specials: []Special{PAD, BOS, EOS}, Size: ByteSize}
}
