// Package qdrant is the vector store kept in a Qdrant server, reached
// through Qdrant's official Go client over gRPC.
//
// Each QLP collection is one Qdrant collection (cosine distance) created with
// Qdrant's multitenancy layout: the tenant is a keyword payload field
// indexed with is_tenant, the global HNSW graph is disabled (m = 0) and
// per-tenant graphs are built instead (payload_m = 16). Every request adds
// a must-match on the tenant. Point ids are UUIDv5(tenant, id), so two
// tenants writing the same id never touch each other's point; the caller's id
// travels in the payload.
//
// Tests run against package qdranttest, an in-process gRPC server that
// implements the part of Qdrant's published Collections and Points services
// this package uses; no Qdrant server is packaged for this project's
// machines.
package qdrant

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	qc "github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quantumlayer/qlp/internal/memory/vector"
)

// IDKey is the payload key holding the caller's point id.
const IDKey = "qlp_point_id"

// createdKey holds the write time (RFC 3339, UTC).
const createdKey = "qlp_created_at"

var idSpace = uuid.MustParse("5b0f1c1e-8d4a-4e55-9a51-7a0c6d5e3f21")

// Config configures the store.
type Config struct {
	// Addr is host:port of Qdrant's gRPC endpoint (default port 6334).
	Addr string
	// APIKey is sent as the api-key header when set.
	APIKey string
	// TLS turns on TLS.
	TLS bool
	// EfSearch is the hnsw_ef of every search (default 128).
	EfSearch int
	Logger   *slog.Logger
}

// Store is the Qdrant store; it is safe for concurrent use.
type Store struct {
	cfg    Config
	client *qc.Client

	mu   sync.Mutex
	dims map[string]int
}

var _ vector.Store = (*Store)(nil)

// Open connects to Qdrant and checks that it answers.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	host, portStr, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("qdrant: address %q is not host:port: %w", cfg.Addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("qdrant: address %q has a bad port", cfg.Addr)
	}
	if cfg.EfSearch <= 0 {
		cfg.EfSearch = 128
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	client, err := qc.NewClient(&qc.Config{
		Host: host, Port: port, APIKey: cfg.APIKey, UseTLS: cfg.TLS,
		// The client's own check blocks for up to a minute on a dead server
		// and only logs; Open checks with the caller's deadline instead.
		SkipCompatibilityCheck: true,
	})
	if err != nil {
		return nil, fmt.Errorf("qdrant: connect to %s: %w", cfg.Addr, err)
	}
	s := &Store{cfg: cfg, client: client, dims: map[string]int{}}
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	reply, err := client.HealthCheck(hctx)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("qdrant: %s does not answer: %w", cfg.Addr, err)
	}
	cfg.Logger.Debug("qdrant store opened", "addr", cfg.Addr, "version", reply.GetVersion())
	return s, nil
}

// Backend implements vector.Store.
func (s *Store) Backend() string { return "qdrant" }

// Ready implements vector.Store.
func (s *Store) Ready(ctx context.Context) error {
	if _, err := s.client.HealthCheck(ctx); err != nil {
		return fmt.Errorf("qdrant: health check: %w", err)
	}
	return nil
}

// Close implements vector.Store.
func (s *Store) Close() error {
	if err := s.client.Close(); err != nil {
		return fmt.Errorf("qdrant: close: %w", err)
	}
	return nil
}

func pointID(tenant, id string) string {
	return uuid.NewSHA1(idSpace, []byte(tenant+"\x00"+id)).String()
}

func isNotFound(err error) bool {
	return status.Code(errors.Unwrap(err)) == codes.NotFound || status.Code(err) == codes.NotFound
}

