package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"modernc.org/sqlite"
)

// Snapshot formats, as recorded in a backup's manifest.
const (
	// FormatSQLite is a SQLite database file made by SQLite's online
	// backup API.
	FormatSQLite = "sqlite"
	// FormatPgDump is a pg_dump archive in custom format (pg_restore reads it).
	FormatPgDump = "pg_dump-custom"
)

// Snapshot writes a consistent copy of the store to the file dst and
// returns its format: on SQLite a database file made with SQLite's online
// backup API (writers carry on meanwhile), on PostgreSQL a pg_dump archive
// in custom format (one repeatable-read transaction). The tables of the
// Vector Memory's pgvector backend are left out: memory is backed up
// through its own service, whichever backend it has.
func (s *SQL) Snapshot(ctx context.Context, dst string) (string, error) {
	if s.d.name() == "sqlite" {
		conn, err := s.r.Conn(ctx)
		if err != nil {
			return "", fmt.Errorf("store: snapshot: %w", err)
		}
		defer conn.Close()
		if err := backupConn(conn, dst); err != nil {
			return "", fmt.Errorf("store: snapshot the SQLite database: %w", err)
		}
		return FormatSQLite, nil
	}
	pc, err := pgCommand(s.dsn)
	if err != nil {
		return "", err
	}
	args := []string{"--format=custom", "--no-owner", "--no-privileges", "--file=" + dst, "--exclude-table=qlp_memory*"}
	if pc.schema != "" {
		args = append(args, "--schema="+pc.schema)
	}
	if err := pc.run(ctx, "pg_dump", args...); err != nil {
		return "", err
	}
	return FormatPgDump, nil
}

// SnapshotSQLiteFile copies the SQLite database at src (which another
// process may be writing, e.g. the embedded Temporal server's) to dst with
// SQLite's online backup API: the copy is one consistent state of it.
func SnapshotSQLiteFile(ctx context.Context, src, dst string) error {
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("store: snapshot %s: %w", src, err)
	}
	db, err := sql.Open("sqlite", "file:"+src+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("store: snapshot %s: %w", src, err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: snapshot %s: %w", src, err)
	}
	defer conn.Close()
	if err := backupConn(conn, dst); err != nil {
		return fmt.Errorf("store: snapshot %s: %w", src, err)
	}
	return nil
}

// backupConn runs SQLite's online backup of conn's main database into the
// new file dst.
func backupConn(conn *sql.Conn, dst string) error {
	return conn.Raw(func(dc any) error {
		b, ok := dc.(interface {
			NewBackup(string) (*sqlite.Backup, error)
		})
		if !ok {
			return fmt.Errorf("the SQLite driver has no online backup API")
		}
		bk, err := b.NewBackup(dst)
		if err != nil {
			return err
		}
		for {
			more, err := bk.Step(-1)
			if err != nil {
				return errors.Join(err, bk.Finish())
			}
			if !more {
				return bk.Finish()
			}
		}
	})
}

// RestoreOptions say where a snapshot goes.
type RestoreOptions struct {
	// Force replaces a store that already holds data; without it Restore
	// refuses.
	Force bool
}

// ErrNotEmpty is returned by Restore when the target already holds data
// and RestoreOptions.Force is not set.
var ErrNotEmpty = errors.New("the target store already holds data")

