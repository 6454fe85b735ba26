package mongodb

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// maxNesting is the deepest nesting of documents and arrays that the
// converter accepts below the top-level document. MongoDB documents a limit
// of 100 levels; a deeper payload is invalid data whatever the server.
const maxNesting = 100

// BSON element types written by the converter.
const (
	typeDouble     byte = 0x01
	typeString     byte = 0x02
	typeDocument   byte = 0x03
	typeArray      byte = 0x04
	typeBinary     byte = 0x05
	typeUndefined  byte = 0x06
	typeObjectID   byte = 0x07
	typeBoolean    byte = 0x08
	typeDateTime   byte = 0x09
	typeNull       byte = 0x0A
	typeRegex      byte = 0x0B
	typeDBPointer  byte = 0x0C
	typeJavaScript byte = 0x0D
	typeSymbol     byte = 0x0E
	typeCodeScope  byte = 0x0F
	typeInt32      byte = 0x10
	typeTimestamp  byte = 0x11
	typeInt64      byte = 0x12
	typeDecimal128 byte = 0x13
	typeMinKey     byte = 0xFF
	typeMaxKey     byte = 0x7F
)

// syntaxError reports input that is not JSON. It never wraps the payload's
// text beyond a short excerpt of the token at fault.
type syntaxError struct {
	offset int
	msg    string
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("%s at byte %d", e.msg, e.offset)
}

// jsonConverter turns JSON and MongoDB Extended JSON (canonical, relaxed
// and the legacy forms that mongoexport and the Go driver read) into BSON
// in one pass, appending to out. It exists instead of bson.UnmarshalExtJSON
// for three reasons. That function turns integers beyond the int64 range
// into doubles, it ignores data after the first value, and it is more
// than ten times slower on the sample documents (compare
// BenchmarkConvertAccounts with BenchmarkDriverConvertAccounts), which
// matters on the write path.
//
// Types follow the Go driver's reading of Extended JSON, with one
// deliberate difference: a plain JSON integer becomes an int32 when it fits,
// an int64 when it fits, and a Decimal128 (exact up to 34 digits) beyond
// that, never a double. A number with a fraction or an exponent is a
// double.
//
// A converter is reused between payloads and is not safe for concurrent
// use.
type jsonConverter struct {
	in  []byte
	pos int
	out []byte

	// path holds the offsets in out of the keys of the elements being
	// converted, outermost first, so that an error can name its field.
	path []int
	// top holds the offsets in out of the top-level elements.
	top []int
	// scratch holds decoded strings of Extended JSON wrappers.
	scratch []byte
	// depth is the nesting depth of the document, array or wrapper
	// object being read: 0 for the top level. A wrapper's inner object,
	// such as the {"base64": ..., "subType": ...} of $binary, belongs to
	// the wrapper's level. Only enter raises depth, and every recursive
	// path of the converter passes through enter, so the call stack
	// stays within maxNesting levels whatever the input.
	depth int
}

// reset prepares c to convert in, appending to out.
func (c *jsonConverter) reset(in, out []byte) {
	c.in = in
	c.pos = 0
	c.out = out
	c.path = c.path[:0]
	c.top = c.top[:0]
	c.depth = 0
}

// skipSpace advances past JSON whitespace.
func (c *jsonConverter) skipSpace() {
	for c.pos < len(c.in) {
		switch c.in[c.pos] {
		case ' ', '\t', '\n', '\r':
			c.pos++
		default:
			return
		}
	}
}

// peek returns the byte at the current position, or 0 at the end.
func (c *jsonConverter) peek() byte {
	if c.pos < len(c.in) {
		return c.in[c.pos]
	}
	return 0
}

func (c *jsonConverter) syntax(format string, args ...any) error {
	return &syntaxError{offset: c.pos, msg: fmt.Sprintf(format, args...)}
}

// invalid returns a DocumentError for the field being converted.
func (c *jsonConverter) invalid(format string, args ...any) error {
	return &DocumentError{Field: c.fieldPath(), Reason: fmt.Sprintf(format, args...)}
}