// EnsureCollection implements vector.Store.
func (s *Store) EnsureCollection(ctx context.Context, name string, dim int) error {
	if err := vector.CheckCollection(name); err != nil {
		return fmt.Errorf("qdrant: %w", err)
	}
	if dim <= 0 || dim > vector.MaxDimension {
		return fmt.Errorf("qdrant: %w: dimension %d out of range 1..%d", vector.ErrInvalid, dim, vector.MaxDimension)
	}
	have, err := s.remoteDim(ctx, name)
	if err == nil {
		if have != dim {
			return fmt.Errorf("qdrant: %w: collection %s has %d dimensions, not %d (run `qlp memory reindex`)", vector.ErrDimension, name, have, dim)
		}
		return s.ensureIndexes(ctx, name)
	}
	if !errors.Is(err, vector.ErrUnknownCollection) {
		return err
	}
	err = s.client.CreateCollection(ctx, &qc.CreateCollection{
		CollectionName: name,
		VectorsConfig:  qc.NewVectorsConfig(&qc.VectorParams{Size: uint64(dim), Distance: qc.Distance_Cosine}),
		// Multitenancy: per-tenant graphs only.
		HnswConfig: &qc.HnswConfigDiff{M: qc.PtrOf(uint64(0)), PayloadM: qc.PtrOf(uint64(16))},
	})
	if err != nil {
		// Another replica may have created it meanwhile (Qdrant answers
		// "already exists" as invalid input): then check its dimension.
		if _, derr := s.remoteDim(ctx, name); derr == nil {
			return s.EnsureCollection(ctx, name, dim)
		}
		return fmt.Errorf("qdrant: create collection %s: %w", name, err)
	}
	if err := s.ensureIndexes(ctx, name); err != nil {
		return err
	}
	s.setDim(name, dim)
	return nil
}

func (s *Store) ensureIndexes(ctx context.Context, name string) error {
	type idx struct {
		field string
		typ   qc.FieldType
		p     *qc.PayloadIndexParams
	}
	list := []idx{{vector.TenantKey, qc.FieldType_FieldTypeKeyword,
		qc.NewPayloadIndexParamsKeyword(&qc.KeywordIndexParams{IsTenant: qc.PtrOf(true)})}}
	for _, f := range vector.IndexedFields(name) {
		t := qc.FieldType_FieldTypeKeyword
		switch f.Type {
		case vector.FieldBool:
			t = qc.FieldType_FieldTypeBool
		case vector.FieldFloat:
			t = qc.FieldType_FieldTypeFloat
		}
		list = append(list, idx{f.Key, t, nil})
	}
	for _, i := range list {
		_, err := s.client.CreateFieldIndex(ctx, &qc.CreateFieldIndexCollection{
			CollectionName: name, Wait: qc.PtrOf(true), FieldName: i.field, FieldType: qc.PtrOf(i.typ), FieldIndexParams: i.p,
		})
		if err != nil {
			return fmt.Errorf("qdrant: index %s.%s: %w", name, i.field, err)
		}
	}
	return nil
}

func (s *Store) setDim(name string, dim int) {
	s.mu.Lock()
	s.dims[name] = dim
	s.mu.Unlock()
}

func (s *Store) remoteDim(ctx context.Context, name string) (int, error) {
	info, err := s.client.GetCollectionInfo(ctx, name)
	if isNotFound(err) {
		return 0, fmt.Errorf("qdrant: %w %q: it has not been created", vector.ErrUnknownCollection, name)
	}
	if err != nil {
		return 0, fmt.Errorf("qdrant: collection info %s: %w", name, err)
	}
	p := info.GetConfig().GetParams().GetVectorsConfig().GetParams()
	if p == nil {
		return 0, fmt.Errorf("qdrant: collection %s has no single unnamed vector; it was not made by QLP", name)
	}
	s.setDim(name, int(p.GetSize()))
	return int(p.GetSize()), nil
}

