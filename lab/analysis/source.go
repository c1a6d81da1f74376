package analysis

import (
	"regexp"
	"strings"
)

// handedOver finds, per language, the functions a handler hands its
// framework to call later: Twisted's callback registrations and lambdas
// in Python, arrow functions and function expressions in JavaScript,
// function literals in Go. A count of text, not a parse: the report says
// so, and a handler in order hands over few or none.
var handedOver = map[string]*regexp.Regexp{
	"python":     regexp.MustCompile(`\.add(Callback|Errback|Both|Callbacks)\(|add_done_callback\(|callLater\(|\blambda\b`),
	"javascript": regexp.MustCompile(`=>|\bfunction\s*\(`),
	"go":         regexp.MustCompile(`\bfunc\s*\(`),
}

// comment is each language's line comment.
var comment = map[string]string{"python": "#", "javascript": "//", "go": "//"}

// CountShape counts what the claims section shows of a handler's source:
// the functions it hands over (handedOver), how deep its code nests
// (Python by indentation, four spaces a level; braces elsewhere), and its
// lines of code (not blank, not only a comment). Comments and Python
// docstrings are left out; a language it does not know has lines only.
func CountShape(lang, text string) (handed, depth, lines int) {
	re, lead := handedOver[lang], comment[lang]
	braces, inDoc := 0, false
	for _, line := range strings.Split(text, "\n") {
		t := strings.TrimSpace(line)
		if lang == "python" && (strings.HasPrefix(t, `"""`) || inDoc) {
			closes := strings.Count(t, `"""`)
			if inDoc {
				inDoc = closes == 0
			} else {
				inDoc = closes == 1
			}
			continue
		}
		if t == "" || lead != "" && strings.HasPrefix(t, lead) {
			continue
		}
		if lead != "" {
			if i := strings.Index(t, " "+lead+" "); i >= 0 {
				t = t[:i] // a trailing comment
			}
		}
		lines++
		if re != nil {
			handed += len(re.FindAllStringIndex(t, -1))
		}
		switch lang {
		case "python":
			depth = max(depth, (len(line)-len(strings.TrimLeft(line, " ")))/4)
		default:
			for _, c := range t {
				switch c {
				case '{':
					braces++
					depth = max(depth, braces)
				case '}':
					braces--
				}
			}
		}
	}
	return handed, depth, lines
}

// LinesChanged is how many lines of code of from are gone or different in
// to, and how many to adds: a line diff (longest common subsequence) over
// lines of code, blank lines and whitespace aside.
func LinesChanged(from, to []string) (changed, added int) {
	a, b := codeLines(from), codeLines(to)
	// lcs[i][j]: the longest common subsequence of a[i:] and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	common := lcs[0][0]
	return len(a) - common, len(b) - common
}

func codeLines(texts []string) []string {
	var out []string
	for _, text := range texts {
		for _, line := range strings.Split(text, "\n") {
			if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") && !strings.HasPrefix(t, "//") {
				out = append(out, t)
			}
		}
	}
	return out
}
