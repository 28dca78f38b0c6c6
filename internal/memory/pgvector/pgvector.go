// Package pgvector is the vector store kept in PostgreSQL with the pgvector
// extension: one table per collection with the tenant as the first column
// of its primary key, an HNSW index over cosine distance and a GIN index
// over the JSONB payload. Tables are managed by versioned, idempotent DDL
// under an advisory lock, so several replicas may start at once.
package pgvector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	pgv "github.com/pgvector/pgvector-go"
	pgxvec "github.com/pgvector/pgvector-go/pgx"

	"github.com/quantumlayer/qlp/internal/memory/vector"
)

// Config configures the store.
type Config struct {
	// URL is the PostgreSQL connection string. Required.
	URL string
	// Schema holds the tables; default "public". The extension itself is
	// created in schema public.
	Schema string
	// M and EfConstruction are the HNSW index's build parameters
	// (pgvector's defaults: 16 and 64).
	M              int
	EfConstruction int
	// EfSearch is hnsw.ef_search for every search. Default 100.
	EfSearch int
	// MaxConns bounds the connection pool. Default 4.
	MaxConns int32
	Logger   *slog.Logger
}

// Store is the pgvector store; it is safe for concurrent use.
type Store struct {
	cfg       Config
	pool      *pgxpool.Pool
	iterative bool // pgvector >= 0.8: iterative index scans for filters

	mu   sync.Mutex
	dims map[string]int
}

var _ vector.Store = (*Store)(nil)

// migrations are applied in order, each once, under an advisory lock.
var migrations = []string{
	`CREATE TABLE IF NOT EXISTS qlp_memory_collections (
		name       text PRIMARY KEY,
		dim        integer NOT NULL CHECK (dim > 0),
		created_at timestamptz NOT NULL DEFAULT now()
	)`,
}

const lockKey = 0x716c706d656d // "qlpmem"

// Open connects, creates the extension if needed and migrates the schema.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.URL == "" {
		return nil, errors.New("pgvector: no PostgreSQL URL configured")
	}
	if cfg.Schema == "" {
		cfg.Schema = "public"
	}
	if cfg.M <= 0 {
		cfg.M = 16
	}
	if cfg.EfConstruction <= 0 {
		cfg.EfConstruction = 64
	}
	if cfg.EfSearch <= 0 {
		cfg.EfSearch = 100
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 4
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	pcfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("pgvector: parse PostgreSQL URL: %w", err)
	}
	pcfg.MaxConns = cfg.MaxConns
	pcfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{cfg.Schema}.Sanitize() + ", public"

	// The extension must exist before connections can register its types.
	conn, err := pgx.ConnectConfig(ctx, pcfg.ConnConfig)
	if err != nil {
		return nil, fmt.Errorf("pgvector: connect: %w", err)
	}
	version, err := migrate(ctx, conn, cfg.Schema)
	conn.Close(ctx)
	if err != nil {
		return nil, err
	}
	pcfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error { return pgxvec.RegisterTypes(ctx, c) }
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("pgvector: connect: %w", err)
	}
	s := &Store{cfg: cfg, pool: pool, dims: map[string]int{}, iterative: versionAtLeast(version, 0, 8)}
	cfg.Logger.Debug("pgvector store opened", "schema", cfg.Schema, "pgvector", version)
	return s, nil
}