// Dimension implements vector.Store.
func (s *Store) Dimension(ctx context.Context, name string) (int, error) {
	if err := vector.CheckCollection(name); err != nil {
		return 0, fmt.Errorf("qdrant: %w", err)
	}
	s.mu.Lock()
	d, ok := s.dims[name]
	s.mu.Unlock()
	if ok {
		return d, nil
	}
	return s.remoteDim(ctx, name)
}

// DropCollection implements vector.Store.
func (s *Store) DropCollection(ctx context.Context, name string) error {
	if err := vector.CheckCollection(name); err != nil {
		return fmt.Errorf("qdrant: %w", err)
	}
	exists, err := s.client.CollectionExists(ctx, name)
	if err != nil {
		return fmt.Errorf("qdrant: drop %s: %w", name, err)
	}
	if exists {
		// The client reports "result: false" (nothing deleted) as an error.
		if err := s.client.DeleteCollection(ctx, name); err != nil && !isNotFound(err) {
			return fmt.Errorf("qdrant: drop %s: %w", name, err)
		}
	}
	s.mu.Lock()
	delete(s.dims, name)
	s.mu.Unlock()
	return nil
}

// Upsert implements vector.Store.
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
		return fmt.Errorf("qdrant: upsert into %s: %w", name, err)
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	structs := make([]*qc.PointStruct, len(prepared))
	for i, p := range prepared {
		payload := make(map[string]any, len(p.Payload)+3)
		for k, v := range p.Payload {
			payload[k] = v
		}
		payload[vector.TenantKey] = p.Tenant
		payload[IDKey] = p.ID
		payload[createdKey] = now
		values, err := qc.TryValueMap(payload)
		if err != nil {
			return fmt.Errorf("qdrant: payload of %s: %w", p.ID, err)
		}
		structs[i] = &qc.PointStruct{Id: qc.NewID(pointID(p.Tenant, p.ID)), Vectors: qc.NewVectorsDense(p.Vector), Payload: values}
	}
	_, err = s.client.Upsert(ctx, &qc.UpsertPoints{CollectionName: name, Wait: qc.PtrOf(true), Points: structs})
	if err != nil {
		return fmt.Errorf("qdrant: upsert %d points into %s: %w", len(structs), name, err)
	}
	return nil
}

// filter translates f plus the tenant condition.
func filter(tenant string, f vector.Filter) (*qc.Filter, error) {
	if err := vector.CheckTenant(tenant); err != nil {
		return nil, fmt.Errorf("qdrant: %w", err)
	}
	if err := vector.CheckFilter(f); err != nil {
		return nil, fmt.Errorf("qdrant: %w", err)
	}
	must := []*qc.Condition{qc.NewMatchKeyword(vector.TenantKey, tenant)}
	for _, c := range f.Must {
		switch m := c.Match.(type) {
		case nil:
			must = append(must, qc.NewRange(c.Key, &qc.Range{Gte: c.Range.Gte, Lte: c.Range.Lte}))
		case string:
			must = append(must, qc.NewMatchKeyword(c.Key, m))
		case bool:
			must = append(must, qc.NewMatchBool(c.Key, m))
		default:
			// Numbers are stored as doubles; an inclusive one-point range
			// matches them whether they are integral or not.
			n, _ := vector.ToFloat(m)
			must = append(must, qc.NewRange(c.Key, &qc.Range{Gte: &n, Lte: &n}))
		}
	}
	return &qc.Filter{Must: must}, nil
}

func fromPayload(values map[string]*qc.Value) (id string, created time.Time, payload map[string]any) {
	payload = make(map[string]any, len(values))
	for k, v := range values {
		payload[k] = fromValue(v)
	}
	id, _ = payload[IDKey].(string)
	if s, ok := payload[createdKey].(string); ok {
		created, _ = time.Parse(time.RFC3339Nano, s)
	}
	delete(payload, IDKey)
	delete(payload, createdKey)
	delete(payload, vector.TenantKey)
	return id, created, payload
}

