package hashchain

import (
	"bytes"
	"encoding/hex"
	"testing"

	"pgregory.net/rapid"
)

// The certificate-transparency test vectors (transparency-dev/merkle,
// testonly/constants.go): leaf data, then the root of every prefix.
var ctLeaves = [][]byte{
	{},
	{0x00},
	{0x10},
	{0x20, 0x21},
	{0x30, 0x31},
	{0x40, 0x41, 0x42, 0x43},
	{0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57},
	{0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f},
}

var ctRoots = []string{
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}

// The published inclusion proofs (RFC 6962 test vectors; 0-based index).
var ctProofs = []struct {
	index, size int
	proof       []string
}{
	{0, 1, nil},
	{0, 8, []string{
		"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
		"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		"6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
	{5, 8, []string{
		"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
		"ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
	{2, 3, []string{
		"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
	{1, 5, []string{
		"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
}

func mustHash(t testing.TB, s string) Hash {
	t.Helper()
	h, err := ParseHash(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestMerkleRootRFC6962Vectors(t *testing.T) {
	for n := 0; n <= len(ctLeaves); n++ {
		if got := merkleRootData(SHA256, ctLeaves[:n]); got.String() != ctRoots[n] {
			t.Errorf("root of %d leaves = %v, want %s", n, got, ctRoots[n])
		}
	}
}

func TestInclusionProofRFC6962Vectors(t *testing.T) {
	for _, v := range ctProofs {
		got := inclusionProofData(SHA256, ctLeaves[:v.size], v.index)
		if len(got) != len(v.proof) {
			t.Fatalf("proof of %d in %d: %d hashes, want %d", v.index, v.size, len(got), len(v.proof))
		}
		for i := range got {
			if got[i].String() != v.proof[i] {
				t.Errorf("proof of %d in %d: [%d] = %v, want %s", v.index, v.size, i, got[i], v.proof[i])
			}
		}
	}
	// Every leaf of every prefix proves against the published root.
	for n := 1; n <= len(ctLeaves); n++ {
		root := mustHash(t, ctRoots[n])
		for i := 0; i < n; i++ {
			proof := inclusionProofData(SHA256, ctLeaves[:n], i)
			lh := leafHashData(SHA256, ctLeaves[i])
			if !verifyLeafHash(SHA256, lh, i, n, proof, root) {
				t.Errorf("leaf %d of %d does not verify", i, n)
			}
			// (A wrong size alone may still verify: the path of leaf 0 has
			// the same shape in trees of 3 and 4 leaves. The root binds it.)
			if other := mustHash(t, ctRoots[n-1]); verifyLeafHash(SHA256, lh, i, n, proof, other) {
				t.Errorf("leaf %d of %d verifies against the root of %d", i, n, n-1)
			}
		}
	}
}

// refRoot and refPath are RFC 6962 §2.1 written as the RFC writes it,
// recursively, to check the bottom-up code on every shape of tree.
func refRoot(alg Alg, lh []Hash) Hash {
	switch len(lh) {
	case 0:
		return sumOf(alg, nil)
	case 1:
		return lh[0]
	}
	k := splitPoint(len(lh))
	return nodeHash(alg, refRoot(alg, lh[:k]), refRoot(alg, lh[k:]))
}

func refPath(alg Alg, m int, lh []Hash) []Hash {
	if len(lh) <= 1 {
		return nil
	}
	k := splitPoint(len(lh))
	if m < k {
		return append(refPath(alg, m, lh[:k]), refRoot(alg, lh[k:]))
	}
	return append(refPath(alg, m-k, lh[k:]), refRoot(alg, lh[:k]))
}

// splitPoint is the largest power of two smaller than n (n > 1).
func splitPoint(n int) int {
	k := 1
	for k<<1 < n {
		k <<= 1
	}
	return k
}

func testLeaves(n int) []Hash {
	out := make([]Hash, n)
	for i := range out {
		out[i] = Sum(SHA256, 0xEE, []byte{byte(i), byte(i >> 8)})
	}
	return out
}

func TestMerkleMatchesRecursiveDefinition(t *testing.T) {
	for _, alg := range []Alg{SHA256, BLAKE2b256} {
		for n := 0; n <= 70; n++ {
			leaves := testLeaves(n)
			lh := make([]Hash, n)
			for i := range leaves {
				lh[i] = leafHash(alg, leaves[i])
			}
			root := MerkleRoot(alg, leaves)
			if want := refRoot(alg, lh); root != want {
				t.Fatalf("%v: root of %d = %v, want %v", alg, n, root, want)
			}
			for i := 0; i < n; i++ {
				got, want := InclusionProof(alg, leaves, i), refPath(alg, i, lh)
				if len(got) != len(want) {
					t.Fatalf("%v: proof %d of %d: %d hashes, want %d", alg, i, n, len(got), len(want))
				}
				for j := range got {
					if got[j] != want[j] {
						t.Fatalf("%v: proof %d of %d differs at %d", alg, i, n, j)
					}
				}
				if !VerifyInclusion(alg, leaves[i], i, n, got, root) {
					t.Fatalf("%v: proof %d of %d does not verify", alg, i, n)
				}
			}
		}
	}
}

func TestInclusionProofOutOfRange(t *testing.T) {
	leaves := testLeaves(5)
	for _, i := range []int{-1, 5, 100} {
		if p := InclusionProof(SHA256, leaves, i); p != nil {
			t.Errorf("InclusionProof(%d of 5) = %v, want nil", i, p)
		}
	}
	root := MerkleRoot(SHA256, leaves)
	if VerifyInclusion(SHA256, leaves[0], -1, 5, nil, root) || VerifyInclusion(SHA256, leaves[0], 0, 0, nil, root) {
		t.Error("negative index or empty tree verifies")
	}
	if VerifyInclusion(0, leaves[0], 0, 5, InclusionProof(SHA256, leaves, 0), root) {
		t.Error("invalid alg verifies")
	}
}

// Every inclusion proof verifies, and flipping any one bit of the leaf, of
// any proof hash or of the index makes it fail. Leaves are distinct: with two
// equal leaves, a proof does prove the other position too.
func TestInclusionProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		alg := rapid.SampledFrom([]Alg{SHA256, BLAKE2b256}).Draw(t, "alg")
		n := rapid.IntRange(1, 300).Draw(t, "n")
		seed := rapid.Byte().Draw(t, "seed")
		leaves := make([]Hash, n)
		for i := range leaves {
			leaves[i] = Sum(alg, seed, []byte{byte(i), byte(i >> 8)})
		}
		index := rapid.IntRange(0, n-1).Draw(t, "index")
		root := MerkleRoot(alg, leaves)
		proof := InclusionProof(alg, leaves, index)
		if !VerifyInclusion(alg, leaves[index], index, n, proof, root) {
			t.Fatalf("proof of %d in %d does not verify", index, n)
		}
		bit := rapid.IntRange(0, 255).Draw(t, "bit")
		leaf := leaves[index]
		leaf[bit/8] ^= 1 << (bit % 8)
		if VerifyInclusion(alg, leaf, index, n, proof, root) {
			t.Fatalf("leaf with bit %d flipped verifies", bit)
		}
		if len(proof) > 0 {
			j := rapid.IntRange(0, len(proof)-1).Draw(t, "proof hash")
			bad := append([]Hash(nil), proof...)
			bad[j][bit/8] ^= 1 << (bit % 8)
			if VerifyInclusion(alg, leaves[index], index, n, bad, root) {
				t.Fatalf("proof with bit %d of hash %d flipped verifies", bit, j)
			}
		}
		ibit := rapid.IntRange(0, 62).Draw(t, "index bit")
		if VerifyInclusion(alg, leaves[index], index^(1<<ibit), n, proof, root) {
			t.Fatalf("index %d with bit %d flipped verifies", index, ibit)
		}
	})
}

func TestLeafHashDataMatchesLeafHash(t *testing.T) {
	h := Sum(SHA256, 1, []byte("x"))
	if leafHashData(SHA256, h[:]) != leafHash(SHA256, h) {
		t.Fatal("raw-data leaf hash differs from the 32-byte one")
	}
	want, _ := hex.DecodeString(ctRoots[1])
	if got := leafHashData(SHA256, nil); !bytes.Equal(got[:], want) {
		t.Fatal("empty leaf hash is not the published one")
	}
}