func migrate(ctx context.Context, conn *pgx.Conn, schema string) (string, error) {
	if _, err := conn.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public`); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && (pe.Code == "58P01" || pe.Code == "0A000") {
			return "", fmt.Errorf("pgvector: the vector extension is not installed on the PostgreSQL server (scripts/deps/memory.sh builds it): %w", err)
		}
		return "", fmt.Errorf("pgvector: create extension vector (needs a role allowed to create it): %w", err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return "", fmt.Errorf("pgvector: migrate: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey); err != nil {
		return "", fmt.Errorf("pgvector: migrate: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{schema}.Sanitize()); err != nil {
		return "", fmt.Errorf("pgvector: create schema %s: %w", schema, err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS qlp_memory_migrations (
		version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return "", fmt.Errorf("pgvector: migrate: %w", err)
	}
	var have int
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM qlp_memory_migrations`).Scan(&have); err != nil {
		return "", fmt.Errorf("pgvector: migrate: %w", err)
	}
	if have > len(migrations) {
		return "", fmt.Errorf("pgvector: schema %s is at version %d, newer than this build knows (%d); upgrade qlp", schema, have, len(migrations))
	}
	for v := have + 1; v <= len(migrations); v++ {
		if _, err := tx.Exec(ctx, migrations[v-1]); err != nil {
			return "", fmt.Errorf("pgvector: migration %d: %w", v, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO qlp_memory_migrations (version) VALUES ($1)`, v); err != nil {
			return "", fmt.Errorf("pgvector: migration %d: %w", v, err)
		}
	}
	var version string
	if err := tx.QueryRow(ctx, `SELECT extversion FROM pg_extension WHERE extname = 'vector'`).Scan(&version); err != nil {
		return "", fmt.Errorf("pgvector: read extension version: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return "", fmt.Errorf("pgvector: migrate: %w", err)
	}
	return version, nil
}

func versionAtLeast(v string, major, minor int) bool {
	var a, b int
	if _, err := fmt.Sscanf(v, "%d.%d", &a, &b); err != nil {
		return false
	}
	return a > major || (a == major && b >= minor)
}

// table is the table of a (validated) collection name.
func table(collection string) string {
	return pgx.Identifier{"qlp_memory_" + strings.TrimPrefix(collection, "qlp_")}.Sanitize()
}

// Backend implements vector.Store.
func (s *Store) Backend() string { return "pgvector" }

// Ready implements vector.Store.
func (s *Store) Ready(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("pgvector: %w", err)
	}
	return nil
}

// Close implements vector.Store.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// EnsureCollection implements vector.Store.
func (s *Store) EnsureCollection(ctx context.Context, name string, dim int) error {
	if err := vector.CheckCollection(name); err != nil {
		return fmt.Errorf("pgvector: %w", err)
	}
	if dim <= 0 || dim > vector.MaxDimension {
		return fmt.Errorf("pgvector: %w: dimension %d out of range 1..%d", vector.ErrInvalid, dim, vector.MaxDimension)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pgvector: ensure %s: %w", name, err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey); err != nil {
		return fmt.Errorf("pgvector: ensure %s: %w", name, err)
	}
	var have int
	err = tx.QueryRow(ctx, `SELECT dim FROM qlp_memory_collections WHERE name = $1`, name).Scan(&have)
	switch {
	case err == nil:
		if have != dim {
			return fmt.Errorf("pgvector: %w: collection %s has %d dimensions, not %d (run `qlp memory reindex`)", vector.ErrDimension, name, have, dim)
		}
		s.setDim(name, dim)
		return nil
	case !errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("pgvector: ensure %s: %w", name, err)
	}
	t := table(name)
	stmts := []string{
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
			tenant_id  text NOT NULL,
			id         uuid NOT NULL,
			embedding  vector(%d) NOT NULL,
			payload    jsonb NOT NULL DEFAULT '{}',
			created_at timestamptz NOT NULL DEFAULT now(),
			PRIMARY KEY (tenant_id, id))`, t, dim),
		fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s USING hnsw (embedding vector_cosine_ops) WITH (m = %d, ef_construction = %d)`,
			pgx.Identifier{"qlp_memory_" + strings.TrimPrefix(name, "qlp_") + "_hnsw"}.Sanitize(), t, s.cfg.M, s.cfg.EfConstruction),
		fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s USING gin (payload jsonb_path_ops)`,
			pgx.Identifier{"qlp_memory_" + strings.TrimPrefix(name, "qlp_") + "_payload"}.Sanitize(), t),
	}
	for _, q := range stmts {
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("pgvector: create collection %s: %w", name, err)
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO qlp_memory_collections (name, dim) VALUES ($1, $2)`, name, dim); err != nil {
		return fmt.Errorf("pgvector: register collection %s: %w", name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("pgvector: create collection %s: %w", name, err)
	}
	s.setDim(name, dim)
	return nil
}

func (s *Store) setDim(name string, dim int) {
	s.mu.Lock()
	s.dims[name] = dim
	s.mu.Unlock()
}

// Dimension implements vector.Store.
func (s *Store) Dimension(ctx context.Context, name string) (int, error) {
	if err := vector.CheckCollection(name); err != nil {
		return 0, fmt.Errorf("pgvector: %w", err)
	}
	s.mu.Lock()
	d, ok := s.dims[name]
	s.mu.Unlock()
	if ok {
		return d, nil
	}
	err := s.pool.QueryRow(ctx, `SELECT dim FROM qlp_memory_collections WHERE name = $1`, name).Scan(&d)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("pgvector: %w %q: it has not been created", vector.ErrUnknownCollection, name)
	}
	if err != nil {
		return 0, fmt.Errorf("pgvector: dimension of %s: %w", name, err)
	}
	s.setDim(name, d)
	return d, nil
}

// DropCollection implements vector.Store.
func (s *Store) DropCollection(ctx context.Context, name string) error {
	if err := vector.CheckCollection(name); err != nil {
		return fmt.Errorf("pgvector: %w", err)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pgvector: drop %s: %w", name, err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey); err != nil {
		return fmt.Errorf("pgvector: drop %s: %w", name, err)
	}
	if _, err := tx.Exec(ctx, `DROP TABLE IF EXISTS `+table(name)); err != nil {
		return fmt.Errorf("pgvector: drop %s: %w", name, err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM qlp_memory_collections WHERE name = $1`, name); err != nil {
		return fmt.Errorf("pgvector: drop %s: %w", name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("pgvector: drop %s: %w", name, err)
	}
	s.mu.Lock()
	delete(s.dims, name)
	s.mu.Unlock()
	return nil
}