// fromValue converts a Qdrant value to what encoding/json would decode.
func fromValue(v *qc.Value) any {
	switch k := v.GetKind().(type) {
	case *qc.Value_StringValue:
		return k.StringValue
	case *qc.Value_BoolValue:
		return k.BoolValue
	case *qc.Value_IntegerValue:
		return float64(k.IntegerValue)
	case *qc.Value_DoubleValue:
		return k.DoubleValue
	case *qc.Value_ListValue:
		out := make([]any, len(k.ListValue.GetValues()))
		for i, e := range k.ListValue.GetValues() {
			out[i] = fromValue(e)
		}
		return out
	case *qc.Value_StructValue:
		out := make(map[string]any, len(k.StructValue.GetFields()))
		for key, e := range k.StructValue.GetFields() {
			out[key] = fromValue(e)
		}
		return out
	}
	return nil
}

func denseOf(v *qc.VectorsOutput) []float32 {
	vo := v.GetVector()
	if d := vo.GetDense(); d != nil {
		return d.GetData()
	}
	return vo.GetData()
}

// Search implements vector.Store.
func (s *Store) Search(ctx context.Context, name string, q vector.Query) ([]vector.Hit, error) {
	dim, err := s.Dimension(ctx, name)
	if err != nil {
		return nil, err
	}
	qv, err := vector.PrepareVector(q.Vector, dim)
	if err != nil {
		return nil, fmt.Errorf("qdrant: search %s: %w", name, err)
	}
	f, err := filter(q.Tenant, q.Filter)
	if err != nil {
		return nil, err
	}
	if q.Limit <= 0 {
		return []vector.Hit{}, nil
	}
	req := &qc.QueryPoints{
		CollectionName: name,
		Query:          qc.NewQueryDense(qv),
		Filter:         f,
		Limit:          qc.PtrOf(uint64(q.Limit)),
		WithPayload:    qc.NewWithPayload(true),
		Params:         &qc.SearchParams{HnswEf: qc.PtrOf(uint64(max(s.cfg.EfSearch, q.Limit)))},
	}
	if q.MinScore != 0 {
		req.ScoreThreshold = qc.PtrOf(q.MinScore)
	}
	res, err := s.client.Query(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("qdrant: search %s: %w", name, err)
	}
	hits := make([]vector.Hit, 0, len(res))
	for _, r := range res {
		if r.GetScore() < q.MinScore {
			continue
		}
		id, created, payload := fromPayload(r.GetPayload())
		hits = append(hits, vector.Hit{Point: vector.Point{ID: id, Tenant: q.Tenant, Payload: payload, CreatedAt: created}, Score: r.GetScore()})
	}
	return hits, nil
}

// Get implements vector.Store.
func (s *Store) Get(ctx context.Context, name, tenant, id string) (vector.Point, error) {
	if _, err := s.Dimension(ctx, name); err != nil {
		return vector.Point{}, err
	}
	if err := vector.CheckTenant(tenant); err != nil {
		return vector.Point{}, fmt.Errorf("qdrant: %w", err)
	}
	res, err := s.client.Get(ctx, &qc.GetPoints{
		CollectionName: name, Ids: []*qc.PointId{qc.NewID(pointID(tenant, id))},
		WithPayload: qc.NewWithPayload(true), WithVectors: qc.NewWithVectors(true),
	})
	if err != nil {
		return vector.Point{}, fmt.Errorf("qdrant: get %s/%s: %w", name, id, err)
	}
	for _, r := range res {
		pid, created, payload := fromPayload(r.GetPayload())
		if pid != id || r.GetPayload()[vector.TenantKey].GetStringValue() != tenant {
			continue // a hash collision can never return another tenant's point
		}
		return vector.Point{ID: pid, Tenant: tenant, Vector: denseOf(r.GetVectors()), Payload: payload, CreatedAt: created}, nil
	}
	return vector.Point{}, fmt.Errorf("qdrant: %s/%s: %w", name, id, vector.ErrNotFound)
}

