// Package vector defines what every vector store behind QLP's memory
// implements: tenant-scoped collections of points (a unit-length embedding
// plus a JSON payload), searched by cosine similarity with optional payload
// filters. The embedded HNSW store, pgvector and Qdrant all implement
// [Store] and all pass the one conformance suite in package memorytest.
//
// # Tenancy
//
// Every point belongs to exactly one tenant and every read names the tenant
// it reads for. A store never returns a point of another tenant, whatever the
// filter, id or score: ids are only unique within (collection, tenant).
//
// # Payloads
//
// Payload values are JSON values. Stores hand them back as encoding/json
// would decode them: numbers as float64, arrays as []any, objects as
// map[string]any. Filters apply to top-level keys only.
package vector

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// The collections QLP keeps. The names are those of the earlier QLP's Qdrant
// collections, so dashboards and habits carry over.
const (
	CodePatterns   = "qlp_code_patterns"   // validated source files, examples for the coder
	Executions     = "qlp_executions"      // past requests with their decomposition and outcome
	AgentDecisions = "qlp_agent_decisions" // per-task outcomes: type, complexity, tier, success
	ErrorPatterns  = "qlp_error_patterns"  // errors seen during repair and the fix that worked
	Requirements   = "qlp_requirements"    // requests that produced a validated capsule (reuse)
)

// Collections lists every collection name, in a stable order.
func Collections() []string {
	return []string{CodePatterns, Executions, AgentDecisions, ErrorPatterns, Requirements}
}

// KnownCollection reports whether name is one of [Collections].
func KnownCollection(name string) bool { return slices.Contains(Collections(), name) }

// IndexedFields lists, per collection, the payload keys that stores index
// for filtering (Qdrant payload indexes; the other stores filter in place).
var indexedFields = map[string][]Field{
	CodePatterns:   {{"language", FieldKeyword}, {"capsule_id", FieldKeyword}, {"task_type", FieldKeyword}, {"validated", FieldBool}, {"success_rate", FieldFloat}},
	Executions:     {{"request_id", FieldKeyword}, {"capsule_id", FieldKeyword}, {"success", FieldBool}},
	AgentDecisions: {{"task_type", FieldKeyword}, {"complexity", FieldKeyword}, {"tier", FieldKeyword}, {"success", FieldBool}},
	ErrorPatterns:  {{"language", FieldKeyword}, {"error_type", FieldKeyword}, {"fixed", FieldBool}},
	Requirements:   {{"capsule_id", FieldKeyword}, {"language", FieldKeyword}, {"validated", FieldBool}},
}

// IndexedFields returns the payload keys indexed for collection.
func IndexedFields(collection string) []Field { return slices.Clone(indexedFields[collection]) }

// FieldType is the type of an indexed payload field.
type FieldType int

// Field types that stores know how to index.
const (
	FieldKeyword FieldType = iota
	FieldBool
	FieldFloat
)

// Field is one indexed payload key.
type Field struct {
	Key  string
	Type FieldType
}

// TenantKey is the payload key under which stores that keep the tenant in the
// payload (Qdrant) store it. Callers must not set it themselves.
const TenantKey = "tenant_id"

// Point is one stored entry.
type Point struct {
	// ID identifies the point within (collection, tenant): a UUID string.
	ID string `json:"id"`
	// Tenant owns the point.
	Tenant string `json:"tenant_id"`
	// Vector is the embedding; stores normalise it to unit length.
	Vector []float32 `json:"vector,omitempty"`
	// Payload holds the entry's data as JSON values.
	Payload map[string]any `json:"payload"`
	// CreatedAt is when the point was last written (set by the store).
	CreatedAt time.Time `json:"created_at"`
}

// Hit is one search result.
type Hit struct {
	Point
	// Score is the cosine similarity between the query and the point, in
	// [-1, 1]; 1 means the same direction.
	Score float32 `json:"score"`
}

// Condition restricts a search or scroll to points whose payload key equals
// a value or lies in a numeric range. Exactly one of Match or Range is set.
type Condition struct {
	Key   string `json:"key"`
	Match any    `json:"match,omitempty"` // string, bool or number
	Range *Range `json:"range,omitempty"`
}

// Range is an inclusive numeric range; a nil bound is open.
type Range struct {
	Gte *float64 `json:"gte,omitempty"`
	Lte *float64 `json:"lte,omitempty"`
}

// Filter is a conjunction of conditions; the empty filter matches all.
type Filter struct {
	Must []Condition `json:"must,omitempty"`
}

// Eq is a condition "key equals v".
func Eq(key string, v any) Condition { return Condition{Key: key, Match: v} }

// AtLeast is a condition "key >= v".
func AtLeast(key string, v float64) Condition { return Condition{Key: key, Range: &Range{Gte: &v}} }

// Query is a similarity search within one tenant's part of a collection.
type Query struct {
	Tenant string
	Vector []float32
	Limit  int
	// MinScore drops hits whose cosine similarity is below it.
	MinScore float32
	Filter   Filter
}

// Page asks for one page of a scroll through a tenant's points. The order is
// the store's own (stable while nothing is written).
type Page struct {
	Tenant string
	Filter Filter
	Limit  int
	// Cursor is the Next of the previous page; "" starts at the beginning.
	Cursor string
}

