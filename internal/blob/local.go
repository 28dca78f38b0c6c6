package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// contentTypeXattr is the extended attribute holding an object's content
// type on the local backend.
const contentTypeXattr = "user.qlp.content_type"

// tmpDirName is where the local backend writes objects before renaming
// them onto their keys; keys cannot name it (no segment starts with a dot).
const tmpDirName = ".tmp"

// staleTemp is how old a temporary file must be before OpenLocal removes
// it: older than any upload still running, left by a crash.
const staleTemp = 24 * time.Hour

// Local keeps objects as files under a directory.
type Local struct {
	dir string
	tmp string
}

var _ Store = (*Local)(nil)

// OpenLocal opens (creating it if needed) a directory store. It checks that
// the file system keeps user extended attributes and removes temporary
// files a crashed writer left more than a day ago.
func OpenLocal(dir string) (*Local, error) {
	if dir == "" {
		return nil, errors.New("blob: local: no directory given")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("blob: local directory %s: %w", dir, err)
	}
	l := &Local{dir: abs, tmp: filepath.Join(abs, tmpDirName)}
	if err := os.MkdirAll(l.tmp, 0o750); err != nil {
		return nil, fmt.Errorf("blob: %s: %w", l, err)
	}
	if err := l.probeXattr(); err != nil {
		return nil, err
	}
	l.sweep()
	return l, nil
}

func (l *Local) String() string { return fmt.Sprintf("local directory %s", l.dir) }

func (l *Local) errorf(op, key string, err error) error {
	if key == "" {
		return fmt.Errorf("blob: %s: %s: %w", l, op, err)
	}
	return fmt.Errorf("blob: %s: %s %q: %w", l, op, key, err)
}