// Restore puts the snapshot file src (of the given format) in place of the
// store cfg and dataDir name: the SQLite file under the data dir, or the
// PostgreSQL database (or the schema its search_path names). It refuses a
// store that holds data unless opts.Force, and a snapshot of the other
// driver.
func Restore(ctx context.Context, cfg Config, dataDir, src, format string, opts RestoreOptions) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	driver := cfg.EffectiveDriver()
	switch {
	case driver == "sqlite" && format != FormatSQLite, driver == "postgres" && format != FormatPgDump:
		return fmt.Errorf("store: the backup holds a %s snapshot but this platform's store is %s (store.driver); restore it into a platform with the store it was taken from", format, driver)
	}
	if driver == "sqlite" {
		return restoreSQLite(SQLitePath(dataDir), src, opts)
	}
	pc, err := pgCommand(cfg.DatabaseURL)
	if err != nil {
		return err
	}
	used, err := pgHasTables(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	if used && !opts.Force {
		return fmt.Errorf("store: %w: the PostgreSQL database (schema %q) has QLP's tables; restore into an empty database, or pass --force to replace them", ErrNotEmpty, pc.schemaOrPublic())
	}
	// --clean --if-exists drops what the archive creates before creating
	// it: QLP's tables under --force, and an empty schema of the same name
	// (the archive of one schema creates it).
	return pc.run(ctx, "pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
		"--clean", "--if-exists", "--dbname="+pc.db, src)
}

func restoreSQLite(path, src string, opts RestoreOptions) error {
	if st, err := os.Stat(path); err == nil && st.Size() > 0 && !opts.Force {
		return fmt.Errorf("store: %w: %s exists; restore into an empty data directory, or pass --force to replace it", ErrNotEmpty, path)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store: restore: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	if err := CopyFileDurably(src, path); err != nil {
		return fmt.Errorf("store: restore %s: %w", path, err)
	}
	// A write-ahead log of the replaced database would be replayed onto the
	// restored one.
	for _, ext := range []string{"-wal", "-shm"} {
		if err := os.Remove(path + ext); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("store: restore: %w", err)
		}
	}
	return nil
}

// CopyFileDurably copies src to dst through a temporary file that is
// fsynced and renamed onto dst: dst is the old file or the new one whole.
func CopyFileDurably(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	tmp := dst + ".restore-tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

// pgHasTables reports whether QLP's tables exist where the URL points.
func pgHasTables(ctx context.Context, dsn string) (bool, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return false, fmt.Errorf("store: open postgres: %w", err)
	}
	defer db.Close()
	var name sql.NullString
	if err := db.QueryRowContext(ctx, `SELECT to_regclass('jobs')::text`).Scan(&name); err != nil {
		return false, fmt.Errorf("store: look for QLP's tables: %w", err)
	}
	return name.Valid, nil
}

// pgTool runs PostgreSQL's client programs against one database. The
// connection is passed in PG* environment variables, never on the command
// line, where other users of the machine could read the password.
type pgTool struct {
	env    []string
	db     string // database name
	schema string // from the URL's search_path, "" for the default
}

// pgCommand turns a postgres:// URL into the environment of pg_dump,
// pg_restore and psql. pgx's own parameters (search_path, pool settings)
// are not libpq's: search_path becomes the schema to dump or restore.
func pgCommand(dsn string) (pgTool, error) {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return pgTool{}, fmt.Errorf("store.database_url (QLP_DATABASE_URL): must be a postgres:// URL")
	}
	pc := pgTool{db: strings.TrimPrefix(u.Path, "/")}
	set := func(k, v string) {
		if v != "" {
			pc.env = append(pc.env, k+"="+v)
		}
	}
	set("PGHOST", u.Hostname())
	set("PGPORT", u.Port())
	set("PGDATABASE", pc.db)
	if u.User != nil {
		set("PGUSER", u.User.Username())
		p, _ := u.User.Password()
		set("PGPASSWORD", p)
	}
	q := u.Query()
	for k, env := range map[string]string{"sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY", "connect_timeout": "PGCONNECT_TIMEOUT"} {
		set(env, q.Get(k))
	}
	if sp := q.Get("search_path"); sp != "" {
		pc.schema = strings.TrimSpace(strings.Split(sp, ",")[0])
	}
	return pc, nil
}

func (pc pgTool) schemaOrPublic() string {
	if pc.schema == "" {
		return "public"
	}
	return pc.schema
}

func (pc pgTool) run(ctx context.Context, name string, args ...string) error {
	if _, err := exec.LookPath(name); err != nil {
		return fmt.Errorf("store: %s is not installed (Debian: apt-get install postgresql-client): %w", name, err)
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), pc.env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("store: %s: %w: %s", name, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
