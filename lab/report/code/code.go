// Package code shows a server's source on the page: which language a
// file is, how many lines of code it has, and its text as HTML with
// comments, strings and keywords marked. A highlighter library would add
// dependencies for three small languages, and the page must load nothing;
// marking those three is enough to read by.
package code

import (
	"html"
	"html/template"
	"path/filepath"
	"strings"
)

// Lang is the language of the file at path: python, javascript, go, or
// text for any other.
func Lang(path string) string {
	switch filepath.Ext(path) {
	case ".py":
		return "python"
	case ".js":
		return "javascript"
	case ".go":
		return "go"
	}
	return "text"
}

var keywords = map[string]map[string]bool{
	"python":     set("def class return if elif else for while in not and or is None True False import from as with try except finally raise yield async await lambda pass break continue global nonlocal"),
	"javascript": set("const let var function return if else for while of in new this null undefined true false require throw try catch finally typeof break continue switch case default"),
	"go":         set("package import func return if else for range switch case default go defer select chan map struct interface type var const nil true false break continue"),
}

func set(words string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(words) {
		m[w] = true
	}
	return m
}

func commentStart(lang string) string {
	if lang == "python" {
		return "#"
	}
	return "//"
}

// Lines counts the lines of text that are neither blank nor only a
// comment.
func Lines(path, text string) int {
	lead := commentStart(Lang(path))
	n := 0
	for _, line := range strings.Split(text, "\n") {
		t := strings.TrimSpace(line)
		if t != "" && !strings.HasPrefix(t, lead) {
			n++
		}
	}
	return n
}

// Highlight returns text as escaped HTML with spans for comments (class
// c), strings (s) and keywords (k).
func Highlight(lang, text string) template.HTML {
	kw := keywords[lang]
	lead := commentStart(lang)
	var b strings.Builder
	span := func(class, s string) {
		b.WriteString(`<span class="` + class + `">` + html.EscapeString(s) + `</span>`)
	}
	for i := 0; i < len(text); {
		c := text[i]
		switch {
		case strings.HasPrefix(text[i:], lead):
			j := strings.IndexByte(text[i:], '\n')
			if j < 0 {
				j = len(text) - i
			}
			span("c", text[i:i+j])
			i += j
		case lang == "python" && (strings.HasPrefix(text[i:], `"""`) || strings.HasPrefix(text[i:], "'''")):
			j := strings.Index(text[i+3:], text[i:i+3])
			end := len(text)
			if j >= 0 {
				end = i + 3 + j + 3
			}
			span("s", text[i:end])
			i = end
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			for j < len(text) && text[j] != c && (text[j] != '\n' || c == '`') {
				if text[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j+1, len(text))
			span("s", text[i:j])
			i = j
		case isIdent(c):
			j := i
			for j < len(text) && (isIdent(text[j]) || text[j] >= '0' && text[j] <= '9') {
				j++
			}
			if kw[text[i:j]] {
				span("k", text[i:j])
			} else {
				b.WriteString(html.EscapeString(text[i:j]))
			}
			i = j
		default:
			b.WriteString(html.EscapeString(text[i : i+1]))
			i++
		}
	}
	return template.HTML(b.String())
}

func isIdent(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
