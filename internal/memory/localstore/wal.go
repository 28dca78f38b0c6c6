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
// little-endian. A bad frame (cut short, or whose checksum fails) with no
// intact frame after it is the write that was in flight when the process
// died, never acknowledged, and is cut off. A bad frame with intact frames
// after it is damage to acknowledged data: the store refuses to open, and
// Recover keeps every intact record and sets the damaged bytes aside.

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
	// broken is set when a failed write could not be cut off again: the
	// log would then hold garbage between acknowledged records, so no
	// further write is accepted.
	broken error
}

// ErrCorruptLog means the log is damaged before its last record: intact,
// acknowledged records follow the damage, so it cannot be the torn last
// write of a crash, and dropping everything after it would lose them.
var ErrCorruptLog = errors.New("memory log is corrupt")

// CorruptLogError says where a log is damaged and what follows the damage.
type CorruptLogError struct {
	Path string
	// Offset is where the first bad frame starts; IntactAt where the next
	// intact record starts.
	Offset, IntactAt int64
	Reason           string
}

func (e *CorruptLogError) Error() string {
	return fmt.Sprintf("%s: %s at byte %d (%s), yet an intact record follows at byte %d: this is damage, not a torn last write, and truncating would drop acknowledged writes",
		ErrCorruptLog, e.Path, e.Offset, e.Reason, e.IntactAt)
}

// Unwrap makes errors.Is(err, ErrCorruptLog) hold.
func (e *CorruptLogError) Unwrap() error { return ErrCorruptLog }

// frameAt checks the frame starting at b[0]: it returns its total length
// (header included) when the frame is whole and its checksum holds, or why
// not.
func frameAt(b []byte) (int, string) {
	if len(b) < 8 {
		return 0, "header cut short"
	}
	n := binary.LittleEndian.Uint32(b[0:4])
	switch {
	case n == 0:
		return 0, "zero length"
	case n > maxRecord:
		return 0, fmt.Sprintf("length %d over the limit", n)
	case int64(n) > int64(len(b))-8:
		return 0, fmt.Sprintf("length %d runs past the end of the log", n)
	}
	body := b[8 : 8+n]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[4:8]) {
		return 0, "checksum mismatch"
	}
	return 8 + int(n), ""
}

// nextIntact returns the offset in b, after 0, of the first whole frame
// whose checksum holds and whose record decodes, or -1. A crash can only
// cut off the last frame, so finding one means the damage at 0 is not a
// torn write.
func nextIntact(b []byte) int {
	for i := 1; i+8 <= len(b); i++ {
		n := binary.LittleEndian.Uint32(b[i : i+4])
		if n == 0 || int64(n) > int64(len(b)-i-8) {
			continue // the cheap test first: most offsets fail it
		}
		if k := b[i+8]; k < recEnsure || k > recDrop {
			continue
		}
		if _, why := frameAt(b[i:]); why != "" {
			continue
		}
		if _, err := decodeRecord(b[i+8 : i+8+int(n)]); err == nil {
			return i
		}
	}
	return -1
}

// openWAL opens (creating) the log at path and calls apply for every
// record. A bad frame with nothing intact after it is the torn last write
// of a crash, never acknowledged: it is cut off, and openWAL returns the
// number of bytes dropped. A bad frame followed by an intact one is damage:
// openWAL refuses with a *CorruptLogError and changes nothing.
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
	bad := ""
	for good < st.Size() {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			bad = "header cut short"
			break
		}
		n := binary.LittleEndian.Uint32(hdr[0:4])
		if n == 0 || n > maxRecord || int64(n) > st.Size()-good-8 {
			bad = fmt.Sprintf("bad length %d", n)
			break
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(br, body); err != nil {
			bad = "body cut short"
			break
		}
		if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(hdr[4:8]) {
			bad = "checksum mismatch"
			break
		}
		rec, err := decodeRecord(body)
		if err != nil {
			f.Close()
			return nil, 0, &CorruptLogError{Path: path, Offset: good, IntactAt: good + 8 + int64(n),
				Reason: "a record with a valid checksum does not decode: " + err.Error()}
		}
		if err := apply(rec); err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("replay log record at byte %d: %w", good, err)
		}
		good += 8 + int64(n)
	}
	dropped := st.Size() - good
	if dropped > 0 {
		// Whatever follows the bad frame is in memory anyway once the
		// store is open; read it to tell a torn tail from damage.
		tail := make([]byte, dropped)
		if _, err := f.ReadAt(tail, good); err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("read log tail: %w", err)
		}
		if i := nextIntact(tail); i >= 0 {
			f.Close()
			return nil, 0, &CorruptLogError{Path: path, Offset: good, IntactAt: good + int64(i), Reason: bad}
		}
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

// DroppedRange is a part of a damaged log that recovery set aside.
type DroppedRange struct {
	Offset int64  `json:"offset"`
	Bytes  int64  `json:"bytes"`
	Reason string `json:"reason"`
}

// salvageLog reads every intact record of the log at path, skipping
// damaged bytes, and calls apply for each. A record that does not apply
// (it needs one that was lost) is dropped as well. It returns the number
// of records applied and the ranges dropped.
func salvageLog(path string, apply func(*record) error) (int, []DroppedRange, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("read log: %w", err)
	}
	var dropped []DroppedRange
	kept := 0
	for off := 0; off < len(b); {
		n, why := frameAt(b[off:])
		var rec *record
		if why == "" {
			if rec, err = decodeRecord(b[off+8 : off+n]); err != nil {
				why = "a record with a valid checksum does not decode: " + err.Error()
			}
		}
		if why != "" {
			skip := nextIntact(b[off:])
			if skip < 0 {
				skip = len(b) - off
			}
			dropped = append(dropped, DroppedRange{Offset: int64(off), Bytes: int64(skip), Reason: why})
			off += skip
			continue
		}
		if err := apply(rec); err != nil {
			dropped = append(dropped, DroppedRange{Offset: int64(off), Bytes: int64(n), Reason: "does not apply: " + err.Error()})
		} else {
			kept++
		}
		off += n
	}
	return kept, dropped, nil
}

// append writes one framed record and syncs it to disk.
func (w *wal) append(frame []byte) error {
	if w.broken != nil {
		return fmt.Errorf("log refuses writes after an earlier failure: %w", w.broken)
	}
	n, err := w.f.Write(frame)
	if err != nil {
		// Cut off whatever part was written so the log stays well-formed;
		// if that fails too, a later record after the stump would make
		// the log look damaged, so stop writing.
		if terr := w.f.Truncate(w.size); terr != nil {
			w.broken = fmt.Errorf("cut off a failed write: %w", terr)
		} else if _, serr := w.f.Seek(w.size, io.SeekStart); serr != nil {
			w.broken = fmt.Errorf("seek after a failed write: %w", serr)
		}
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
