// Package memorybench measures the vector indexes behind QLP's memory: the
// embedded HNSW index (package hnsw) against pgvector's HNSW index in the
// same run, with exact brute force as the ground truth and baseline.
//
//	go test -run '^$' -bench . -benchtime 1x -timeout 60m ./bench/memory/
//
// pgvector is measured when QLP_TEST_POSTGRES_URL points at a server with
// the extension (scripts/test-services.sh start, scripts/deps/memory.sh).
// Flags: -memory.n, -memory.dim, -memory.queries, -memory.m, -memory.efc.
package memorybench
