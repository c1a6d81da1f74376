// Package scenario loads and validates the scenario files of scenarios/.
// It is the only YAML importer. Every error names the file and line, as
// `scenarios/x.yaml:12: rate must be > 0`, and an unknown key is an error.
//
// The schema is lab.Scenario; scenarios/README.md documents it.
package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/linelab/linelab/lab"
)

// MaxConnections keeps a step within the open-file limit of 20,000 per
// process: the driver holds one descriptor per connection.
const MaxConnections = 15000

// DefaultPayload is sent when a step names none; it holds dictionary words,
// so fetch mode really translates.
const DefaultPayload = "hello my friend, where is the treasure"

// maxTrials bounds max_trials: past it a step that the rank test cannot
// settle is a tie, not a question of more trials.
const maxTrials = 12

// Error is one problem at a line of a file.
type Error struct {
	File string
	Line int // 0 when the whole file is at fault
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// LoadDir loads every *.yaml file of dir, sorted by name.
func LoadDir(dir string) ([]lab.Scenario, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no scenario files (*.yaml)", dir)
	}
	sort.Strings(files)
	var out []lab.Scenario
	var errs []error
	for _, f := range files {
		s, err := LoadFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, Expand(s)...)
	}
	return out, errors.Join(errs...)
}

// Expand makes one scenario per upstream-client discipline of a fetch
// scenario: the first keeps the name, the others are named
// "<name>-<discipline>" and say so in their description. An echo scenario
// stays as it is.
func Expand(s lab.Scenario) []lab.Scenario {
	if s.Mode != lab.Fetch {
		return []lab.Scenario{s}
	}
	clients := s.Clients
	if len(clients) == 0 {
		clients = []string{lab.Pooled}
	}
	var out []lab.Scenario
	for i, c := range clients {
		x := s
		x.Client, x.Clients = c, nil
		if i > 0 {
			x.Name = s.Name + "-" + c
			x.Description = clientNote[c] + " " + s.Description
		}
		out = append(out, x)
	}
	return out
}

var clientNote = map[string]string{
	lab.Pooled:     "With UPSTREAM_CLIENT=pooled: every server keeps up to 1,024 upstream connections alive, the idiomatic client of each ecosystem today.",
	lab.PerRequest: "With UPSTREAM_CLIENT=per-request: every server opens a new upstream connection for each fetch, as the talk's code did.",
}

// LoadFile loads one scenario file.
func LoadFile(path string) (lab.Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return lab.Scenario{}, err
	}
	return Parse(path, data)
}

var yamlLine = regexp.MustCompile(`^line (\d+): (.*)$`)

// Parse decodes and validates one scenario; file names it in errors.
func Parse(file string, data []byte) (lab.Scenario, error) {
	var s lab.Scenario
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return s, yamlError(file, err)
	}
	if len(root.Content) == 0 {
		return s, &Error{File: file, Msg: "empty file"}
	}
	// Durations first: a bad one fails the decoder below without a line.
	if errs := checkDurations(file, &root); len(errs) > 0 {
		return s, errors.Join(errs...)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return s, yamlError(file, err)
	}
	s.File = file
	v := &validator{file: file}
	v.scenario(&s, root.Content[0])
	return s, errors.Join(v.errs...)
}

// yamlError turns yaml.v3's "line N: msg" into file:N: msg.
func yamlError(file string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		var errs []error
		for _, m := range te.Errors {
			errs = append(errs, lineError(file, m))
		}
		return errors.Join(errs...)
	}
	return lineError(file, strings.TrimPrefix(err.Error(), "yaml: "))
}

func lineError(file, msg string) error {
	msg = strings.TrimPrefix(msg, "yaml: ")
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return &Error{File: file, Line: n, Msg: strings.ReplaceAll(m[2], "lab.", "")}
	}
	return &Error{File: file, Msg: msg}
}

var durationKeys = map[string]bool{
	"duration": true, "warmup": true, "latency_bound": true,
	"latency": true, "jitter": true, "slow_latency": true,
}

func checkDurations(file string, n *yaml.Node) []error {
	var errs []error
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if durationKeys[k.Value] && v.Kind == yaml.ScalarNode {
				if _, err := time.ParseDuration(v.Value); err != nil {
					errs = append(errs, &Error{File: file, Line: v.Line, Msg: fmt.Sprintf("%s %q: want a duration such as 500ms or 2s", k.Value, v.Value)})
				}
			}
		}
	}
	for _, c := range n.Content {
		errs = append(errs, checkDurations(file, c)...)
	}
	return errs
}
