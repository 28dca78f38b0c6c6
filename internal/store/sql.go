package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib" // also registers the "pgx" database/sql driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations
var migrationFS embed.FS

// dialect hides the few differences between SQLite and PostgreSQL SQL.
type dialect interface {
	name() string
	// rebind turns '?' placeholders into the dialect's form.
	rebind(q string) string
	// timeArg is how a time is passed as a query argument.
	timeArg(t time.Time) any
	isUnique(err error) bool
	// day and month format a timestamp column as "2006-01-02" / "2006-01"
	// in UTC.
	day(col string) string
	month(col string) string
}

type sqliteDialect struct{}

func (sqliteDialect) name() string           { return "sqlite" }
func (sqliteDialect) rebind(q string) string { return q }

// sqliteTime has a fixed width so that times compare correctly as text.
const sqliteTime = "2006-01-02T15:04:05.000000000Z07:00"

func (sqliteDialect) timeArg(t time.Time) any {
	return t.UTC().Format(sqliteTime)
}
func (sqliteDialect) isUnique(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// Times are stored as fixed-width UTC text, so a prefix is the day or month.
func (sqliteDialect) day(col string) string   { return "substr(" + col + ", 1, 10)" }
func (sqliteDialect) month(col string) string { return "substr(" + col + ", 1, 7)" }

type postgresDialect struct{}

func (postgresDialect) day(col string) string {
	return "to_char(" + col + " AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
}
func (postgresDialect) month(col string) string {
	return "to_char(" + col + " AT TIME ZONE 'UTC', 'YYYY-MM')"
}

func (postgresDialect) name() string { return "postgres" }
func (postgresDialect) rebind(q string) string {
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}
func (postgresDialect) timeArg(t time.Time) any { return t.UTC() }
func (postgresDialect) isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// SQL is the Store implementation over database/sql.
type SQL struct {
	w, r *sql.DB // writer and reader pools; the same pool on PostgreSQL
	d    dialect
	now  func() time.Time
	dsn  string // PostgreSQL's URL, for pg_dump (Snapshot)
}

var _ Store = (*SQL)(nil)

// OpenSQLite opens (creating if needed) the SQLite database at path and
// applies pending migrations.
func OpenSQLite(ctx context.Context, path string) (*SQL, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: create directory for %s: %w", path, err)
	}
	// WAL lets readers run beside the single writer; busy_timeout waits for
	// the write lock instead of failing; _txlock=immediate takes it at BEGIN
	// so that two writers never deadlock upgrading a read lock.
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(NORMAL)", "foreign_keys(ON)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	r, err := sql.Open("sqlite", dsn)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	s := &SQL{w: w, r: r, d: sqliteDialect{}, now: time.Now}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// OpenPostgres connects to the PostgreSQL database at dsn (a postgres://
// URL) and applies pending migrations.
func OpenPostgres(ctx context.Context, dsn string) (*SQL, error) {
	pgcfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// Never echo the DSN: it may hold a password.
		return nil, fmt.Errorf("store: open postgres: the database URL does not parse")
	}
	// Each query is a span of the caller's trace.
	pgcfg.Tracer = queryTracer{}
	db := stdlib.OpenDB(*pgcfg)
	db.SetMaxOpenConns(20)
	// As many idle as open: with fewer, every burst of queries past the
	// idle count opens PostgreSQL connections (a backend forked, the
	// password checked) and closes them again right after. Idle ones are
	// closed after five minutes.
	db.SetMaxIdleConns(20)
	db.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: connect to postgres: %w", err)
	}
	s := &SQL{w: db, r: db, d: postgresDialect{}, now: time.Now, dsn: dsn}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Driver implements Store.
func (s *SQL) Driver() string { return s.d.name() }

// Ping implements Store.
func (s *SQL) Ping(ctx context.Context) error {
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping %s: %w", s.d.name(), err)
	}
	return nil
}

