package hashchain

import "math/bits"

// The Merkle tree is RFC 6962 §2.1 exactly, with H = H_alg and no tag or
// algorithm byte, so for SHA-256 the certificate-transparency test vectors
// apply:
//
//	MTH({})      = H("")
//	MTH({d})     = H(0x00 || d)
//	MTH(D[0:n])  = H(0x01 || MTH(D[0:k]) || MTH(D[k:n])), k the largest power of two < n
//
// The leaves of a batch are 32-byte hashes (Block.Leaves), so d is 32 bytes.
// The code builds the tree bottom-up, pairing neighbours and carrying an
// unpaired last node up a level unchanged, which gives the same tree as the
// recursive split and needs no recursion or per-node allocation.

// leafHash is RFC 6962's leaf hash H(0x00 || d) of a 32-byte leaf.
func leafHash(alg Alg, d Hash) Hash {
	var b [1 + len(d)]byte
	copy(b[1:], d[:])
	return sumOf(alg, b[:])
}

// nodeHash is RFC 6962's interior node hash H(0x01 || l || r).
func nodeHash(alg Alg, l, r Hash) Hash {
	var b [1 + 2*len(l)]byte
	b[0] = 0x01
	copy(b[1:], l[:])
	copy(b[1+len(l):], r[:])
	return sumOf(alg, b[:])
}

// MerkleRoot returns the RFC 6962 root of leaves (the zero Hash for an
// invalid alg).
func MerkleRoot(alg Alg, leaves []Hash) Hash {
	if !alg.Valid() {
		return Hash{}
	}
	level := make([]Hash, len(leaves))
	for i, l := range leaves {
		level[i] = leafHash(alg, l)
	}
	return reduceRoot(alg, level)
}

// reduceRoot returns the root over level, a tree's leaf hashes, overwriting
// level as scratch space.
func reduceRoot(alg Alg, level []Hash) Hash {
	if len(level) == 0 {
		return sumOf(alg, nil)
	}
	for len(level) > 1 {
		level = reduceLevel(alg, level)
	}
	return level[0]
}

// reduceLevel replaces one level of the tree by the next one up, in place,
// and returns it.
func reduceLevel(alg Alg, level []Hash) []Hash {
	n := 0
	for i := 0; i+1 < len(level); i += 2 {
		level[n] = nodeHash(alg, level[i], level[i+1])
		n++
	}
	if len(level)%2 == 1 {
		level[n] = level[len(level)-1]
		n++
	}
	return level[:n]
}

// InclusionProof returns the RFC 6962 audit path of leaves[index], siblings
// from the leaf up: what VerifyInclusion needs besides the leaf and the root.
// It returns nil for an index out of range or an invalid alg (a one-leaf
// tree's path is empty, and also nil).
func InclusionProof(alg Alg, leaves []Hash, index int) []Hash {
	if !alg.Valid() || index < 0 || index >= len(leaves) {
		return nil
	}
	level := make([]Hash, len(leaves))
	for i, l := range leaves {
		level[i] = leafHash(alg, l)
	}
	return pathOf(alg, level, index)
}

// pathOf returns the audit path of index in a tree with leaf hashes level,
// overwriting level.
func pathOf(alg Alg, level []Hash, index int) []Hash {
	var proof []Hash
	if len(level) > 1 {
		proof = make([]Hash, 0, bits.Len(uint(len(level)-1)))
	}
	for len(level) > 1 {
		// An unpaired last node has no sibling at this level: it is carried up.
		if sib := index ^ 1; sib < len(level) {
			proof = append(proof, level[sib])
		}
		level = reduceLevel(alg, level)
		index /= 2
	}
	return proof
}

// VerifyInclusion reports whether proof shows leaf at index in the tree of
// size leaves with root, by the algorithm of RFC 9162 §2.1.3.2 (which
// verifies RFC 6962 paths).
func VerifyInclusion(alg Alg, leaf Hash, index, size int, proof []Hash, root Hash) bool {
	if !alg.Valid() {
		return false
	}
	return verifyLeafHash(alg, leafHash(alg, leaf), index, size, proof, root)
}

// verifyLeafHash is VerifyInclusion for an already hashed leaf.
func verifyLeafHash(alg Alg, lh Hash, index, size int, proof []Hash, root Hash) bool {
	if index < 0 || index >= size {
		return false
	}
	fn, sn := uint64(index), uint64(size-1)
	r := lh
	for _, p := range proof {
		if sn == 0 {
			return false
		}
		if fn&1 == 1 || fn == sn {
			r = nodeHash(alg, p, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = nodeHash(alg, r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	return sn == 0 && r == root
}

// The raw-data variants below hash arbitrary leaf data instead of 32-byte
// leaves. Chains never use them; they exist so the tests can check the tree
// against RFC 6962's published vectors, whose leaves are not 32 bytes.

// leafHashData is H(0x00 || d) for leaf data of any length.
func leafHashData(alg Alg, d []byte) Hash {
	h := newHash(alg)
	h.Write([]byte{0x00})
	h.Write(d)
	var out Hash
	h.Sum(out[:0])
	return out
}

// merkleRootData is MerkleRoot over raw leaf data.
func merkleRootData(alg Alg, data [][]byte) Hash {
	level := make([]Hash, len(data))
	for i, d := range data {
		level[i] = leafHashData(alg, d)
	}
	return reduceRoot(alg, level)
}

// inclusionProofData is InclusionProof over raw leaf data.
func inclusionProofData(alg Alg, data [][]byte, index int) []Hash {
	if index < 0 || index >= len(data) {
		return nil
	}
	level := make([]Hash, len(data))
	for i, d := range data {
		level[i] = leafHashData(alg, d)
	}
	return pathOf(alg, level, index)
}