// Store is a vector store. Implementations are safe for concurrent use.
type Store interface {
	// EnsureCollection creates the collection for vectors of dim
	// dimensions, with its payload indexes, if it does not exist. It fails
	// with ErrDimension if it exists with another dimension.
	EnsureCollection(ctx context.Context, collection string, dim int) error
	// Dimension returns a collection's dimension, or ErrUnknownCollection.
	Dimension(ctx context.Context, collection string) (int, error)
	// Upsert writes points, replacing those with the same (tenant, id). When
	// it returns nil the points are durable.
	Upsert(ctx context.Context, collection string, points []Point) error
	// Search returns up to q.Limit hits, best first.
	Search(ctx context.Context, collection string, q Query) ([]Hit, error)
	// Get returns one point, with its vector, or ErrNotFound.
	Get(ctx context.Context, collection, tenant, id string) (Point, error)
	// Delete removes points by id; ids that do not exist are ignored.
	Delete(ctx context.Context, collection, tenant string, ids []string) error
	// Scroll returns one page of points (without vectors) and the cursor of
	// the next page, "" after the last one.
	Scroll(ctx context.Context, collection string, p Page) (points []Point, next string, err error)
	// Count returns how many of the tenant's points match the filter.
	Count(ctx context.Context, collection, tenant string, f Filter) (int, error)
	// Tenants lists the tenants that have points in a collection (for
	// maintenance such as re-embedding; never for serving a tenant).
	Tenants(ctx context.Context, collection string) ([]string, error)
	// DropCollection removes a collection with all tenants' points.
	DropCollection(ctx context.Context, collection string) error
	// Ready reports whether the store can serve.
	Ready(ctx context.Context) error
	// Backend names the implementation: "embedded", "pgvector" or "qdrant".
	Backend() string
	// Close releases the store's resources.
	Close() error
}

// Errors shared by every store. Stores wrap them with their reason.
var (
	ErrNotFound          = errors.New("vector: point not found")
	ErrUnknownCollection = errors.New("vector: unknown collection")
	ErrDimension         = errors.New("vector: wrong dimension")
	ErrInvalid           = errors.New("vector: invalid input")
)

// MaxDimension bounds a collection's dimension (pgvector indexes up to 2000).
const MaxDimension = 2000

// Normalize returns v scaled to unit length, as a new slice. It fails on a
// zero, NaN or infinite vector.
func Normalize(v []float32) ([]float32, error) {
	var sum float64
	for _, x := range v {
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%w: vector holds NaN or Inf", ErrInvalid)
		}
		sum += f * f
	}
	if sum == 0 {
		return nil, fmt.Errorf("%w: vector is all zeros", ErrInvalid)
	}
	inv := 1 / math.Sqrt(sum)
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(float64(x) * inv)
	}
	return out, nil
}

// Dot is the dot product of two equally long vectors; for unit vectors it is
// their cosine similarity.
func Dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return s0 + s1 + s2 + s3
}

// CheckCollection validates a collection name.
func CheckCollection(name string) error {
	if !KnownCollection(name) {
		return fmt.Errorf("%w %q (want one of %s)", ErrUnknownCollection, name, strings.Join(Collections(), ", "))
	}
	return nil
}

// CheckTenant validates a tenant id.
func CheckTenant(tenant string) error {
	if strings.TrimSpace(tenant) == "" {
		return fmt.Errorf("%w: tenant must not be empty", ErrInvalid)
	}
	if len(tenant) > 200 {
		return fmt.Errorf("%w: tenant id longer than 200 bytes", ErrInvalid)
	}
	return nil
}

// CheckID validates a point id (a UUID string).
func CheckID(id string) error {
	if _, err := uuid.Parse(id); err != nil {
		return fmt.Errorf("%w: point id %q is not a UUID", ErrInvalid, id)
	}
	return nil
}

// PrepareVector checks a vector's dimension and returns it normalised.
func PrepareVector(v []float32, dim int) ([]float32, error) {
	if len(v) != dim {
		return nil, fmt.Errorf("%w: vector has %d dimensions, the collection has %d", ErrDimension, len(v), dim)
	}
	return Normalize(v)
}

// PreparePoints validates points for a collection of dimension dim and
// returns copies with normalised vectors and JSON-normalised payloads.
func PreparePoints(points []Point, dim int) ([]Point, error) {
	out := make([]Point, len(points))
	for i, p := range points {
		if err := CheckTenant(p.Tenant); err != nil {
			return nil, fmt.Errorf("point %d: %w", i, err)
		}
		if err := CheckID(p.ID); err != nil {
			return nil, fmt.Errorf("point %d: %w", i, err)
		}
		v, err := PrepareVector(p.Vector, dim)
		if err != nil {
			return nil, fmt.Errorf("point %d (%s): %w", i, p.ID, err)
		}
		payload, err := NormalizePayload(p.Payload)
		if err != nil {
			return nil, fmt.Errorf("point %d (%s): %w", i, p.ID, err)
		}
		out[i] = Point{ID: strings.ToLower(p.ID), Tenant: p.Tenant, Vector: v, Payload: payload}
	}
	return out, nil
}

// CheckFilter validates a filter's conditions.
func CheckFilter(f Filter) error {
	for i, c := range f.Must {
		if c.Key == "" {
			return fmt.Errorf("%w: filter condition %d has no key", ErrInvalid, i)
		}
		if c.Key == TenantKey {
			return fmt.Errorf("%w: filter on %q: the tenant is chosen by the caller's credential, not a filter", ErrInvalid, TenantKey)
		}
		if (c.Match == nil) == (c.Range == nil) {
			return fmt.Errorf("%w: filter condition on %q needs exactly one of match or range", ErrInvalid, c.Key)
		}
		if c.Match != nil {
			switch c.Match.(type) {
			case string, bool, float64, float32, int, int64:
			default:
				return fmt.Errorf("%w: filter on %q matches a %T; want a string, bool or number", ErrInvalid, c.Key, c.Match)
			}
		}
	}
	return nil
}