// Close implements Store.
func (s *SQL) Close() error {
	err := s.w.Close()
	if s.r != s.w {
		if rerr := s.r.Close(); err == nil {
			err = rerr
		}
	}
	return err
}

type migration struct {
	version int
	name    string
	sql     string
}

func (s *SQL) migrations() ([]migration, error) {
	dir := "migrations/" + s.d.name()
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, fmt.Errorf("store: read migrations: %w", err)
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("store: migration %s: name must start with a number and '_'", e.Name())
		}
		b, err := fs.ReadFile(migrationFS, dir+"/"+e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("store: migrations must be numbered 1..n without gaps; found %s at position %d", m.name, i+1)
		}
	}
	return out, nil
}

// SchemaVersion returns the applied and the known migration versions.
func (s *SQL) SchemaVersion(ctx context.Context) (applied, known int, err error) {
	ms, err := s.migrations()
	if err != nil {
		return 0, 0, err
	}
	row := s.r.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
	if err := row.Scan(&applied); err != nil {
		return 0, 0, fmt.Errorf("store: read schema version: %w", err)
	}
	return applied, len(ms), nil
}

// migrate applies pending migrations, each in its own transaction. On
// PostgreSQL an advisory lock keeps two replicas starting together from
// racing.
func (s *SQL) migrate(ctx context.Context) error {
	ms, err := s.migrations()
	if err != nil {
		return err
	}
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	defer conn.Close()
	if s.d.name() == "postgres" {
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(7370190)"); err != nil {
			return fmt.Errorf("store: migrate: take lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(7370190)") //nolint:errcheck // released with the session anyway
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("store: migrate: create schema_migrations: %w", err)
	}
	var applied int
	if err := conn.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&applied); err != nil {
		return fmt.Errorf("store: migrate: read version: %w", err)
	}
	if applied > len(ms) {
		return fmt.Errorf("store: the %s database is at schema version %d but this qlp knows only %d: upgrade qlp before using this database", s.d.name(), applied, len(ms))
	}
	for _, m := range ms[applied:] {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("store: migrate %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migrate %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, s.d.rebind("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"),
			m.version, m.name, time.Now().UTC().Format(time.RFC3339)); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migrate %s: record: %w", m.name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("store: migrate %s: commit: %w", m.name, err)
		}
	}
	return nil
}

// exec runs a write on the writer pool.
func (s *SQL) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return s.w.ExecContext(ctx, s.d.rebind(q), args...)
}

func (s *SQL) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return s.r.QueryContext(ctx, s.d.rebind(q), args...)
}

func (s *SQL) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return s.r.QueryRowContext(ctx, s.d.rebind(q), args...)
}

// inTx runs fn in a write transaction.
func (s *SQL) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func (s *SQL) t(t time.Time) any { return s.d.timeArg(t) }

func (s *SQL) tp(t *time.Time) any {
	if t == nil {
		return nil
	}
	return s.d.timeArg(*t)
}

// dbTime scans a time stored as TIMESTAMPTZ (PostgreSQL) or RFC 3339 text
// (SQLite).
type dbTime struct {
	T     time.Time
	Valid bool
}

func (d *dbTime) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		d.Valid = false
		return nil
	case time.Time:
		d.T, d.Valid = x.UTC(), true
		return nil
	case string:
		return d.parse(x)
	case []byte:
		return d.parse(string(x))
	default:
		return fmt.Errorf("store: cannot scan %T into a time", v)
	}
}

func (d *dbTime) parse(s string) error {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("store: bad time %q: %w", s, err)
	}
	d.T, d.Valid = t.UTC(), true
	return nil
}

func (d dbTime) ptr() *time.Time {
	if !d.Valid {
		return nil
	}
	t := d.T
	return &t
}

// notFound maps sql.ErrNoRows to ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// DB is the writer pool, for maintenance and tests that must reach the
// database itself (proving the audit log's triggers).
func (s *SQL) DB() *sql.DB { return s.w }
