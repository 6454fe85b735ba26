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
	// Problems lists every problem found, in the order above. It is
	// never empty.
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
	fields map[string]*leaf // by YAML path
	list   []Problem
	seen   map[string]bool // paths with a problem already
}

func newProblems() *Problems {
	return &Problems{fields: make(map[string]*leaf), seen: make(map[string]bool)}
}

// Add records a problem with the setting at path, the YAML path of a field
// (batch_size, routes[0].subscription_type) or of a list (routes), with a
// message made from format and args. It records nothing when the field has
// a problem already, such as a value that did not parse, so that a check
// on a value that was never set is not reported twice. The message must
// not hold a secret's value.
func (p *Problems) Add(path, format string, args ...any) {
	if p.seen[path] {
		return
	}
	p.seen[path] = true
	key, line := path, 0
	if l, ok := p.fields[path]; ok {
		key, line = l.displayKey(), l.line
	}
	p.list = append(p.list, Problem{Key: key, Line: line, Message: fmt.Sprintf(format, args...)})
}

// Has reports whether a problem was recorded for path.
func (p *Problems) Has(path string) bool { return p.seen[path] }

// Len returns the number of problems recorded.
func (p *Problems) Len() int { return len(p.list) }

// add records a problem of a known field.
func (p *Problems) add(l *leaf, message string) {
	if p.seen[l.path] {
		return
	}
	p.seen[l.path] = true
	p.list = append(p.list, Problem{Key: l.displayKey(), Line: l.line, Message: message})
}

// addAt records a problem found in the file at a path that names no
// field, such as an unknown key.
func (p *Problems) addAt(path string, line int, message string) {
	if p.seen[path] {
		return
	}
	p.seen[path] = true
	p.list = append(p.list, Problem{Key: path, Line: line, Message: message})
}
