package embed

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"strings"
	"unicode"
)

// Hashing is the built-in offline embedder. Each text becomes a bag of
// features — lower-cased words, word bigrams, the parts of identifiers
// (camelCase, snake_case, kebab-case and dotted names split up) and
// character trigrams of words — each hashed (FNV-1a) to one of Dim
// coordinates with a hashed sign, weighted by feature class and by
// 1 + log(term frequency), and the sum is scaled to unit length.
//
// The result is lexical similarity: shared words and identifiers raise the
// cosine, synonyms do not. It is deterministic, needs no model and no
// network, and costs nothing.
type Hashing struct {
	dim int
}

// DefaultHashingDimension is the built-in embedder's default dimension.
const DefaultHashingDimension = 384

// NewHashing returns the built-in embedder with dim coordinates (0 means
// DefaultHashingDimension).
func NewHashing(dim int) (*Hashing, error) {
	if dim == 0 {
		dim = DefaultHashingDimension
	}
	if dim < 16 || dim > 4096 {
		return nil, fmt.Errorf("embed: builtin dimension %d out of range 16..4096", dim)
	}
	return &Hashing{dim: dim}, nil
}

// Dimension implements Embedder.
func (h *Hashing) Dimension() int { return h.dim }

// Provider implements Embedder.
func (h *Hashing) Provider() string { return "builtin" }

// Model implements Embedder.
func (h *Hashing) Model() string { return fmt.Sprintf("feature-hashing-v1-%d", h.dim) }

// Embed implements Embedder. It never reports tokens: nothing is billed.
func (h *Hashing) Embed(ctx context.Context, req Request) (Result, error) {
	out := Result{Vectors: make([][]float32, len(req.Texts))}
	for i, t := range req.Texts {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		v, err := h.vector(t)
		if err != nil {
			return Result{}, fmt.Errorf("text %d: %w", i, err)
		}
		out.Vectors[i] = v
	}
	return out, nil
}

// Feature class weights: whole words matter most.
const (
	wWord    = 1.0
	wBigram  = 0.6
	wPart    = 0.5
	wTrigram = 0.25
)

var stopwords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`a an and are as at be by for from has have in is it its of on or that the this to was were will with
		i me my we our you your he she they them their please can could would should shall do does did so than then there these those`) {
		stopwords[w] = true
	}
}

func (h *Hashing) vector(text string) ([]float32, error) {
	counts := map[string]float64{}
	add := func(class byte, feat string, w float64) {
		counts[string(class)+feat] += w
	}
	words := tokens(text)
	allStop := true
	for _, tok := range words {
		allStop = allStop && stopwords[strings.ToLower(tok)]
	}
	var content []string
	for _, tok := range words {
		lw := strings.ToLower(tok)
		parts := splitIdentifier(tok)
		if len(parts) > 1 {
			for _, p := range parts {
				add('p', p, wPart)
			}
		}
		if stopwords[lw] && !allStop {
			continue
		}
		content = append(content, lw)
		add('w', lw, wWord)
		if len(lw) >= 4 {
			padded := "^" + lw + "$"
			r := []rune(padded)
			for i := 0; i+3 <= len(r); i++ {
				add('t', string(r[i:i+3]), wTrigram)
			}
		}
	}
	for i := 0; i+1 < len(content); i++ {
		add('b', content[i]+" "+content[i+1], wBigram)
	}
	if len(counts) == 0 {
		return nil, ErrEmptyText
	}
	v := make([]float64, h.dim)
	for feat, c := range counts {
		f := fnv.New64a()
		f.Write([]byte(feat))
		sum := f.Sum64()
		idx := int(sum % uint64(h.dim))
		sign := 1.0
		if sum>>63 == 1 {
			sign = -1
		}
		// Sub-linear term frequency: ten repetitions are not ten times the
		// evidence. c already carries the class weight per occurrence.
		class := featureWeight(feat[0])
		tf := c / class
		v[idx] += sign * class * (1 + math.Log(tf))
	}
	var norm float64
	for _, x := range v {
		norm += x * x
	}
	if norm == 0 {
		// Every feature cancelled out: vanishingly rare, but not unit-able.
		v[0], norm = 1, 1
	}
	inv := 1 / math.Sqrt(norm)
	out := make([]float32, h.dim)
	for i, x := range v {
		out[i] = float32(x * inv)
	}
	return out, nil
}

func featureWeight(class byte) float64 {
	switch class {
	case 'w':
		return wWord
	case 'b':
		return wBigram
	case 'p':
		return wPart
	default:
		return wTrigram
	}
}

// tokens splits text into words and identifiers: runs of letters, digits
// and the joiners _ . - that sit between them.
func tokens(text string) []string {
	var out []string
	start := -1
	rs := []rune(text)
	isWord := func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }
	for i, r := range rs {
		joiner := (r == '_' || r == '.' || r == '-') && start >= 0 && i+1 < len(rs) && isWord(rs[i+1])
		if isWord(r) || joiner || (r == '_' && i+1 < len(rs) && isWord(rs[i+1])) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			out = append(out, string(rs[start:i]))
			start = -1
		}
	}
	if start >= 0 {
		out = append(out, string(rs[start:]))
	}
	return out
}

// splitIdentifier breaks "parseHTTPRequest_v2.go" into parse, http,
// request, v2, go (lower case).
func splitIdentifier(tok string) []string {
	var parts []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			parts = append(parts, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	rs := []rune(tok)
	for i, r := range rs {
		switch {
		case r == '_' || r == '.' || r == '-':
			flush()
		case unicode.IsUpper(r) && len(cur) > 0 &&
			(unicode.IsLower(cur[len(cur)-1]) || (i+1 < len(rs) && unicode.IsLower(rs[i+1]))):
			flush()
			cur = append(cur, r)
		default:
			cur = append(cur, r)
		}
	}
	flush()
	return parts
}
