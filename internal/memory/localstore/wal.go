package localstore

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"time"
)

// A log record is framed as [u32 length][u32 CRC-32C of the body][body],
// little-endian. A frame that is cut short or whose checksum fails ends the
// log: it can only be the write that was in flight when the process died,
// which was never acknowledged.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const (
	recEnsure byte = 1
	recUpsert byte = 2
	recDelete byte = 3
	recDrop   byte = 4

	maxRecord = 1 << 30
)

type walPoint struct {
	id      string
	created time.Time
	vec     []float32
	payload []byte // JSON object
}

type record struct {
	kind       byte
	collection string
	dim        int        // recEnsure
	tenant     string     // recUpsert, recDelete
	points     []walPoint // recUpsert
	ids        []string   // recDelete
}

// enc builds a record body.
type enc struct{ b []byte }

func (e *enc) uvarint(x uint64) { e.b = binary.AppendUvarint(e.b, x) }
func (e *enc) str(s string)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *enc) bytes(p []byte)   { e.uvarint(uint64(len(p))); e.b = append(e.b, p...) }

func (r *record) encode() []byte {
	e := &enc{b: make([]byte, 8, 256)} // room for the frame header
	e.b = append(e.b, r.kind)
	e.str(r.collection)
	switch r.kind {
	case recEnsure:
		e.uvarint(uint64(r.dim))
	case recUpsert:
		e.str(r.tenant)
		e.uvarint(uint64(len(r.points)))
		for _, p := range r.points {
			e.str(p.id)
			e.uvarint(uint64(p.created.UnixNano()))
			e.uvarint(uint64(len(p.vec)))
			for _, x := range p.vec {
				e.b = binary.LittleEndian.AppendUint32(e.b, math.Float32bits(x))
			}
			e.bytes(p.payload)
		}
	case recDelete:
		e.str(r.tenant)
		e.uvarint(uint64(len(r.ids)))
		for _, id := range r.ids {
			e.str(id)
		}
	}
	body := e.b[8:]
	binary.LittleEndian.PutUint32(e.b[0:4], uint32(len(body)))
	binary.LittleEndian.PutUint32(e.b[4:8], crc32.Checksum(body, castagnoli))
	return e.b
}

type dec struct {
	b   []byte
	err error
}

func (d *dec) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	x, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errors.New("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return x
}

func (d *dec) raw(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errors.New("field runs past the record")
		return nil
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}

func (d *dec) str() string   { return string(d.raw(d.uvarint())) }
func (d *dec) bytes() []byte { return append([]byte(nil), d.raw(d.uvarint())...) }

func decodeRecord(body []byte) (*record, error) {
	if len(body) == 0 {
		return nil, errors.New("empty record")
	}
	r := &record{kind: body[0]}
	d := &dec{b: body[1:]}
	r.collection = d.str()
	switch r.kind {
	case recEnsure:
		r.dim = int(d.uvarint())
	case recUpsert:
		r.tenant = d.str()
		n := d.uvarint()
		for i := uint64(0); i < n && d.err == nil; i++ {
			p := walPoint{id: d.str(), created: time.Unix(0, int64(d.uvarint())).UTC()}
			dim := d.uvarint()
			raw := d.raw(4 * dim)
			if d.err != nil {
				break
			}
			p.vec = make([]float32, dim)
			for j := range p.vec {
				p.vec[j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
			}
			p.payload = d.bytes()
			r.points = append(r.points, p)
		}
	case recDelete:
		r.tenant = d.str()
		n := d.uvarint()
		for i := uint64(0); i < n && d.err == nil; i++ {
			r.ids = append(r.ids, d.str())
		}
	case recDrop:
	default:
		return nil, fmt.Errorf("unknown record kind %d", r.kind)
	}
	if d.err != nil {
		return nil, d.err
	}
	return r, nil
}

// wal is an append-only log file.
type wal struct {
	f      *os.File
	size   int64
	noSync bool
}

// openWAL opens (creating) the log at path, calls apply for every intact
// record, and truncates a torn tail. It returns the number of bytes dropped.
func openWAL(path string, noSync bool, apply func(*record) error) (*wal, int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, 0, fmt.Errorf("open log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("stat log: %w", err)
	}
	br := bufio.NewReaderSize(f, 1<<20)
	var good int64
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			break // clean end, or a torn header
		}
		n := binary.LittleEndian.Uint32(hdr[0:4])
		if n == 0 || n > maxRecord || int64(n) > st.Size()-good-8 {
			break
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(br, body); err != nil {
			break
		}
		if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(hdr[4:8]) {
			break
		}
		rec, err := decodeRecord(body)
		if err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("log record at byte %d has a valid checksum but does not decode: %w", good, err)
		}
		if err := apply(rec); err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("replay log record at byte %d: %w", good, err)
		}
		good += 8 + int64(n)
	}
	dropped := st.Size() - good
	if dropped > 0 {
		if err := f.Truncate(good); err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("truncate torn log tail: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("sync log: %w", err)
		}
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("seek log: %w", err)
	}
	return &wal{f: f, size: good, noSync: noSync}, dropped, nil
}

// append writes one framed record and syncs it to disk.
func (w *wal) append(frame []byte) error {
	n, err := w.f.Write(frame)
	if err != nil {
		// Cut off whatever part was written so the log stays well-formed.
		_ = w.f.Truncate(w.size)
		_, _ = w.f.Seek(w.size, io.SeekStart)
		return fmt.Errorf("write log: %w", err)
	}
	w.size += int64(n)
	if !w.noSync {
		if err := w.f.Sync(); err != nil {
			return fmt.Errorf("sync log: %w", err)
		}
	}
	return nil
}

func (w *wal) close() error { return w.f.Close() }
