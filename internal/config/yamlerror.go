package config

import (
	"regexp"
	"strconv"
	"strings"
)

// yamlLinePrefix matches the "line N: " that yaml.v3 puts before a syntax
// error. The library leaves it out when the error is on the first line,
// and for the errors that have no line: those of its reader and those
// found after parsing, such as an unknown alias.
var yamlLinePrefix = regexp.MustCompile(`^line ([0-9]+): `)

// lineNumbering is the numbering that yaml.v3 (v3.0.6) uses for the line
// of one kind of syntax error.
type lineNumbering uint8

const (
	// scannerLines count from 1. The line is that of the token, or the
	// first line of the quoted value or key being scanned.
	scannerLines lineNumbering = iota
	// parserLines count from 0, so line N of the message is line N+1 of
	// the file: the first line of the enclosing list or mapping, or the
	// line of the unexpected token.
	parserLines
	// readerLines mark the reader's errors, about bytes, which have no
	// line.
	readerLines
)

// yamlSyntaxError is the line numbering and the hint for one fixed
// message of yaml.v3.
type yamlSyntaxError struct {
	lines lineNumbering
	hint  string // advice to the file's author on what to check and fix
}

// yamlSyntaxErrors maps the syntax errors of yaml.v3 (v3.0.6) that a
// configuration file commonly has to a hint for its author. Each key is a
// fixed message of the library's scanner, parser or reader, with no text
// of the file in it.
var yamlSyntaxErrors = map[string]yamlSyntaxError{
	"mapping values are not allowed in this context": {scannerLines,
		"a value contains ': ', or a key is indented deeper than the keys before it; quote the value or fix the indentation"},
	"found character that cannot start any token": {scannerLines,
		"a value starts with a character that YAML reserves, such as @, ` or %, or a line is indented with a tab; " +
			"quote the value and indent with spaces"},
	"found a tab character that violates indentation": {scannerLines,
		"a line is indented with a tab; indent with spaces"},
	"found a tab character where an indentation space is expected": {scannerLines,
		"a line is indented with a tab; indent with spaces"},
	"found unknown escape character": {scannerLines,
		"a double-quoted value contains a backslash sequence that YAML does not define; " +
			"use single quotes, or write \\\\ for a backslash"},
	"found unexpected end of stream": {scannerLines,
		"a quoted value has no closing quote; add it"},
	"could not find expected ':'": {scannerLines,
		"a line is not a key: value pair; add the ':' after the key, or indent a value continued from the line before"},
	"did not find expected alphabetic or numeric character": {scannerLines,
		"a value starts with '&' or '*', which YAML reads as an anchor or an alias; quote the value"},
	"found unknown directive name": {scannerLines,
		"a line starts with '%', which YAML reads as a directive; quote the value or remove the line"},

	"did not find expected key": {parserLines,
		"a key is indented less or more than the keys beside it, or text follows the closing quote of a value; " +
			"fix the indentation or the quotes"},
	"did not find expected '-' indicator": {parserLines,
		"a list mixes items ('- ') with keys at the same indentation; fix the indentation"},
	"did not find expected node content": {parserLines,
		"a value is missing, or starts with a character that YAML reserves, such as ']' or '}'; quote the value"},
	"did not find expected ',' or ']'": {parserLines,
		"a list in brackets has no closing ']'; add it, or quote a value that starts with '['"},
	"did not find expected ',' or '}'": {parserLines,
		"a mapping in braces has no closing '}'; add it, or quote a value that starts with '{'"},
	"found undefined tag handle": {parserLines,
		"a value starts with '!', which YAML reads as a tag; quote the value"},
	"found duplicate %YAML directive": {parserLines,
		"the %YAML directive is given twice; remove one"},

	"control characters are not allowed": {readerLines, "the file contains a control character; remove it"},
	"invalid leading UTF-8 octet":        {readerLines, "the file is not valid UTF-8; save it as UTF-8"},
	"invalid trailing UTF-8 octet":       {readerLines, "the file is not valid UTF-8; save it as UTF-8"},
	"incomplete UTF-8 octet sequence":    {readerLines, "the file is not valid UTF-8; save it as UTF-8"},
	"invalid Unicode character":          {readerLines, "the file contains a character that YAML does not allow; remove it"},
}

// describeYAMLError returns the line of the file that a yaml.v3 parse
// error points to, 0 when it names none, and a message that names the
// kind of problem and how to fix it. The message never contains the
// parser's own words, because the parser quotes the file in some errors:
// an alias or anchor name, which is the secret itself when an unquoted
// password starts with '*'.
func describeYAMLError(err error) (line int, message string) {
	text := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := yamlLinePrefix.FindStringSubmatch(text); m != nil {
		line, _ = strconv.Atoi(m[1])
		text = text[len(m[0]):]
	}

	if known, ok := yamlSyntaxErrors[text]; ok {
		switch known.lines {
		case scannerLines:
			line = max(line, 1) // yaml.v3 leaves out line 1
		case parserLines:
			line++
		case readerLines:
			line = 0
		}
		return line, known.hint
	}

	if strings.HasPrefix(text, "unknown anchor ") {
		return line, "a value starts with '*', which YAML reads as an alias of an anchor (&) that the file does not define; " +
			"quote the value"
	}
	return line, "the parser's message is not shown because it can quote the file; check the quotes and the indentation"
}
