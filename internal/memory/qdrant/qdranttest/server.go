// Package qdranttest runs an in-process gRPC server that implements the part
// of Qdrant's published gRPC services (qdrant.Qdrant, qdrant.Collections,
// qdrant.Points, as generated in github.com/qdrant/go-client) that QLP's
// Qdrant store uses: collections with one dense cosine vector, payload
// indexes, upsert, get, delete by id or filter, query (nearest), scroll with
// offsets, count, and filters with must/should/must_not over keyword,
// integer and boolean matches and numeric ranges.
//
// It exists because no Qdrant server is packaged for this project's
// machines. It is test code: searches are exact scans, nothing is persisted,
// and anything outside that subset answers codes.Unimplemented, so a store
// that starts using more of Qdrant fails its tests instead of passing them
// against a server that ignores what it asked.
package qdranttest

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"net"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	qc "github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Version is what the server reports in its health check.
const Version = "1.15.0"

type point struct {
	id      string
	vec     []float32
	payload map[string]*qc.Value
}

type collection struct {
	dim     int
	points  map[string]*point
	indexes map[string]qc.FieldType
}

// Server is a running test server.
type Server struct {
	// Addr is the host:port to give the client.
	Addr   string
	apiKey string
	srv    *grpc.Server

	mu    sync.Mutex
	colls map[string]*collection
	// Calls counts requests by full method name.
	calls map[string]int
}

// Start starts a server on a loopback port; it stops when tb ends. When
// apiKey is not empty every request must carry it in the api-key header.
func Start(tb testing.TB, apiKey string) *Server {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{Addr: ln.Addr().String(), apiKey: apiKey, colls: map[string]*collection{}, calls: map[string]int{}}
	s.srv = grpc.NewServer(grpc.UnaryInterceptor(s.intercept))
	qc.RegisterQdrantServer(s.srv, qdrantSrv{})
	qc.RegisterCollectionsServer(s.srv, &collectionsSrv{s: s})
	qc.RegisterPointsServer(s.srv, &pointsSrv{s: s})
	go func() { _ = s.srv.Serve(ln) }()
	tb.Cleanup(s.srv.Stop)
	return s
}

// Calls returns how often a method (e.g. "/qdrant.Points/Query") was called.
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

// Indexes returns the payload indexes of a collection, by field.
func (s *Server) Indexes(collection string) map[string]qc.FieldType {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]qc.FieldType{}
	if c, ok := s.colls[collection]; ok {
		for k, v := range c.indexes {
			out[k] = v
		}
	}
	return out
}

func (s *Server) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if s.apiKey != "" {
		md, _ := metadata.FromIncomingContext(ctx)
		if got := md.Get("api-key"); len(got) != 1 || got[0] != s.apiKey {
			return nil, status.Error(codes.Unauthenticated, "Invalid api-key")
		}
	}
	s.mu.Lock()
	s.calls[info.FullMethod]++
	s.mu.Unlock()
	return h(ctx, req)
}

func notFound(name string) error {
	return status.Errorf(codes.NotFound, "Not found: Collection `%s` doesn't exist!", name)
}

type qdrantSrv struct{ qc.UnimplementedQdrantServer }

func (qdrantSrv) HealthCheck(context.Context, *qc.HealthCheckRequest) (*qc.HealthCheckReply, error) {
	return &qc.HealthCheckReply{Title: "qdrant - vector search engine (qdranttest)", Version: Version}, nil
}

type collectionsSrv struct {
	qc.UnimplementedCollectionsServer
	s *Server
}

