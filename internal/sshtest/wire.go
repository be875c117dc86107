package sshtest

import (
	"encoding/binary"
	"errors"
	"io"
)

// errDropped ends an SFTP session that Options.DropAfter cut off.
var errDropped = errors.New("sshtest: connection dropped after DropAfter requests")

const fxpVersion = 2 // SSH_FXP_VERSION

// sftpWire sits between an SSH channel and pkg/sftp's server. It counts the
// client's requests by their length-prefixed framing and can strip an
// extension from the server's VERSION packet.
type sftpWire struct {
	ch io.ReadWriteCloser

	// onRequest is called with n = 1, 2, ... as each request after INIT
	// starts arriving; false ends the session.
	onRequest     func(n int) bool
	noPosixRename bool

	// read side
	hdr     []byte // partial length prefix
	skip    uint32 // bytes left in the current packet
	packets int    // packets started, INIT included
	// write side
	out     []byte // first packet, buffered until complete
	outDone bool
}

func (w *sftpWire) Read(p []byte) (int, error) {
	n, err := w.ch.Read(p)
	for b := p[:n]; len(b) > 0; {
		if w.skip > 0 {
			k := min(uint32(len(b)), w.skip)
			w.skip -= k
			b = b[k:]
			continue
		}
		k := min(4-len(w.hdr), len(b))
		w.hdr = append(w.hdr, b[:k]...)
		b = b[k:]
		if len(w.hdr) < 4 {
			break
		}
		w.skip = binary.BigEndian.Uint32(w.hdr)
		w.hdr = w.hdr[:0]
		w.packets++
		if w.packets > 1 && w.onRequest != nil && !w.onRequest(w.packets-1) {
			return 0, errDropped
		}
	}
	return n, err
}

func (w *sftpWire) Write(p []byte) (int, error) {
	if w.outDone || !w.noPosixRename {
		return w.ch.Write(p)
	}
	w.out = append(w.out, p...)
	if len(w.out) < 4 || uint32(len(w.out)-4) < binary.BigEndian.Uint32(w.out) {
		return len(p), nil
	}
	w.outDone = true
	size := 4 + int(binary.BigEndian.Uint32(w.out))
	first, rest := w.out[:size], w.out[size:]
	if _, err := w.ch.Write(stripExtension(first, "posix-rename@openssh.com")); err != nil {
		return 0, err
	}
	if len(rest) > 0 {
		if _, err := w.ch.Write(rest); err != nil {
			return 0, err
		}
	}
	w.out = nil
	return len(p), nil
}

func (w *sftpWire) Close() error { return w.ch.Close() }

// stripExtension removes the named extension pair from a VERSION packet
// (uint32 length, byte type, uint32 version, then string pairs). Any other
// packet is returned as is.
func stripExtension(pkt []byte, name string) []byte {
	if len(pkt) < 9 || pkt[4] != fxpVersion {
		return pkt
	}
	out := append([]byte(nil), pkt[:9]...)
	rest := pkt[9:]
	for len(rest) > 0 {
		ext, r, ok := readString(rest)
		if !ok {
			return pkt
		}
		data, r, ok := readString(r)
		if !ok {
			return pkt
		}
		if string(ext) != name {
			out = binary.BigEndian.AppendUint32(out, uint32(len(ext)))
			out = append(out, ext...)
			out = binary.BigEndian.AppendUint32(out, uint32(len(data)))
			out = append(out, data...)
		}
		rest = r
	}
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	return out
}

func readString(b []byte) (s, rest []byte, ok bool) {
	if len(b) < 4 {
		return nil, nil, false
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(len(b)-4) < uint64(n) {
		return nil, nil, false
	}
	return b[4 : 4+n], b[4+n:], true
}
