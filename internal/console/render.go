package console

import (
	"fmt"
	"html"
	"html/template"
	"sort"
	"strings"

	"github.com/alecthomas/chroma/v2"
	"github.com/alecthomas/chroma/v2/lexers"

	"github.com/quantumlayer/qlp/internal/delivery"
	"github.com/quantumlayer/qlp/internal/domain"
)

// maxHighlight bounds the text highlighted on the server; longer files
// are shown plain (still escaped).
const maxHighlight = 512 << 10

// highlight renders a file's text as escaped HTML with classes for its
// tokens (the colours are in console.css, so no inline style is needed),
// each line anchored as L<n> and the lines with findings marked.
func highlight(path, text string, marks map[int]string) template.HTML {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	tokensByLine := make([][]chroma.Token, len(lines))
	lexer := lexers.Match(path)
	if lexer == nil || len(text) > maxHighlight {
		for i, l := range lines {
			tokensByLine[i] = []chroma.Token{{Type: chroma.Text, Value: l}}
		}
	} else {
		it, err := chroma.Coalesce(lexer).Tokenise(nil, text)
		if err != nil {
			for i, l := range lines {
				tokensByLine[i] = []chroma.Token{{Type: chroma.Text, Value: l}}
			}
		} else {
			for i, line := range chroma.SplitTokensIntoLines(it.Tokens()) {
				if i < len(tokensByLine) {
					tokensByLine[i] = line
				}
			}
		}
	}
	// One <pre> with a block span per line: a browser paints it without
	// the table layout pass a long file would cost.
	var b strings.Builder
	b.WriteString(`<pre class="code">`)
	for i, toks := range tokensByLine {
		n := i + 1
		cls := "line"
		title := ""
		if m, ok := marks[n]; ok {
			cls, title = "line finding", ` title="`+html.EscapeString(m)+`"`
		}
		fmt.Fprintf(&b, `<span id="L%d" class="%s"%s><a class="ln" href="#L%d">%d</a>`, n, cls, title, n, n)
		for _, t := range toks {
			v := strings.TrimSuffix(t.Value, "\n")
			if v == "" {
				continue
			}
			if c := chroma.StandardTypes[t.Type]; c != "" {
				fmt.Fprintf(&b, `<span class="%s">%s</span>`, c, html.EscapeString(v))
			} else if c := chroma.StandardTypes[t.Type.Category()]; c != "" {
				fmt.Fprintf(&b, `<span class="%s">%s</span>`, c, html.EscapeString(v))
			} else {
				b.WriteString(html.EscapeString(v))
			}
		}
		b.WriteString("\n</span>") // the newline inside the block: one line each
	}
	b.WriteString("</pre>")
	return template.HTML(b.String()) //nolint:gosec // every piece of text above went through html.EscapeString
}

// stateColour is each task state's fill on the graph (dark text on each
// keeps a contrast above 4.5:1).
var stateColour = map[domain.TaskStatus]string{
	domain.TaskPending: "#e5e7eb", domain.TaskRunning: "#bfdbfe", domain.TaskCompleted: "#bbf7d0",
	domain.TaskFailed: "#fecaca", domain.TaskSkipped: "#fde68a",
}