func (c *collectionsSrv) Create(_ context.Context, r *qc.CreateCollection) (*qc.CollectionOperationResponse, error) {
	p := r.GetVectorsConfig().GetParams()
	if p == nil {
		return nil, status.Error(codes.Unimplemented, "qdranttest: only a single unnamed vector is supported")
	}
	if p.GetDistance() != qc.Distance_Cosine {
		return nil, status.Errorf(codes.Unimplemented, "qdranttest: distance %v not supported", p.GetDistance())
	}
	if p.GetSize() == 0 || p.GetSize() > 65536 {
		return nil, status.Errorf(codes.InvalidArgument, "Wrong input: bad vector size %d", p.GetSize())
	}
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if _, ok := c.s.colls[r.GetCollectionName()]; ok {
		return nil, status.Errorf(codes.InvalidArgument, "Wrong input: Collection `%s` already exists!", r.GetCollectionName())
	}
	c.s.colls[r.GetCollectionName()] = &collection{dim: int(p.GetSize()), points: map[string]*point{}, indexes: map[string]qc.FieldType{}}
	return &qc.CollectionOperationResponse{Result: true}, nil
}

func (c *collectionsSrv) Get(_ context.Context, r *qc.GetCollectionInfoRequest) (*qc.GetCollectionInfoResponse, error) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	col, ok := c.s.colls[r.GetCollectionName()]
	if !ok {
		return nil, notFound(r.GetCollectionName())
	}
	schema := map[string]*qc.PayloadSchemaInfo{}
	for f, t := range col.indexes {
		schema[f] = &qc.PayloadSchemaInfo{DataType: qc.PayloadSchemaType(t + 1)}
	}
	n := uint64(len(col.points))
	return &qc.GetCollectionInfoResponse{Result: &qc.CollectionInfo{
		Status:        qc.CollectionStatus_Green,
		PointsCount:   &n,
		PayloadSchema: schema,
		Config: &qc.CollectionConfig{Params: &qc.CollectionParams{
			ShardNumber:   1,
			VectorsConfig: qc.NewVectorsConfig(&qc.VectorParams{Size: uint64(col.dim), Distance: qc.Distance_Cosine}),
		}},
	}}, nil
}

func (c *collectionsSrv) List(context.Context, *qc.ListCollectionsRequest) (*qc.ListCollectionsResponse, error) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	out := &qc.ListCollectionsResponse{}
	for name := range c.s.colls {
		out.Collections = append(out.Collections, &qc.CollectionDescription{Name: name})
	}
	return out, nil
}

func (c *collectionsSrv) Delete(_ context.Context, r *qc.DeleteCollection) (*qc.CollectionOperationResponse, error) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	_, ok := c.s.colls[r.GetCollectionName()]
	delete(c.s.colls, r.GetCollectionName())
	return &qc.CollectionOperationResponse{Result: ok}, nil
}

func (c *collectionsSrv) CollectionExists(_ context.Context, r *qc.CollectionExistsRequest) (*qc.CollectionExistsResponse, error) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	_, ok := c.s.colls[r.GetCollectionName()]
	return &qc.CollectionExistsResponse{Result: &qc.CollectionExists{Exists: ok}}, nil
}

type pointsSrv struct {
	qc.UnimplementedPointsServer
	s *Server
}

func (p *pointsSrv) coll(name string) (*collection, error) {
	c, ok := p.s.colls[name]
	if !ok {
		return nil, notFound(name)
	}
	return c, nil
}

func idString(id *qc.PointId) (string, error) {
	switch v := id.GetPointIdOptions().(type) {
	case *qc.PointId_Uuid:
		return v.Uuid, nil
	case *qc.PointId_Num:
		return strconv.FormatUint(v.Num, 10), nil
	}
	return "", status.Error(codes.InvalidArgument, "Wrong input: point id missing")
}

func toID(s string) *qc.PointId {
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		return qc.NewIDNum(n)
	}
	return qc.NewID(s)
}

func ok() *qc.PointsOperationResponse {
	return &qc.PointsOperationResponse{Result: &qc.UpdateResult{Status: qc.UpdateStatus_Completed}}
}