// Upsert implements vector.Store. The batch is one transaction.
func (s *Store) Upsert(ctx context.Context, name string, points []vector.Point) error {
	if len(points) == 0 {
		return nil
	}
	dim, err := s.Dimension(ctx, name)
	if err != nil {
		return err
	}
	prepared, err := vector.PreparePoints(points, dim)
	if err != nil {
		return fmt.Errorf("pgvector: upsert into %s: %w", name, err)
	}
	q := fmt.Sprintf(`INSERT INTO %s (tenant_id, id, embedding, payload, created_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (tenant_id, id) DO UPDATE SET embedding = excluded.embedding, payload = excluded.payload, created_at = excluded.created_at`, table(name))
	now := time.Now().UTC()
	b := &pgx.Batch{}
	for _, p := range prepared {
		payload, err := json.Marshal(p.Payload)
		if err != nil {
			return fmt.Errorf("pgvector: encode payload: %w", err)
		}
		b.Queue(q, p.Tenant, p.ID, pgv.NewVector(p.Vector), payload, now)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("pgvector: upsert %d points into %s: %w", len(prepared), name, err)
	}
	return nil
}

// Get implements vector.Store.
func (s *Store) Get(ctx context.Context, name, tenant, id string) (vector.Point, error) {
	if _, err := s.Dimension(ctx, name); err != nil {
		return vector.Point{}, err
	}
	if err := vector.CheckTenant(tenant); err != nil {
		return vector.Point{}, fmt.Errorf("pgvector: %w", err)
	}
	if vector.CheckID(id) != nil {
		return vector.Point{}, fmt.Errorf("pgvector: %s/%s: %w", name, id, vector.ErrNotFound)
	}
	var emb pgv.Vector
	var payload []byte
	p := vector.Point{ID: strings.ToLower(id), Tenant: tenant}
	err := s.pool.QueryRow(ctx, fmt.Sprintf(`SELECT embedding, payload, created_at FROM %s WHERE tenant_id = $1 AND id = $2`, table(name)),
		tenant, id).Scan(&emb, &payload, &p.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return vector.Point{}, fmt.Errorf("pgvector: %s/%s: %w", name, id, vector.ErrNotFound)
	}
	if err != nil {
		return vector.Point{}, fmt.Errorf("pgvector: get %s/%s: %w", name, id, err)
	}
	p.Vector = emb.Slice()
	if p.Payload, err = vector.DecodePayload(payload); err != nil {
		return vector.Point{}, err
	}
	p.CreatedAt = p.CreatedAt.UTC()
	return p, nil
}

