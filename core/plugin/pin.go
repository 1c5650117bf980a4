package plugin

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// errPinMismatch reports that a pinned binary's bytes do not hash to the
// pin.
type errPinMismatch struct{ got []byte }

func (e errPinMismatch) Error() string { return fmt.Sprintf("sha256 is %x", e.got) }

// pinnedCopy copies the binary at path into a new private (0700) directory,
// hashing the bytes as it copies them, and returns the copy's path if their
// sha256 is want. Executing the copy runs exactly the bytes that were
// hashed: replacing or rewriting path meanwhile changes nothing. The caller
// removes dir once the process has exited.
//
// The copy lives elsewhere than path: a plugin that finds files next to its
// own executable must be pinned some other way (e.g. pin a wrapper script
// that execs it by absolute path, and the files it reads).
func pinnedCopy(path string, want []byte) (copyPath, dir string, err error) {
	src, err := os.Open(path)
	if err != nil {
		return "", "", err
	}
	defer src.Close()
	tmp, err := os.MkdirTemp("", "prefopt-plugin-")
	if err != nil {
		return "", "", err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	copyPath = filepath.Join(tmp, filepath.Base(path))
	dst, err := os.OpenFile(copyPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o700)
	if err != nil {
		return "", "", err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(dst, h), src)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", "", err
	}
	if got := h.Sum(nil); !bytes.Equal(got, want) {
		return "", "", errPinMismatch{got: got}
	}
	return copyPath, tmp, nil
}