func (p *pointsSrv) Upsert(_ context.Context, r *qc.UpsertPoints) (*qc.PointsOperationResponse, error) {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	c, err := p.coll(r.GetCollectionName())
	if err != nil {
		return nil, err
	}
	staged := make([]*point, 0, len(r.GetPoints()))
	for _, ps := range r.GetPoints() {
		id, err := idString(ps.GetId())
		if err != nil {
			return nil, err
		}
		v := ps.GetVectors().GetVector()
		if v == nil {
			return nil, status.Error(codes.Unimplemented, "qdranttest: only a single unnamed dense vector is supported")
		}
		data := v.GetData()
		if d := v.GetDense(); d != nil {
			data = d.GetData()
		}
		if len(data) != c.dim {
			return nil, status.Errorf(codes.InvalidArgument, "Wrong input: Vector dimension error: expected dim: %d, got %d", c.dim, len(data))
		}
		// Qdrant normalises vectors of cosine collections on upsert.
		var sum float64
		for _, x := range data {
			sum += float64(x) * float64(x)
		}
		vec := make([]float32, len(data))
		if sum > 0 {
			inv := 1 / math.Sqrt(sum)
			for i, x := range data {
				vec[i] = float32(float64(x) * inv)
			}
		}
		payload := make(map[string]*qc.Value, len(ps.GetPayload()))
		for k, val := range ps.GetPayload() {
			payload[k] = proto.Clone(val).(*qc.Value)
		}
		staged = append(staged, &point{id: id, vec: vec, payload: payload})
	}
	for _, pt := range staged {
		c.points[pt.id] = pt
	}
	return ok(), nil
}

func (p *pointsSrv) Delete(_ context.Context, r *qc.DeletePoints) (*qc.PointsOperationResponse, error) {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	c, err := p.coll(r.GetCollectionName())
	if err != nil {
		return nil, err
	}
	sel := r.GetPoints()
	switch {
	case sel.GetPoints() != nil:
		for _, id := range sel.GetPoints().GetIds() {
			s, err := idString(id)
			if err != nil {
				return nil, err
			}
			delete(c.points, s)
		}
	case sel.GetFilter() != nil:
		for id, pt := range c.points {
			m, err := matches(sel.GetFilter(), pt)
			if err != nil {
				return nil, err
			}
			if m {
				delete(c.points, id)
			}
		}
	default:
		return nil, status.Error(codes.InvalidArgument, "Wrong input: no points selector")
	}
	return ok(), nil
}

func (p *pointsSrv) CreateFieldIndex(_ context.Context, r *qc.CreateFieldIndexCollection) (*qc.PointsOperationResponse, error) {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	c, err := p.coll(r.GetCollectionName())
	if err != nil {
		return nil, err
	}
	if r.FieldType == nil {
		return nil, status.Error(codes.InvalidArgument, "Wrong input: field_type is required")
	}
	c.indexes[r.GetFieldName()] = r.GetFieldType()
	return ok(), nil
}

func withPayload(sel *qc.WithPayloadSelector, pt *point) map[string]*qc.Value {
	if sel == nil || !sel.GetEnable() {
		if sel.GetInclude() != nil || sel.GetExclude() != nil {
			return nil // include/exclude lists are not supported: return none
		}
		return nil
	}
	out := make(map[string]*qc.Value, len(pt.payload))
	for k, v := range pt.payload {
		out[k] = proto.Clone(v).(*qc.Value)
	}
	return out
}

func withVectors(sel *qc.WithVectorsSelector, pt *point) *qc.VectorsOutput {
	if sel == nil || !sel.GetEnable() {
		return nil
	}
	return &qc.VectorsOutput{VectorsOptions: &qc.VectorsOutput_Vector{Vector: &qc.VectorOutput{
		Vector: &qc.VectorOutput_Dense{Dense: &qc.DenseVector{Data: slices.Clone(pt.vec)}},
	}}}
}

func (p *pointsSrv) Get(_ context.Context, r *qc.GetPoints) (*qc.GetResponse, error) {
	start := time.Now()
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	c, err := p.coll(r.GetCollectionName())
	if err != nil {
		return nil, err
	}
	out := &qc.GetResponse{}
	for _, id := range r.GetIds() {
		s, err := idString(id)
		if err != nil {
			return nil, err
		}
		if pt, ok := c.points[s]; ok {
			out.Result = append(out.Result, &qc.RetrievedPoint{Id: toID(s), Payload: withPayload(r.GetWithPayload(), pt), Vectors: withVectors(r.GetWithVectors(), pt)})
		}
	}
	out.Time = time.Since(start).Seconds()
	return out, nil
}