// Delete implements vector.Store.
func (s *Store) Delete(ctx context.Context, name, tenant string, ids []string) error {
	if _, err := s.Dimension(ctx, name); err != nil {
		return err
	}
	if err := vector.CheckTenant(tenant); err != nil {
		return fmt.Errorf("pgvector: %w", err)
	}
	valid := make([]string, 0, len(ids))
	for _, id := range ids {
		if vector.CheckID(id) == nil {
			valid = append(valid, id)
		}
	}
	if len(valid) == 0 {
		return nil
	}
	if _, err := s.pool.Exec(ctx, fmt.Sprintf(`DELETE FROM %s WHERE tenant_id = $1 AND id = ANY($2::uuid[])`, table(name)), tenant, valid); err != nil {
		return fmt.Errorf("pgvector: delete from %s: %w", name, err)
	}
	return nil
}

// where renders the tenant condition plus f as SQL with positional
// arguments starting after args.
func where(tenant string, f vector.Filter, args []any) (string, []any, error) {
	if err := vector.CheckFilter(f); err != nil {
		return "", nil, fmt.Errorf("pgvector: %w", err)
	}
	args = append(args, tenant)
	parts := []string{fmt.Sprintf("tenant_id = $%d", len(args))}
	for _, c := range f.Must {
		if c.Range != nil {
			args = append(args, c.Key)
			k := len(args)
			cond := fmt.Sprintf("jsonb_typeof(payload -> $%d) = 'number'", k)
			if c.Range.Gte != nil {
				args = append(args, *c.Range.Gte)
				cond += fmt.Sprintf(" AND (payload ->> $%d)::float8 >= $%d", k, len(args))
			}
			if c.Range.Lte != nil {
				args = append(args, *c.Range.Lte)
				cond += fmt.Sprintf(" AND (payload ->> $%d)::float8 <= $%d", k, len(args))
			}
			parts = append(parts, "("+cond+")")
			continue
		}
		m := c.Match
		if f, ok := vector.ToFloat(m); ok {
			m = f
		}
		b, err := json.Marshal(map[string]any{c.Key: m})
		if err != nil {
			return "", nil, fmt.Errorf("pgvector: filter on %s: %w", c.Key, err)
		}
		args = append(args, string(b))
		parts = append(parts, fmt.Sprintf("payload @> $%d::jsonb", len(args)))
	}
	return strings.Join(parts, " AND "), args, nil
}

// Search implements vector.Store.
func (s *Store) Search(ctx context.Context, name string, q vector.Query) ([]vector.Hit, error) {
	dim, err := s.Dimension(ctx, name)
	if err != nil {
		return nil, err
	}
	qv, err := vector.PrepareVector(q.Vector, dim)
	if err != nil {
		return nil, fmt.Errorf("pgvector: search %s: %w", name, err)
	}
	if err := vector.CheckTenant(q.Tenant); err != nil {
		return nil, fmt.Errorf("pgvector: %w", err)
	}
	cond, args, err := where(q.Tenant, q.Filter, []any{pgv.NewVector(qv)})
	if err != nil {
		return nil, err
	}
	if q.Limit <= 0 {
		return []vector.Hit{}, nil
	}
	args = append(args, q.Limit)
	sql := fmt.Sprintf(`SELECT id::text, payload, created_at, 1 - (embedding <=> $1) FROM %s WHERE %s ORDER BY embedding <=> $1 LIMIT $%d`,
		table(name), cond, len(args))
	hits := []vector.Hit{}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, fmt.Sprintf(`SET LOCAL hnsw.ef_search = %d`, max(s.cfg.EfSearch, q.Limit))); err != nil {
			return err
		}
		if s.iterative {
			// Keep scanning the graph until enough rows pass the tenant and
			// payload conditions (pgvector 0.8+), instead of returning fewer.
			if _, err := tx.Exec(ctx, `SET LOCAL hnsw.iterative_scan = strict_order`); err != nil {
				return err
			}
		}
		rows, err := tx.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var h vector.Hit
			var payload []byte
			var score float64
			if err := rows.Scan(&h.ID, &payload, &h.CreatedAt, &score); err != nil {
				return err
			}
			h.Score = float32(score)
			if h.Score < q.MinScore {
				break
			}
			h.Tenant = q.Tenant
			h.CreatedAt = h.CreatedAt.UTC()
			if h.Payload, err = vector.DecodePayload(payload); err != nil {
				return err
			}
			hits = append(hits, h)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("pgvector: search %s: %w", name, err)
	}
	return hits, nil
}