// fieldPath returns the dotted path of the field being converted.
func (c *jsonConverter) fieldPath() string { return c.joinPath(c.path) }

// parentPath returns the dotted path of the document or array that holds
// the field being converted.
func (c *jsonConverter) parentPath() string { return c.joinPath(c.path[:len(c.path)-1]) }

func (c *jsonConverter) joinPath(path []int) string {
	var b strings.Builder
	for i, off := range path {
		if i > 0 {
			b.WriteByte('.')
		}
		end := off
		for end < len(c.out) && c.out[end] != 0 {
			end++
		}
		b.Write(c.out[off:end])
	}
	return b.String()
}

// convertObject converts the JSON object that makes up the whole input into
// a BSON document appended to out. The offsets of its top-level elements
// are left in c.top.
func (c *jsonConverter) convertObject() error {
	c.skipSpace()
	if c.peek() != '{' {
		return c.syntax("expected a JSON object")
	}
	if err := c.document(); err != nil {
		return err
	}
	return c.end()
}

// convertValue converts the single JSON value that makes up the whole input
// into a BSON element with the given key, appended to out.
func (c *jsonConverter) convertValue(key string) error {
	c.skipSpace()
	typePos := len(c.out)
	c.out = append(c.out, 0)
	keyPos := len(c.out)
	c.out = append(c.out, key...)
	c.out = append(c.out, 0)
	c.path = append(c.path, keyPos)
	if err := c.value(typePos); err != nil {
		return err
	}
	c.path = c.path[:len(c.path)-1]
	return c.end()
}

// end checks that nothing but whitespace follows the converted value.
func (c *jsonConverter) end() error {
	c.skipSpace()
	if c.pos != len(c.in) {
		return c.syntax("unexpected data after the JSON value")
	}
	return nil
}

// document converts the object at c.pos into an embedded BSON document at
// nesting depth c.depth (0 for the top level).
func (c *jsonConverter) document() error {
	start := len(c.out)
	c.out = append(c.out, 0, 0, 0, 0)

	c.pos++ // '{'
	c.skipSpace()
	if c.peek() == '}' {
		c.pos++
		return c.closeDocument(start)
	}

	for {
		if c.peek() != '"' {
			return c.syntax("expected a string for an object key")
		}
		typePos := len(c.out)
		if c.depth == 0 {
			c.top = append(c.top, typePos)
		}
		c.out = append(c.out, 0)
		keyPos := len(c.out)
		c.path = append(c.path, keyPos)
		if err := c.appendKey(); err != nil {
			return err
		}

		c.skipSpace()
		if c.peek() != ':' {
			return c.syntax("expected ':' after an object key")
		}
		c.pos++
		c.skipSpace()

		if err := c.value(typePos); err != nil {
			return err
		}
		c.path = c.path[:len(c.path)-1]

		c.skipSpace()
		switch c.peek() {
		case ',':
			c.pos++
			c.skipSpace()
		case '}':
			c.pos++
			return c.closeDocument(start)
		default:
			return c.syntax("expected ',' or '}' in an object")
		}
	}
}

// closeDocument terminates the document that starts at start and writes its
// length.
func (c *jsonConverter) closeDocument(start int) error {
	c.out = append(c.out, 0)
	n := len(c.out) - start
	if n > math.MaxInt32 {
		return c.invalid("document is larger than BSON allows")
	}
	binary.LittleEndian.PutUint32(c.out[start:], uint32(n))
	return nil
}