func (p *pointsSrv) Query(_ context.Context, r *qc.QueryPoints) (*qc.QueryResponse, error) {
	start := time.Now()
	if len(r.GetPrefetch()) > 0 || r.Using != nil || r.LookupFrom != nil {
		return nil, status.Error(codes.Unimplemented, "qdranttest: prefetch, using and lookup_from are not supported")
	}
	near := r.GetQuery().GetNearest()
	if near == nil || near.GetDense() == nil {
		return nil, status.Error(codes.Unimplemented, "qdranttest: only nearest queries with a dense vector are supported")
	}
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	c, err := p.coll(r.GetCollectionName())
	if err != nil {
		return nil, err
	}
	q := near.GetDense().GetData()
	if len(q) != c.dim {
		return nil, status.Errorf(codes.InvalidArgument, "Wrong input: Vector dimension error: expected dim: %d, got %d", c.dim, len(q))
	}
	var qn float64
	for _, x := range q {
		qn += float64(x) * float64(x)
	}
	qn = math.Sqrt(qn)
	type scored struct {
		pt    *point
		score float32
	}
	var all []scored
	for _, pt := range c.points {
		m, err := matches(r.GetFilter(), pt)
		if err != nil {
			return nil, err
		}
		if !m {
			continue
		}
		var d float64
		for i, x := range q {
			d += float64(x) * float64(pt.vec[i])
		}
		sc := float32(d / qn)
		if r.ScoreThreshold != nil && sc < r.GetScoreThreshold() {
			continue
		}
		all = append(all, scored{pt, sc})
	}
	slices.SortFunc(all, func(a, b scored) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return cmp.Compare(a.pt.id, b.pt.id)
	})
	limit, offset := 10, int(r.GetOffset())
	if r.Limit != nil {
		limit = int(r.GetLimit())
	}
	out := &qc.QueryResponse{}
	for i := offset; i < len(all) && i < offset+limit; i++ {
		out.Result = append(out.Result, &qc.ScoredPoint{
			Id: toID(all[i].pt.id), Score: all[i].score,
			Payload: withPayload(r.GetWithPayload(), all[i].pt), Vectors: withVectors(r.GetWithVectors(), all[i].pt),
		})
	}
	out.Time = time.Since(start).Seconds()
	return out, nil
}