// taskGraph draws the tasks as an SVG: one column per depth in the
// dependency graph, an arrow per dependency, each box filled by its state.
func taskGraph(tasks []domain.Task) template.HTML {
	if len(tasks) == 0 {
		return template.HTML(`<p class="muted">No tasks yet: the request is being planned.</p>`)
	}
	byID := map[string]domain.Task{}
	for _, t := range tasks {
		byID[t.ID] = t
	}
	depth := map[string]int{}
	var level func(id string, seen map[string]bool) int
	level = func(id string, seen map[string]bool) int {
		if d, ok := depth[id]; ok {
			return d
		}
		if seen[id] {
			return 0 // a cycle the planner would have refused; draw it flat
		}
		seen[id] = true
		d := 0
		for _, dep := range byID[id].Dependencies {
			if _, ok := byID[dep]; ok {
				if l := level(dep, seen) + 1; l > d {
					d = l
				}
			}
		}
		depth[id] = d
		return d
	}
	cols := map[int][]domain.Task{}
	maxCol := 0
	ordered := append([]domain.Task(nil), tasks...)
	sort.SliceStable(ordered, func(i, j int) bool { return ordered[i].Seq < ordered[j].Seq })
	for _, t := range ordered {
		d := level(t.ID, map[string]bool{})
		cols[d] = append(cols[d], t)
		if d > maxCol {
			maxCol = d
		}
	}
	const bw, bh, gx, gy, pad = 170, 46, 60, 18, 10
	pos := map[string][2]int{}
	rows := 0
	for c := 0; c <= maxCol; c++ {
		for r, t := range cols[c] {
			pos[t.ID] = [2]int{pad + c*(bw+gx), pad + r*(bh+gy)}
		}
		if len(cols[c]) > rows {
			rows = len(cols[c])
		}
	}
	wd, ht := 2*pad+(maxCol+1)*bw+maxCol*gx, 2*pad+rows*bh+(rows-1)*gy
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="graph" role="img" aria-labelledby="graph-title" viewBox="0 0 %d %d" width="%d" height="%d" xmlns="http://www.w3.org/2000/svg">`, wd, ht, wd, ht)
	b.WriteString(`<title id="graph-title">Task graph: each box is a task, filled by its state; arrows go from a dependency to the task that needs it</title>`)
	b.WriteString(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#374151"/></marker></defs>`)
	for _, t := range ordered {
		to := pos[t.ID]
		for _, dep := range t.Dependencies {
			from, ok := pos[dep]
			if !ok {
				continue
			}
			fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#374151" stroke-width="1.5" marker-end="url(#arrow)"/>`, from[0]+bw, from[1]+bh/2, to[0], to[1]+bh/2)
		}
	}
	for _, t := range ordered {
		p := pos[t.ID]
		fill := stateColour[t.Status]
		if fill == "" {
			fill = "#ffffff"
		}
		label := t.ID
		if len([]rune(label)) > 22 {
			label = string([]rune(label)[:21]) + "…"
		}
		sub := string(t.Status)
		if t.Tier != "" {
			sub += " · " + t.Tier
		}
		if t.Attempts > 1 {
			sub += fmt.Sprintf(" · %d attempts", t.Attempts)
		}
		fmt.Fprintf(&b, `<g class="task" data-task="%s" data-state="%s"><title>%s</title><rect x="%d" y="%d" width="%d" height="%d" rx="6" fill="%s" stroke="#111827"/>`,
			html.EscapeString(t.ID), html.EscapeString(string(t.Status)), html.EscapeString(t.ID+": "+t.Description), p[0], p[1], bw, bh, fill)
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="13" font-weight="600" fill="#111827">%s</text>`, p[0]+8, p[1]+19, html.EscapeString(label))
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12" fill="#1f2937">%s</text></g>`, p[0]+8, p[1]+37, html.EscapeString(sub))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // every piece of text above went through html.EscapeString
}

// diffFiles shows, per changed file, its part of the unified diff between
// two versions: the one the API answers (delivery.DiffFiles), from its
// first hunk on, each line coloured by what it does.
func diffFiles(old, cur map[string][]byte) template.HTML {
	files := delivery.DiffFiles(old, cur)
	if len(files) == 0 {
		return template.HTML(`<p>No file differs.</p>`)
	}
	var b strings.Builder
	for _, f := range files {
		status := "changed"
		if f.Change != delivery.Modified {
			status = f.Change
		}
		fmt.Fprintf(&b, `<details open><summary>%s <span class="muted">(%s)</span></summary><pre class="diff">`, html.EscapeString(f.Path), status)
		lines := strings.Split(strings.TrimSuffix(f.Diff, "\n"), "\n")
		// The git header (diff --git, index, ---, +++) names the file
		// the summary already names.
		for len(lines) > 0 && !f.Binary && !strings.HasPrefix(lines[0], "@@") {
			lines = lines[1:]
		}
		for _, l := range lines {
			class := "d"
			if l != "" && (l[0] == '+' || l[0] == '-') {
				class += l[:1]
			}
			fmt.Fprintf(&b, `<span class="%s">%s`+"\n"+`</span>`, class, html.EscapeString(l))
		}
		b.WriteString(`</pre></details>`)
	}
	return template.HTML(b.String()) //nolint:gosec // escaped above
}