func (l *Local) probeXattr() error {
	f, err := os.CreateTemp(l.tmp, "probe-*")
	if err != nil {
		return fmt.Errorf("blob: %s: %w", l, err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := unix.Fsetxattr(int(f.Fd()), contentTypeXattr, []byte(DefaultContentType), 0); err != nil {
		return fmt.Errorf("blob: %s: the file system does not keep user extended attributes, which hold content types (%w): use a directory on ext4, xfs, btrfs or tmpfs (Linux 6.6+)", l, err)
	}
	return nil
}

// sweep removes temporary files left by writers that crashed.
func (l *Local) sweep() {
	entries, err := os.ReadDir(l.tmp)
	if err != nil {
		return
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleTemp {
			os.Remove(filepath.Join(l.tmp, e.Name()))
		}
	}
}

func (l *Local) path(key string) string { return filepath.Join(l.dir, filepath.FromSlash(key)) }

// Put writes to a temporary file, fsyncs it, sets its content type and
// renames it onto the key, then fsyncs the directory.
func (l *Local) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) (err error) {
	if err := checkPut(key, size); err != nil {
		return l.errorf("put", key, err)
	}
	f, err := os.CreateTemp(l.tmp, "put-*")
	if err != nil {
		return l.errorf("put", key, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	er := newExactReader(ctx, r, size)
	if _, err := io.Copy(f, er); err != nil {
		return l.errorf("put", key, err)
	}
	if err := er.finish(); err != nil {
		return l.errorf("put", key, err)
	}
	if err := unix.Fsetxattr(int(f.Fd()), contentTypeXattr, []byte(contentTypeOr(contentType)), 0); err != nil {
		return l.errorf("put", key, fmt.Errorf("set content type: %w", err))
	}
	if err := f.Sync(); err != nil {
		return l.errorf("put", key, err)
	}
	if err := f.Close(); err != nil {
		return l.errorf("put", key, err)
	}
	if err := ctx.Err(); err != nil {
		return l.errorf("put", key, err)
	}
	dst := l.path(key)
	if err := mkdirAllSync(filepath.Dir(dst), l.dir); err != nil {
		return l.errorf("put", key, err)
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return l.errorf("put", key, err)
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return l.errorf("put", key, err)
	}
	return nil
}

// mkdirAllSync creates dir and its missing parents below root, fsyncing
// each parent so that the new entries survive a crash.
func mkdirAllSync(dir, root string) error {
	if st, err := os.Stat(dir); err == nil {
		if !st.IsDir() {
			return fmt.Errorf("%s is an object, not a directory", dir)
		}
		return nil
	}
	if dir == root || len(dir) < len(root) {
		return os.MkdirAll(dir, 0o750)
	}
	if err := mkdirAllSync(filepath.Dir(dir), root); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(filepath.Dir(dir))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// Get opens the file; a rename onto the key later leaves this open file as
// it was.
func (l *Local) Get(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	if err := ValidKey(key); err != nil {
		return nil, Info{}, l.errorf("get", key, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, Info{}, l.errorf("get", key, err)
	}
	f, err := os.Open(l.path(key))
	if err != nil {
		return nil, Info{}, l.notFound("get", key, err)
	}
	info, err := l.info(key, f)
	if err != nil {
		f.Close()
		return nil, Info{}, l.notFound("get", key, err)
	}
	return f, info, nil
}

// Stat reads the file's size, time and content type through one open file,
// so that they describe the same object.
func (l *Local) Stat(ctx context.Context, key string) (Info, error) {
	if err := ValidKey(key); err != nil {
		return Info{}, l.errorf("stat", key, err)
	}
	if err := ctx.Err(); err != nil {
		return Info{}, l.errorf("stat", key, err)
	}
	f, err := os.Open(l.path(key))
	if err != nil {
		return Info{}, l.notFound("stat", key, err)
	}
	defer f.Close()
	info, err := l.info(key, f)
	if err != nil {
		return Info{}, l.notFound("stat", key, err)
	}
	return info, nil
}

func (l *Local) info(key string, f *os.File) (Info, error) {
	st, err := f.Stat()
	if err != nil {
		return Info{}, err
	}
	if !st.Mode().IsRegular() {
		return Info{}, fs.ErrNotExist
	}
	return Info{Key: key, Size: st.Size(), ModTime: st.ModTime(), ContentType: fileContentType(f)}, nil
}

// fileContentType reads the attribute; a file put there by other means
// than Put has none and is application/octet-stream.
func fileContentType(f *os.File) string {
	buf := make([]byte, 256)
	for {
		n, err := unix.Fgetxattr(int(f.Fd()), contentTypeXattr, buf)
		if errors.Is(err, syscall.ERANGE) && len(buf) < 64<<10 {
			buf = make([]byte, len(buf)*4)
			continue
		}
		if err != nil || n == 0 {
			return DefaultContentType
		}
		return string(buf[:n])
	}
}

// notFound turns "no such file" (and "a parent is a file") into
// *NotFoundError.
func (l *Local) notFound(op, key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR) {
		return &NotFoundError{Store: l.String(), Key: key}
	}
	return l.errorf(op, key, err)
}

// List walks the directory under the prefix's directory part. Like the
// other backends' listings, it reports no content type.
func (l *Local) List(ctx context.Context, prefix string) ([]Info, error) {
	start := l.dir
	if i := strings.LastIndex(prefix, "/"); i > 0 {
		if err := ValidKey(prefix[:i]); err != nil {
			return nil, nil // no key can start with it
		}
		start = l.path(prefix[:i])
	}
	var out []Info
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && p != start {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(l.dir, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		st, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // deleted while listing
			}
			return err
		}
		out = append(out, Info{Key: key, Size: st.Size(), ModTime: st.ModTime()})
		return nil
	})
	if err != nil {
		return nil, l.errorf("list", prefix, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete removes the file; empty directories stay (a concurrent Put may be
// about to rename into one).
func (l *Local) Delete(ctx context.Context, key string) error {
	if err := ValidKey(key); err != nil {
		return l.errorf("delete", key, err)
	}
	if err := ctx.Err(); err != nil {
		return l.errorf("delete", key, err)
	}
	p := l.path(key)
	if st, err := os.Lstat(p); err == nil && st.IsDir() {
		return nil // a prefix, not an object
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
		return l.errorf("delete", key, err)
	}
	return nil
}

// Ping checks that a temporary file can be created.
func (l *Local) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return l.errorf("ping", "", err)
	}
	f, err := os.CreateTemp(l.tmp, "ping-*")
	if err != nil {
		return l.errorf("ping", "", err)
	}
	f.Close()
	if err := os.Remove(f.Name()); err != nil {
		return l.errorf("ping", "", err)
	}
	return nil
}