// Scroll implements vector.Store.
func (s *Store) Scroll(ctx context.Context, name string, p vector.Page) ([]vector.Point, string, error) {
	if _, err := s.Dimension(ctx, name); err != nil {
		return nil, "", err
	}
	if err := vector.CheckTenant(p.Tenant); err != nil {
		return nil, "", fmt.Errorf("pgvector: %w", err)
	}
	cond, args, err := where(p.Tenant, p.Filter, nil)
	if err != nil {
		return nil, "", err
	}
	if p.Limit <= 0 {
		return []vector.Point{}, "", nil
	}
	if p.Cursor != "" {
		args = append(args, p.Cursor)
		cond += fmt.Sprintf(" AND id::text > $%d", len(args))
	}
	args = append(args, p.Limit)
	rows, err := s.pool.Query(ctx, fmt.Sprintf(`SELECT id::text, payload, created_at FROM %s WHERE %s ORDER BY id LIMIT $%d`, table(name), cond, len(args)), args...)
	if err != nil {
		return nil, "", fmt.Errorf("pgvector: scroll %s: %w", name, err)
	}
	defer rows.Close()
	out := []vector.Point{}
	for rows.Next() {
		pt := vector.Point{Tenant: p.Tenant}
		var payload []byte
		if err := rows.Scan(&pt.ID, &payload, &pt.CreatedAt); err != nil {
			return nil, "", fmt.Errorf("pgvector: scroll %s: %w", name, err)
		}
		pt.CreatedAt = pt.CreatedAt.UTC()
		if pt.Payload, err = vector.DecodePayload(payload); err != nil {
			return nil, "", err
		}
		out = append(out, pt)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("pgvector: scroll %s: %w", name, err)
	}
	next := ""
	if len(out) == p.Limit {
		next = out[len(out)-1].ID
	}
	return out, next, nil
}

// Tenants implements vector.Store.
func (s *Store) Tenants(ctx context.Context, name string) ([]string, error) {
	if _, err := s.Dimension(ctx, name); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, fmt.Sprintf(`SELECT DISTINCT tenant_id FROM %s ORDER BY 1`, table(name)))
	if err != nil {
		return nil, fmt.Errorf("pgvector: tenants of %s: %w", name, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("pgvector: tenants of %s: %w", name, err)
	}
	if out == nil {
		out = []string{}
	}
	return out, nil
}

// Count implements vector.Store.
func (s *Store) Count(ctx context.Context, name, tenant string, f vector.Filter) (int, error) {
	if _, err := s.Dimension(ctx, name); err != nil {
		return 0, err
	}
	if err := vector.CheckTenant(tenant); err != nil {
		return 0, fmt.Errorf("pgvector: %w", err)
	}
	cond, args, err := where(tenant, f, nil)
	if err != nil {
		return 0, err
	}
	var n int
	if err := s.pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %s WHERE %s`, table(name), cond), args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("pgvector: count %s: %w", name, err)
	}
	return n, nil
}
