package hashchain

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
)

// CheckpointSize is the size of an encoded Checkpoint.
const CheckpointSize = 152

// checkpointFormat is the version byte of the checkpoint encoding.
const checkpointFormat = 1

// checkpointDomain opens every checkpoint signature (see stampDomain).
const checkpointDomain = "conto-checkpoint"

// Checkpoint is a node's signed statement that partition's system hash at
// version is System. A client that keeps one can later hold the server to the
// whole history before it: every block's root, every m and every head hangs
// off System.
type Checkpoint struct {
	Partition uint32
	Version   uint64
	Alg       Alg  // the algorithm of System
	System    Hash // SystemHash of the batch at Version
	Time      uint64
	PublicKey [32]byte // the signer's ed25519 public key
	Signature [64]byte // ed25519 over "conto-checkpoint" || bytes [0,88) of the encoding
}

// SignCheckpoint signs partition's system hash at version with key, at time
// (ns). key must be a full ed25519 private key, as LoadOrCreateKey returns;
// with any other length the checkpoint is left unsigned (zero public key and
// signature) and its Verify fails.
func SignCheckpoint(key ed25519.PrivateKey, partition uint32, version uint64, alg Alg, system Hash, time uint64) Checkpoint {
	c := Checkpoint{Partition: partition, Version: version, Alg: alg, System: system, Time: time}
	if len(key) != ed25519.PrivateKeySize {
		return c
	}
	copy(c.PublicKey[:], key[32:])
	msg := c.message()
	copy(c.Signature[:], ed25519.Sign(key, msg[:]))
	return c
}

// Verify checks the checkpoint's algorithm and its signature against its own
// PublicKey; whether that key belongs to a trusted node is the caller's
// decision.
func (c *Checkpoint) Verify() error {
	if !c.Alg.Valid() {
		return fmt.Errorf("checkpoint of partition %d version %d: %w %d", c.Partition, c.Version, ErrUnknownAlg, uint8(c.Alg))
	}
	msg := c.message()
	if !ed25519.Verify(c.PublicKey[:], msg[:], c.Signature[:]) {
		return fmt.Errorf("checkpoint of partition %d version %d: %w", c.Partition, c.Version, ErrSignature)
	}
	return nil
}

// message is what a checkpoint signs: the domain, then every field but the
// signature, in the layout of the encoding.
func (c *Checkpoint) message() [len(checkpointDomain) + 88]byte {
	var m [len(checkpointDomain) + 88]byte
	n := copy(m[:], checkpointDomain)
	c.putSigned(m[n:])
	return m
}

// putSigned writes bytes [0,88) of the encoding: every field but the
// signature (layout on MarshalBinary).
func (c *Checkpoint) putSigned(b []byte) {
	_ = b[87]
	b[0], b[1], b[2], b[3] = checkpointFormat, byte(c.Alg), 0, 0
	binary.LittleEndian.PutUint32(b[4:], c.Partition)
	binary.LittleEndian.PutUint64(b[8:], c.Version)
	binary.LittleEndian.PutUint64(b[16:], c.Time)
	copy(b[24:56], c.System[:])
	copy(b[56:88], c.PublicKey[:])
}

// MarshalBinary encodes c in CheckpointSize bytes, little-endian. It never
// fails. The signature covers "conto-checkpoint" followed by bytes [0,88):
//
//	[0]       format u8 (1)
//	[1]       alg    u8
//	[2:4]     reserved, zero
//	[4:8]     partition u32
//	[8:16]    version   u64
//	[16:24]   time      u64 (ns)
//	[24:56]   system hash
//	[56:88]   public key
//	[88:152]  signature
func (c *Checkpoint) MarshalBinary() ([]byte, error) {
	b := make([]byte, CheckpointSize)
	c.putSigned(b)
	copy(b[88:], c.Signature[:])
	return b, nil
}

// UnmarshalBinary decodes exactly CheckpointSize bytes written by
// MarshalBinary. It is strict (format version, algorithm, reserved bytes)
// and does not verify the signature: call Verify. On error c is unchanged.
func (c *Checkpoint) UnmarshalBinary(b []byte) error {
	switch {
	case len(b) != CheckpointSize:
		return fmt.Errorf("checkpoint of %d bytes, want %d: %w", len(b), CheckpointSize, ErrFormat)
	case b[0] != checkpointFormat:
		return fmt.Errorf("checkpoint format %d, want %d: %w", b[0], checkpointFormat, ErrFormat)
	case !Alg(b[1]).Valid():
		return fmt.Errorf("checkpoint alg %d: %w", b[1], ErrFormat)
	case b[2] != 0 || b[3] != 0:
		return fmt.Errorf("checkpoint reserved bytes [2,4) not zero: %w", ErrFormat)
	}
	v := Checkpoint{
		Alg:       Alg(b[1]),
		Partition: binary.LittleEndian.Uint32(b[4:]),
		Version:   binary.LittleEndian.Uint64(b[8:]),
		Time:      binary.LittleEndian.Uint64(b[16:]),
	}
	copy(v.System[:], b[24:56])
	copy(v.PublicKey[:], b[56:88])
	copy(v.Signature[:], b[88:152])
	*c = v
	return nil
}