// array converts the array at c.pos into a BSON array.
func (c *jsonConverter) array() error {
	start := len(c.out)
	c.out = append(c.out, 0, 0, 0, 0)

	c.pos++ // '['
	c.skipSpace()
	if c.peek() == ']' {
		c.pos++
		return c.closeDocument(start)
	}

	for i := 0; ; i++ {
		typePos := len(c.out)
		c.out = append(c.out, 0)
		keyPos := len(c.out)
		c.out = strconv.AppendInt(c.out, int64(i), 10)
		c.out = append(c.out, 0)
		c.path = append(c.path, keyPos)

		if err := c.value(typePos); err != nil {
			return err
		}
		c.path = c.path[:len(c.path)-1]

		c.skipSpace()
		switch c.peek() {
		case ',':
			c.pos++
			c.skipSpace()
		case ']':
			c.pos++
			return c.closeDocument(start)
		default:
			return c.syntax("expected ',' or ']' in an array")
		}
	}
}

// value converts the value at c.pos. The element's type byte is at typePos
// in out and its key has been written; value sets the type and appends the
// value. c.depth is the nesting depth of the enclosing document, array or
// wrapper object.
func (c *jsonConverter) value(typePos int) error {
	switch ch := c.peek(); {
	case ch == '{':
		if err := c.enter(); err != nil {
			return err
		}
		ok, err := c.wrapper(typePos)
		if !ok && err == nil {
			c.out[typePos] = typeDocument
			err = c.document()
		}
		c.leave()
		return err
	case ch == '[':
		if err := c.enter(); err != nil {
			return err
		}
		c.out[typePos] = typeArray
		err := c.array()
		c.leave()
		return err
	case ch == '"':
		c.out[typePos] = typeString
		return c.appendStringValue()
	case ch == 't':
		if err := c.literal("true"); err != nil {
			return err
		}
		c.out[typePos] = typeBoolean
		c.out = append(c.out, 1)
		return nil
	case ch == 'f':
		if err := c.literal("false"); err != nil {
			return err
		}
		c.out[typePos] = typeBoolean
		c.out = append(c.out, 0)
		return nil
	case ch == 'n':
		if err := c.literal("null"); err != nil {
			return err
		}
		c.out[typePos] = typeNull
		return nil
	case ch == '-' || (ch >= '0' && ch <= '9'):
		return c.number(typePos)
	case ch == 0 && c.pos >= len(c.in):
		return c.syntax("unexpected end of input")
	default:
		return c.syntax("unexpected character %q", ch)
	}
}

// enter steps one level down into a document, array or wrapper object,
// rejecting a level deeper than maxNesting. Each call is paired with a
// call of leave once the value is read.
func (c *jsonConverter) enter() error {
	if c.depth >= maxNesting {
		return c.invalid("nested deeper than %d levels", maxNesting)
	}
	c.depth++
	return nil
}

// leave steps back up the level that enter stepped down.
func (c *jsonConverter) leave() { c.depth-- }

func (c *jsonConverter) literal(word string) error {
	if len(c.in)-c.pos < len(word) || string(c.in[c.pos:c.pos+len(word)]) != word {
		return c.syntax("invalid literal")
	}
	c.pos += len(word)
	return nil
}

// number converts the JSON number at c.pos.
func (c *jsonConverter) number(typePos int) error {
	text, isFloat, err := c.scanNumber()
	if err != nil {
		return err
	}

	if isFloat {
		f, err := parseFloat(text)
		if err != nil {
			return c.invalid("number %.40s is outside the range of a double", text)
		}
		c.out[typePos] = typeDouble
		c.out = binary.LittleEndian.AppendUint64(c.out, math.Float64bits(f))
		return nil
	}

	if v, ok := parseInt64(text); ok {
		if v >= math.MinInt32 && v <= math.MaxInt32 {
			c.out[typePos] = typeInt32
			c.out = binary.LittleEndian.AppendUint32(c.out, uint32(int32(v)))
			return nil
		}
		c.out[typePos] = typeInt64
		c.out = binary.LittleEndian.AppendUint64(c.out, uint64(v))
		return nil
	}

	// The integer does not fit an int64. Decimal128 holds it exactly up to
	// 34 digits; a double would silently round it.
	digits := len(text)
	if text[0] == '-' {
		digits--
	}
	if digits > 34 {
		return c.invalid("integer of %d digits does not fit an int64 or a Decimal128", digits)
	}
	d, err := bson.ParseDecimal128(string(text))
	if err != nil {
		return c.invalid("integer %s does not fit an int64 or a Decimal128", text)
	}
	high, low := d.GetBytes()
	c.out[typePos] = typeDecimal128
	c.out = binary.LittleEndian.AppendUint64(c.out, low)
	c.out = binary.LittleEndian.AppendUint64(c.out, high)
	return nil
}

