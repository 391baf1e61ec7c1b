package data

import (
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/slowai-go/course/slowai/safefile"
)

// verifyCached checks a cached file against its published checksum, cheaply: after a file
// passes once, a small note beside it (.NAME.verified: checksum, size, modification time) lets
// later runs skip the hashing as long as the file has not changed since. A cache that cannot be
// written is simply hashed each time.
func verifyCached(path, sum string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	stamp := fmt.Sprintf("%s %d %d\n", strings.ToLower(sum), st.Size(), st.ModTime().UnixNano())
	note := verifiedNote(path)
	if b, err := os.ReadFile(note); err == nil && string(b) == stamp {
		return nil
	}
	got, err := fileSum(path, sum)
	if err != nil {
		return err
	}
	if got != strings.ToLower(sum) {
		return fmt.Errorf("its checksum is %s, the published one %s", got, sum)
	}
	safefile.Write(note, []byte(stamp)) // best effort: without it the next run hashes again
	return nil
}

// forgetVerified drops the note of a file that was just replaced.
func forgetVerified(path string) { os.Remove(verifiedNote(path)) }

func verifiedNote(path string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".verified")
}

// fileSum returns the hex digest of the file at path with the hash want's length implies.
func fileSum(path, want string) (string, error) {
	newHash, err := hasherFor(want)
	if err != nil {
		return "", err
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := newHash()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
