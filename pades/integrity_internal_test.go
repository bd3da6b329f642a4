package pades

import (
	"bytes"
	"context"
	"crypto"
	"math/rand/v2"
	"testing"
)

// TestDigestRangesMatchesNaive checks the one-pass digest (shared prefix
// hashed once, states cloned per signature) against hashing each
// signature's two ranges on its own, for random byte ranges shaped like
// real signatures: sorted, nested revisions, some ending on chunk edges,
// with several algorithms and a broken entry among them.
func TestDigestRangesMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	size := int64(3*digestChunk + 12345)
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(rng.IntN(256))
	}
	algs := []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512, crypto.SHA1, crypto.SHA224}
	for round := 0; round < 60; round++ {
		var entries []*sigEntry
		var prevEnd int64
		n := 1 + rng.IntN(4)
		for i := 0; i < n; i++ {
			// a revision ending somewhere after the previous one
			end := prevEnd + 1 + rng.Int64N((size-prevEnd)/int64(n-i))
			if i == n-1 && rng.IntN(2) == 0 {
				end = size
			}
			if rng.IntN(5) == 0 {
				end = min(size, int64(digestChunk)*(1+rng.Int64N(3)))
			}
			if end <= prevEnd {
				end = min(size, prevEnd+1)
			}
			a := prevEnd + rng.Int64N(end-prevEnd)
			b := a + rng.Int64N(end-a+1)
			e := &sigEntry{hash: algs[rng.IntN(len(algs))], byteRange: [4]int64{0, a, b, end - b}}
			if rng.IntN(10) == 0 {
				e.err = errBrokenSignature
			}
			entries = append(entries, e)
			prevEnd = end
			if end == size {
				break
			}
		}
		fileDigest, err := digestRanges(context.Background(), bytes.NewReader(data), entries, crypto.SHA256, size)
		if err != nil {
			t.Fatal(err)
		}
		want := crypto.SHA256.New()
		want.Write(data)
		if !bytes.Equal(fileDigest, want.Sum(nil)) {
			t.Fatalf("round %d: file digest differs", round)
		}
		for i, e := range entries {
			if e.err != nil {
				if e.digest != nil {
					t.Errorf("round %d: broken entry %d got a digest", round, i)
				}
				continue
			}
			h := e.hash.New()
			r := e.byteRange
			h.Write(data[r[0]:r[1]])
			h.Write(data[r[2] : r[2]+r[3]])
			if !bytes.Equal(e.digest, h.Sum(nil)) {
				t.Fatalf("round %d: entry %d (%v, ranges %v) digest differs", round, i, e.hash, r)
			}
		}
	}
}

func TestDigestRangesCancelled(t *testing.T) {
	data := make([]byte, 2*digestChunk)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e := &sigEntry{hash: crypto.SHA256, byteRange: [4]int64{0, 10, 20, int64(len(data)) - 20}}
	if _, err := digestRanges(ctx, bytes.NewReader(data), []*sigEntry{e}, 0, 0); err == nil {
		t.Fatal("a cancelled context did not stop the pass")
	}
}
