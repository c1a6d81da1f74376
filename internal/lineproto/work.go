package lineproto

import (
	"crypto/sha256"
	"encoding/hex"
)

// Work mode (v1.2): the payload is a decimal N; the answer is the hex
// digest of N chained SHA-256 rounds over the payload's own bytes. It is
// the protocol's handler that computes instead of waiting.
const (
	// MaxWork is the largest N a work line may ask for.
	MaxWork = 1_000_000
	// maxWorkDigits bounds N's digits, leading zeros included.
	maxWorkDigits = 7
	// WorkErrorTag starts the answer to a payload that is not a valid N.
	WorkErrorTag = "error: work"
)

// ParseWork reads a work payload: 1 to 7 ASCII digits, leading zeros
// allowed, at most MaxWork. ok is false for anything else (empty, a
// sign, a space, a CR left in the payload, a number over the limit).
func ParseWork(p []byte) (n int, ok bool) {
	if len(p) == 0 || len(p) > maxWorkDigits {
		return 0, false
	}
	for _, c := range p {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n <= MaxWork
}

// Work is the digest of n rounds over p: h0 = SHA-256(p), then each round
// hashes the previous digest's 32 raw bytes.
func Work(p []byte, n int) [sha256.Size]byte {
	h := sha256.Sum256(p)
	for range n {
		h = sha256.Sum256(h[:])
	}
	return h
}

// AppendWork appends the work-mode answer to payload p: "echo: " and the
// 64 lowercase hex digits of its digest, or an "error: work" line when p
// is not a valid N.
func AppendWork(dst, p []byte) []byte {
	n, ok := ParseWork(p)
	if !ok {
		dst = append(dst, WorkErrorTag...)
		return append(dst, ": want a decimal number from 0 to 1000000\n"...)
	}
	h := Work(p, n)
	dst = append(dst, EchoPrefix...)
	dst = hex.AppendEncode(dst, h[:])
	return append(dst, '\n')
}
