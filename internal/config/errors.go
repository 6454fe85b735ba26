package config

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is matched by every *Error with errors.Is.
var ErrInvalid = errors.New("invalid configuration")

// Problem is one thing wrong with a configuration.
type Problem struct {
	// Key names the setting as the user wrote it. It is the environment
	// variable when the value came from the environment, and the YAML path
	// (such as routes[1].topic) when it came from the file. A setting given
	// nowhere is named by its environment variable, if it has one.
	Key string
	// Line is the line of the value in the YAML file, 0 when the value did
	// not come from the file.
	Line int
	// Message states what is wrong and what is expected, such as
	// `must be a positive integer, got "abc"`. It never holds the value of
	// a secret.
	Message string
}

// String returns "KEY: message", with the file's line when known.
func (p Problem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s (line %d): %s", p.Key, p.Line, p.Message)
	}
	return p.Key + ": " + p.Message
}

// Error is what Load returns when the configuration is invalid. It lists
// every problem found. Values that do not parse come first, from the file
// and then from the environment. Values that parse but break a rule of
// their field follow, and then the problems that Validate reported.
type Error struct {
	// File is the YAML file that was read, "" when none was.
	File string
	// Problems lists every problem found, in the order above, each
	// once. It is never empty.
	Problems []Problem
}

// Error lists the problems one per line after a summary line.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(ErrInvalid.Error())
	if e.File != "" {
		fmt.Fprintf(&b, " (file %s and environment)", e.File)
	}
	switch len(e.Problems) {
	case 0:
		return b.String()
	case 1:
		b.WriteString(": ")
		b.WriteString(e.Problems[0].String())
		return b.String()
	}
	fmt.Fprintf(&b, ": %d problems", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n\t")
		b.WriteString(p.String())
	}
	return b.String()
}

// Is reports whether target is ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Problems collects the problems of one Load. A struct given to Load
// reports the problems that span several fields through its Validate
// method, naming each by the YAML path of the field concerned; Problems
// turns the path into the key the user wrote.
type Problems struct {
	fields  map[string]*leaf // by YAML path
	list    []Problem
	listed  map[Problem]bool // the problems in list, to drop a repeat
	paths   map[string]bool  // paths with a problem, for Has
	invalid map[string]bool  // paths whose value Load itself found invalid
	// envOnly makes Add keep only the problems of fields whose value came
	// from the environment, because the file that may set the others
	// could not be read.
	envOnly bool
}

func newProblems() *Problems {
	return &Problems{
		fields:  make(map[string]*leaf),
		listed:  make(map[Problem]bool),
		paths:   make(map[string]bool),
		invalid: make(map[string]bool),
	}
}

// Add records a problem with the setting at path, the YAML path of a field
// (batch_size, routes[0].subscription_type) or of a list (routes), with a
// message made from format and args. Every problem of a path is kept, in
// the order of the calls, so a Validate that ranges over a map must sort
// what it reports for the list to be the same on every run. Add records
// nothing when the same problem was recorded already. It also records
// nothing when Load found the field's own value invalid (a value that did
// not parse, or that broke a rule of its tags), so that a check on a value
// that was never set is not reported. The message must not contain a
// secret's value.
//
// When Load could not read the settings of the file, Add records only
// problems of a field whose value came from the environment.
func (p *Problems) Add(path, format string, args ...any) {
	if p.invalid[path] {
		return
	}
	l, known := p.fields[path]
	if p.envOnly && (!known || l.origin != originEnv) {
		return
	}
	key, line := path, 0
	if known {
		key, line = l.displayKey(), l.line
	}
	p.record(path, Problem{Key: key, Line: line, Message: fmt.Sprintf(format, args...)})
}

// Has reports whether a problem was recorded for path.
func (p *Problems) Has(path string) bool { return p.paths[path] }

// Len returns the number of problems recorded.
func (p *Problems) Len() int { return len(p.list) }

// add records a problem of a known field's own value.
func (p *Problems) add(l *leaf, message string) {
	p.invalid[l.path] = true
	p.record(l.path, Problem{Key: l.displayKey(), Line: l.line, Message: message})
}

// addAt records a problem found in the file at a path that names no
// field, such as an unknown key.
func (p *Problems) addAt(path string, line int, message string) {
	p.invalid[path] = true
	p.record(path, Problem{Key: path, Line: line, Message: message})
}

// record appends problem to the list unless it is there already.
func (p *Problems) record(path string, problem Problem) {
	p.paths[path] = true
	if p.listed[problem] {
		return
	}
	p.listed[problem] = true
	p.list = append(p.list, problem)
}