// Delete implements vector.Store.
func (s *Store) Delete(ctx context.Context, name, tenant string, ids []string) error {
	if _, err := s.Dimension(ctx, name); err != nil {
		return err
	}
	if err := vector.CheckTenant(tenant); err != nil {
		return fmt.Errorf("qdrant: %w", err)
	}
	if len(ids) == 0 {
		return nil
	}
	pids := make([]*qc.PointId, len(ids))
	for i, id := range ids {
		pids[i] = qc.NewID(pointID(tenant, id))
	}
	_, err := s.client.Delete(ctx, &qc.DeletePoints{CollectionName: name, Wait: qc.PtrOf(true), Points: qc.NewPointsSelectorIDs(pids)})
	if err != nil {
		return fmt.Errorf("qdrant: delete from %s: %w", name, err)
	}
	return nil
}

// Scroll implements vector.Store. The cursor is Qdrant's next page offset.
func (s *Store) Scroll(ctx context.Context, name string, p vector.Page) ([]vector.Point, string, error) {
	if _, err := s.Dimension(ctx, name); err != nil {
		return nil, "", err
	}
	f, err := filter(p.Tenant, p.Filter)
	if err != nil {
		return nil, "", err
	}
	if p.Limit <= 0 {
		return []vector.Point{}, "", nil
	}
	req := &qc.ScrollPoints{CollectionName: name, Filter: f, Limit: qc.PtrOf(uint32(p.Limit)), WithPayload: qc.NewWithPayload(true)}
	if p.Cursor != "" {
		if _, err := uuid.Parse(p.Cursor); err != nil {
			return nil, "", fmt.Errorf("qdrant: %w: scroll cursor %q", vector.ErrInvalid, p.Cursor)
		}
		req.Offset = qc.NewID(p.Cursor)
	}
	res, next, err := s.client.ScrollAndOffset(ctx, req)
	if err != nil {
		return nil, "", fmt.Errorf("qdrant: scroll %s: %w", name, err)
	}
	out := make([]vector.Point, 0, len(res))
	for _, r := range res {
		id, created, payload := fromPayload(r.GetPayload())
		out = append(out, vector.Point{ID: id, Tenant: p.Tenant, Payload: payload, CreatedAt: created})
	}
	return out, next.GetUuid(), nil
}

// Tenants implements vector.Store. It scrolls the tenant field of every
// point, which is fine for the maintenance it serves.
func (s *Store) Tenants(ctx context.Context, name string) ([]string, error) {
	if _, err := s.Dimension(ctx, name); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var offset *qc.PointId
	for {
		res, next, err := s.client.ScrollAndOffset(ctx, &qc.ScrollPoints{
			CollectionName: name, Limit: qc.PtrOf(uint32(1000)), Offset: offset,
			WithPayload: qc.NewWithPayload(true),
		})
		if err != nil {
			return nil, fmt.Errorf("qdrant: tenants of %s: %w", name, err)
		}
		for _, r := range res {
			if t := r.GetPayload()[vector.TenantKey].GetStringValue(); t != "" {
				seen[t] = true
			}
		}
		if next == nil {
			break
		}
		offset = next
	}
	out := make([]string, 0, len(seen))
	for t := range seen {
		out = append(out, t)
	}
	slices.Sort(out)
	return out, nil
}

// Count implements vector.Store.
func (s *Store) Count(ctx context.Context, name, tenant string, f vector.Filter) (int, error) {
	if _, err := s.Dimension(ctx, name); err != nil {
		return 0, err
	}
	qf, err := filter(tenant, f)
	if err != nil {
		return 0, err
	}
	n, err := s.client.Count(ctx, &qc.CountPoints{CollectionName: name, Filter: qf, Exact: qc.PtrOf(true)})
	if err != nil {
		return 0, fmt.Errorf("qdrant: count %s: %w", name, err)
	}
	return int(n), nil
}
