package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestFramesRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.Send(FrameNote, []byte("col"), []byte("lect")); err != nil {
		t.Fatal(err)
	}
	if err := w.Output(300, Stderr, []byte("boom\n")); err != nil {
		t.Fatal(err)
	}
	if err := w.Send(FrameDone); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(&buf)
	tests := []struct {
		typ     byte
		payload string
	}{
		{FrameNote, "collect"},
		{FrameOutput, "\x01\x2c\x01boom\n"},
		{FrameDone, ""},
	}
	for _, tt := range tests {
		typ, payload, err := ReadFrame(r)
		if err != nil || typ != tt.typ || string(payload) != tt.payload {
			t.Fatalf("ReadFrame = %q, %q, %v; want %q, %q", typ, payload, err, tt.typ, tt.payload)
		}
		if typ == FrameOutput {
			cmd, s, data, err := ParseOutput(payload)
			if err != nil || cmd != 300 || s != Stderr || string(data) != "boom\n" {
				t.Fatalf("ParseOutput = %d, %s, %q, %v; want 300, stderr, \"boom\\n\"", cmd, s, data, err)
			}
		}
	}
	if _, _, err := ReadFrame(r); !errors.Is(err, io.EOF) {
		t.Fatalf("ReadFrame at the end: %v, want io.EOF", err)
	}
}

// TestReadFrameRefusesWhatTheHelperCannotSend: the host reads frames from
// inside the jail, so a frame too large, a cut frame or a short output
// frame is an error, never a read of untrusted size.
func TestReadFrameRefusesWhatTheHelperCannotSend(t *testing.T) {
	hdr := func(typ byte, n uint32) []byte {
		b := []byte{typ, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(b[1:], n)
		return b
	}
	tests := []struct {
		name, in, want string
	}{
		{"too large", string(hdr(FrameOutput, MaxFrame+1)), "frame (limit"},
		{"cut header", "o\x00\x00", "inside a frame header"},
		{"cut payload", string(hdr(FrameNote, 10)) + "abc", "inside a frame"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ReadFrame(bufio.NewReader(strings.NewReader(tt.in)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ReadFrame: %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if _, _, _, err := ParseOutput([]byte{0, 1}); err == nil {
		t.Fatal("ParseOutput of a 2-byte frame: no error")
	}
}