func (p *pointsSrv) Scroll(_ context.Context, r *qc.ScrollPoints) (*qc.ScrollResponse, error) {
	start := time.Now()
	if r.OrderBy != nil {
		return nil, status.Error(codes.Unimplemented, "qdranttest: order_by is not supported")
	}
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	c, err := p.coll(r.GetCollectionName())
	if err != nil {
		return nil, err
	}
	from := ""
	if r.Offset != nil {
		if from, err = idString(r.GetOffset()); err != nil {
			return nil, err
		}
	}
	var ids []string
	for id, pt := range c.points {
		if id < from {
			continue
		}
		m, err := matches(r.GetFilter(), pt)
		if err != nil {
			return nil, err
		}
		if m {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	limit := 10
	if r.Limit != nil {
		limit = int(r.GetLimit())
	}
	out := &qc.ScrollResponse{}
	for i, id := range ids {
		if i == limit {
			out.NextPageOffset = toID(id)
			break
		}
		pt := c.points[id]
		sel := r.GetWithPayload()
		if sel == nil {
			sel = qc.NewWithPayload(true) // Scroll returns payloads by default
		}
		out.Result = append(out.Result, &qc.RetrievedPoint{Id: toID(id), Payload: withPayload(sel, pt), Vectors: withVectors(r.GetWithVectors(), pt)})
	}
	out.Time = time.Since(start).Seconds()
	return out, nil
}

func (p *pointsSrv) Count(_ context.Context, r *qc.CountPoints) (*qc.CountResponse, error) {
	start := time.Now()
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	c, err := p.coll(r.GetCollectionName())
	if err != nil {
		return nil, err
	}
	var n uint64
	for _, pt := range c.points {
		m, err := matches(r.GetFilter(), pt)
		if err != nil {
			return nil, err
		}
		if m {
			n++
		}
	}
	return &qc.CountResponse{Result: &qc.CountResult{Count: n}, Time: time.Since(start).Seconds()}, nil
}

// matches evaluates a filter the way Qdrant does for the supported subset.
func matches(f *qc.Filter, pt *point) (bool, error) {
	if f == nil {
		return true, nil
	}
	for _, c := range f.GetMust() {
		m, err := cond(c, pt)
		if err != nil || !m {
			return false, err
		}
	}
	for _, c := range f.GetMustNot() {
		m, err := cond(c, pt)
		if err != nil || m {
			return false, err
		}
	}
	if len(f.GetShould()) > 0 {
		any := false
		for _, c := range f.GetShould() {
			m, err := cond(c, pt)
			if err != nil {
				return false, err
			}
			any = any || m
		}
		if !any {
			return false, nil
		}
	}
	if f.MinShould != nil {
		return false, status.Error(codes.Unimplemented, "qdranttest: min_should is not supported")
	}
	return true, nil
}

func cond(c *qc.Condition, pt *point) (bool, error) {
	if sub := c.GetFilter(); sub != nil {
		return matches(sub, pt)
	}
	fc := c.GetField()
	if fc == nil {
		return false, status.Errorf(codes.Unimplemented, "qdranttest: condition %T is not supported", c.GetConditionOneOf())
	}
	v, ok := pt.payload[fc.GetKey()]
	if !ok {
		return false, nil
	}
	values := []*qc.Value{v}
	if l := v.GetListValue(); l != nil {
		values = l.GetValues() // a condition on an array matches any element
	}
	switch {
	case fc.GetMatch() != nil:
		for _, x := range values {
			m, err := matchValue(fc.GetMatch(), x)
			if err != nil || m {
				return m, err
			}
		}
		return false, nil
	case fc.GetRange() != nil:
		r := fc.GetRange()
		for _, x := range values {
			var n float64
			switch k := x.GetKind().(type) {
			case *qc.Value_DoubleValue:
				n = k.DoubleValue
			case *qc.Value_IntegerValue:
				n = float64(k.IntegerValue)
			default:
				continue
			}
			if (r.Gte == nil || n >= r.GetGte()) && (r.Gt == nil || n > r.GetGt()) &&
				(r.Lte == nil || n <= r.GetLte()) && (r.Lt == nil || n < r.GetLt()) {
				return true, nil
			}
		}
		return false, nil
	}
	return false, status.Errorf(codes.Unimplemented, "qdranttest: field condition on %s is not supported", fc.GetKey())
}

func matchValue(m *qc.Match, v *qc.Value) (bool, error) {
	switch mv := m.GetMatchValue().(type) {
	case *qc.Match_Keyword:
		s, ok := v.GetKind().(*qc.Value_StringValue)
		return ok && s.StringValue == mv.Keyword, nil
	case *qc.Match_Boolean:
		b, ok := v.GetKind().(*qc.Value_BoolValue)
		return ok && b.BoolValue == mv.Boolean, nil
	case *qc.Match_Integer:
		i, ok := v.GetKind().(*qc.Value_IntegerValue)
		return ok && i.IntegerValue == mv.Integer, nil
	case *qc.Match_Keywords:
		s, ok := v.GetKind().(*qc.Value_StringValue)
		return ok && slices.Contains(mv.Keywords.GetStrings(), s.StringValue), nil
	}
	return false, status.Error(codes.Unimplemented, fmt.Sprintf("qdranttest: match %T is not supported", m.GetMatchValue()))
}