// scanNumber reads a number following the JSON grammar and returns its
// text and whether it has a fraction or an exponent.
func (c *jsonConverter) scanNumber() (text []byte, isFloat bool, err error) {
	start := c.pos
	if c.peek() == '-' {
		c.pos++
	}

	switch ch := c.peek(); {
	case ch == '0':
		c.pos++
	case ch >= '1' && ch <= '9':
		for c.pos < len(c.in) && isDigit(c.in[c.pos]) {
			c.pos++
		}
	default:
		return nil, false, c.syntax("invalid number")
	}

	if c.peek() == '.' {
		c.pos++
		if !isDigit(c.peek()) {
			return nil, false, c.syntax("invalid number: no digit after the decimal point")
		}
		for c.pos < len(c.in) && isDigit(c.in[c.pos]) {
			c.pos++
		}
		isFloat = true
	}

	if ch := c.peek(); ch == 'e' || ch == 'E' {
		c.pos++
		if ch := c.peek(); ch == '+' || ch == '-' {
			c.pos++
		}
		if !isDigit(c.peek()) {
			return nil, false, c.syntax("invalid number: no digit in the exponent")
		}
		for c.pos < len(c.in) && isDigit(c.in[c.pos]) {
			c.pos++
		}
		isFloat = true
	}

	return c.in[start:c.pos], isFloat, nil
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// parseInt64 parses a JSON integer, reporting false when it does not fit an
// int64.
func parseInt64(text []byte) (int64, bool) {
	neg := text[0] == '-'
	digits := text
	if neg {
		digits = text[1:]
	}
	if len(digits) > 19 {
		return 0, false
	}

	var u uint64
	for _, d := range digits {
		u = u*10 + uint64(d-'0')
	}
	// Nineteen digits always fit a uint64, whose maximum has twenty, so
	// the range checks below are exact.
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

// parseFloat parses a number already checked against the JSON grammar.
func parseFloat(text []byte) (float64, error) {
	// The string shares the payload's memory and does not outlive this
	// call: strconv keeps it only in the error, which is dropped.
	return strconv.ParseFloat(unsafe.String(unsafe.SliceData(text), len(text)), 64)
}

// appendKey decodes the JSON string at c.pos and appends it as a BSON key
// (a NUL-terminated string), rejecting a key that contains a NUL.
func (c *jsonConverter) appendKey() error {
	start := len(c.out)
	if err := c.appendString(); err != nil {
		return err
	}
	if bytes.IndexByte(c.out[start:], 0) >= 0 {
		// fieldPath stops at the NUL, so name the field from its parts.
		field := string(c.out[start:])
		if parent := c.parentPath(); parent != "" {
			field = parent + "." + field
		}
		return &DocumentError{Field: field, Reason: "field name contains a NUL character, which BSON cannot store"}
	}
	c.out = append(c.out, 0)
	return nil
}

// appendStringValue decodes the JSON string at c.pos and appends it as a
// BSON string value.
func (c *jsonConverter) appendStringValue() error {
	lenPos := len(c.out)
	c.out = append(c.out, 0, 0, 0, 0)
	if err := c.appendString(); err != nil {
		return err
	}
	c.out = append(c.out, 0)
	binary.LittleEndian.PutUint32(c.out[lenPos:], uint32(len(c.out)-lenPos-4))
	return nil
}

// appendString decodes the JSON string at c.pos (at its opening quote) and
// appends its UTF-8 bytes to out. Invalid UTF-8 makes the input not JSON. A
// lone UTF-16 surrogate in an escape becomes U+FFFD, as in the Go driver.
func (c *jsonConverter) appendString() error {
	c.pos++ // '"'
	for {
		// Copy the run of plain characters in one step.
		runStart := c.pos
		for c.pos < len(c.in) {
			b := c.in[c.pos]
			if b == '"' || b == '\\' || b < 0x20 || b >= utf8.RuneSelf {
				break
			}
			c.pos++
		}
		c.out = append(c.out, c.in[runStart:c.pos]...)

		if c.pos >= len(c.in) {
			return c.syntax("unterminated string")
		}
		switch b := c.in[c.pos]; {
		case b == '"':
			c.pos++
			return nil
		case b == '\\':
			if err := c.appendEscape(); err != nil {
				return err
			}
		case b < 0x20:
			return c.syntax("control character %#02x in a string", b)
		default:
			r, size := utf8.DecodeRune(c.in[c.pos:])
			if r == utf8.RuneError && size == 1 {
				return c.syntax("invalid UTF-8 in a string")
			}
			c.out = append(c.out, c.in[c.pos:c.pos+size]...)
			c.pos += size
		}
	}
}

// appendEscape decodes the escape sequence at c.pos.
func (c *jsonConverter) appendEscape() error {
	if c.pos+1 >= len(c.in) {
		return c.syntax("unterminated escape sequence")
	}
	c.pos += 2
	switch c.in[c.pos-1] {
	case '"':
		c.out = append(c.out, '"')
	case '\\':
		c.out = append(c.out, '\\')
	case '/':
		c.out = append(c.out, '/')
	case 'b':
		c.out = append(c.out, '\b')
	case 'f':
		c.out = append(c.out, '\f')
	case 'n':
		c.out = append(c.out, '\n')
	case 'r':
		c.out = append(c.out, '\r')
	case 't':
		c.out = append(c.out, '\t')
	case 'u':
		r, err := c.hex4()
		if err != nil {
			return err
		}
		if utf16.IsSurrogate(r) {
			r = c.lowSurrogate(r)
		}
		c.out = utf8.AppendRune(c.out, r)
	default:
		c.pos--
		return c.syntax("invalid escape sequence")
	}
	return nil
}

// lowSurrogate completes the high surrogate r with a following \uXXXX low
// surrogate, or returns U+FFFD and leaves the input where it was.
func (c *jsonConverter) lowSurrogate(r rune) rune {
	if r >= 0xDC00 || c.pos+6 > len(c.in) || c.in[c.pos] != '\\' || c.in[c.pos+1] != 'u' {
		return utf8.RuneError
	}
	save := c.pos
	c.pos += 2
	low, err := c.hex4()
	if err != nil || low < 0xDC00 || low > 0xDFFF {
		c.pos = save
		return utf8.RuneError
	}
	return utf16.DecodeRune(r, low)
}

// hex4 reads the four hex digits of a \u escape.
func (c *jsonConverter) hex4() (rune, error) {
	if c.pos+4 > len(c.in) {
		return 0, c.syntax("incomplete \\u escape")
	}
	var r rune
	for _, b := range c.in[c.pos : c.pos+4] {
		var d byte
		switch {
		case b >= '0' && b <= '9':
			d = b - '0'
		case b >= 'a' && b <= 'f':
			d = b - 'a' + 10
		case b >= 'A' && b <= 'F':
			d = b - 'A' + 10
		default:
			return 0, c.syntax("invalid \\u escape")
		}
		r = r<<4 | rune(d)
	}
	c.pos += 4
	return r, nil
}

// readString decodes the JSON string at c.pos into c.scratch and returns
// it; the result is valid until the next call.
func (c *jsonConverter) readString() ([]byte, error) {
	if c.peek() != '"' {
		return nil, c.syntax("expected a string")
	}
	out := c.out
	c.out = c.scratch[:0]
	err := c.appendString()
	c.scratch, c.out = c.out, out
	return c.scratch, err
}
