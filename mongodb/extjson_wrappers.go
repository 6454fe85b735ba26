package mongodb

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"math"
	"slices"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// wrapperKind is the Extended JSON type wrapper named by the first key of an
// object, such as {"$oid": "..."}.
type wrapperKind int

const (
	notWrapper wrapperKind = iota
	wrapObjectID
	wrapSymbol
	wrapInt32
	wrapInt64
	wrapDouble
	wrapDecimal128
	wrapBinary
	wrapUUID
	wrapCode
	wrapScope
	wrapTimestamp
	wrapRegex
	wrapDBPointer
	wrapDate
	wrapMinKey
	wrapMaxKey
	wrapUndefined
)

// wrapperKindOf returns the wrapper named by key. Any other key, including
// other "$" keys such as "$ref" of a DBRef or legacy "$regex", starts an
// ordinary document, as in the Go driver.
func wrapperKindOf(key []byte) wrapperKind {
	switch string(key) {
	case "$oid":
		return wrapObjectID
	case "$symbol":
		return wrapSymbol
	case "$numberInt":
		return wrapInt32
	case "$numberLong":
		return wrapInt64
	case "$numberDouble":
		return wrapDouble
	case "$numberDecimal":
		return wrapDecimal128
	case "$binary":
		return wrapBinary
	case "$uuid":
		return wrapUUID
	case "$code":
		return wrapCode
	case "$scope":
		return wrapScope
	case "$timestamp":
		return wrapTimestamp
	case "$regularExpression":
		return wrapRegex
	case "$dbPointer":
		return wrapDBPointer
	case "$date":
		return wrapDate
	case "$minKey":
		return wrapMinKey
	case "$maxKey":
		return wrapMaxKey
	case "$undefined":
		return wrapUndefined
	}
	return notWrapper
}

// wrapper converts the object at c.pos when it is an Extended JSON type
// wrapper and reports whether it was one. When it was not, c.pos is left at
// the object's opening brace.
func (c *jsonConverter) wrapper(typePos int) (bool, error) {
	save := c.pos
	c.pos++ // '{'
	c.skipSpace()
	if c.peek() != '"' {
		c.pos = save
		return false, nil
	}
	key, err := c.readString()
	if err != nil {
		return false, err
	}
	kind := wrapperKindOf(key)
	if kind == notWrapper {
		c.pos = save
		return false, nil
	}

	if err := c.colon(); err != nil {
		return true, err
	}
	return true, c.wrapperValue(kind, typePos)
}

// colon consumes the ':' after a key.
func (c *jsonConverter) colon() error {
	c.skipSpace()
	if c.peek() != ':' {
		return c.syntax("expected ':' after an object key")
	}
	c.pos++
	c.skipSpace()
	return nil
}

// closeWrapper consumes the '}' that ends a wrapper.
func (c *jsonConverter) closeWrapper(name string) error {
	c.skipSpace()
	switch c.peek() {
	case '}':
		c.pos++
		return nil
	case ',':
		return c.invalid("extended JSON %s has more than one key", name)
	default:
		return c.syntax("expected '}' after the value of %s", name)
	}
}

func (c *jsonConverter) wrapperValue(kind wrapperKind, typePos int) error {
	switch kind {
	case wrapObjectID:
		return c.objectID(typePos)
	case wrapSymbol:
		s, err := c.wrappedString("$symbol")
		if err != nil {
			return err
		}
		c.out[typePos] = typeSymbol
		c.out = appendBSONString(c.out, s)
		return c.closeWrapper("$symbol")
	case wrapInt32:
		return c.int32Wrapper(typePos)
	case wrapInt64:
		return c.int64Wrapper(typePos)
	case wrapDouble:
		return c.doubleWrapper(typePos)
	case wrapDecimal128:
		return c.decimalWrapper(typePos)
	case wrapBinary:
		return c.binaryWrapper(typePos)
	case wrapUUID:
		return c.uuidWrapper(typePos)
	case wrapCode:
		return c.codeWrapper(typePos)
	case wrapScope:
		return c.invalid("extended JSON code with $scope must start with $code")
	case wrapTimestamp:
		return c.timestampWrapper(typePos)
	case wrapRegex:
		return c.regexWrapper(typePos)
	case wrapDBPointer:
		return c.dbPointerWrapper(typePos)
	case wrapDate:
		return c.dateWrapper(typePos)
	case wrapMinKey, wrapMaxKey:
		return c.minMaxKeyWrapper(kind, typePos)
	case wrapUndefined:
		if err := c.literal("true"); err != nil {
			return c.invalid("extended JSON $undefined must be true")
		}
		c.out[typePos] = typeUndefined
		return c.closeWrapper("$undefined")
	}
	return c.invalid("unknown extended JSON wrapper")
}

// wrappedString reads the string value of a wrapper.
func (c *jsonConverter) wrappedString(name string) ([]byte, error) {
	if c.peek() != '"' {
		if err := c.skipValue(); err != nil {
			return nil, err
		}
		return nil, c.invalid("extended JSON %s must be a string", name)
	}
	return c.readString()
}

func (c *jsonConverter) objectID(typePos int) error {
	s, err := c.wrappedString("$oid")
	if err != nil {
		return err
	}
	oid, err := bson.ObjectIDFromHex(string(s))
	if err != nil {
		return c.invalid("extended JSON $oid %.40q is not 24 hex digits", s)
	}
	c.out[typePos] = typeObjectID
	c.out = append(c.out, oid[:]...)
	return c.closeWrapper("$oid")
}

func (c *jsonConverter) int32Wrapper(typePos int) error {
	v, err := c.wrappedInteger("$numberInt", true)
	if err != nil {
		return err
	}
	if v < math.MinInt32 || v > math.MaxInt32 {
		return c.invalid("extended JSON $numberInt %d is outside the int32 range", v)
	}
	c.out[typePos] = typeInt32
	c.out = binary.LittleEndian.AppendUint32(c.out, uint32(int32(v)))
	return c.closeWrapper("$numberInt")
}

func (c *jsonConverter) int64Wrapper(typePos int) error {
	v, err := c.wrappedInteger("$numberLong", true)
	if err != nil {
		return err
	}
	c.out[typePos] = typeInt64
	c.out = binary.LittleEndian.AppendUint64(c.out, uint64(v))
	return c.closeWrapper("$numberLong")
}

// wrappedInteger reads an integer given as a decimal string or, when
// numberAllowed, as a JSON integer.
func (c *jsonConverter) wrappedInteger(name string, numberAllowed bool) (int64, error) {
	if c.peek() == '"' {
		s, err := c.readString()
		if err != nil {
			return 0, err
		}
		v, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil {
			return 0, c.invalid("extended JSON %s %.40q is not a 64-bit integer", name, s)
		}
		return v, nil
	}
	if !numberAllowed {
		if err := c.skipValue(); err != nil {
			return 0, err
		}
		return 0, c.invalid("extended JSON %s must be a string", name)
	}
	return c.jsonInteger(name)
}

// jsonInteger reads a JSON number that must be an integer in the int64
// range.
func (c *jsonConverter) jsonInteger(name string) (int64, error) {
	ch := c.peek()
	if ch != '-' && !isDigit(ch) {
		if err := c.skipValue(); err != nil {
			return 0, err
		}
		return 0, c.invalid("extended JSON %s must be an integer", name)
	}
	text, isFloat, err := c.scanNumber()
	if err != nil {
		return 0, err
	}
	v, ok := parseInt64(text)
	if isFloat || !ok {
		return 0, c.invalid("extended JSON %s %.40s is not a 64-bit integer", name, text)
	}
	return v, nil
}

func (c *jsonConverter) doubleWrapper(typePos int) error {
	var f float64
	switch ch := c.peek(); {
	case ch == '"':
		s, err := c.readString()
		if err != nil {
			return err
		}
		switch string(s) {
		case "Infinity":
			f = math.Inf(1)
		case "-Infinity":
			f = math.Inf(-1)
		case "NaN":
			f = math.NaN()
		default:
			f, err = strconv.ParseFloat(string(s), 64)
			if err != nil {
				return c.invalid("extended JSON $numberDouble %.40q is not a double", s)
			}
		}
	case ch == '-' || isDigit(ch):
		text, _, err := c.scanNumber()
		if err != nil {
			return err
		}
		f, err = parseFloat(text)
		if err != nil {
			return c.invalid("extended JSON $numberDouble %.40s is not a double", text)
		}
	default:
		if err := c.skipValue(); err != nil {
			return err
		}
		return c.invalid("extended JSON $numberDouble must be a string")
	}
	c.out[typePos] = typeDouble
	c.out = binary.LittleEndian.AppendUint64(c.out, math.Float64bits(f))
	return c.closeWrapper("$numberDouble")
}

func (c *jsonConverter) decimalWrapper(typePos int) error {
	s, err := c.wrappedString("$numberDecimal")
	if err != nil {
		return err
	}
	d, err := bson.ParseDecimal128(string(s))
	if err != nil {
		return c.invalid("extended JSON $numberDecimal %.40q is not a Decimal128", s)
	}
	high, low := d.GetBytes()
	c.out[typePos] = typeDecimal128
	c.out = binary.LittleEndian.AppendUint64(c.out, low)
	c.out = binary.LittleEndian.AppendUint64(c.out, high)
	return c.closeWrapper("$numberDecimal")
}

// binaryWrapper reads {"$binary": {"base64": ..., "subType": ...}} or the
// legacy {"$binary": "...", "$type": "..."}.
func (c *jsonConverter) binaryWrapper(typePos int) error {
	var data []byte
	var subtype byte

	switch c.peek() {
	case '{':
		var haveData, haveSubtype bool
		err := c.members("$binary", func(key []byte) error {
			switch string(key) {
			case "base64":
				if haveData {
					return c.invalid("extended JSON $binary has base64 twice")
				}
				haveData = true
				s, err := c.wrappedString("$binary base64")
				if err != nil {
					return err
				}
				if data, err = base64.StdEncoding.DecodeString(string(s)); err != nil {
					return c.invalid("extended JSON $binary base64 is not valid base64")
				}
				return nil
			case "subType":
				if haveSubtype {
					return c.invalid("extended JSON $binary has subType twice")
				}
				haveSubtype = true
				var err error
				subtype, err = c.subtype("$binary subType")
				return err
			default:
				return c.invalid("extended JSON $binary has an unknown key %.40q", key)
			}
		})
		if err != nil {
			return err
		}
		if !haveData || !haveSubtype {
			return c.invalid("extended JSON $binary needs base64 and subType")
		}
	case '"':
		s, err := c.readString()
		if err != nil {
			return err
		}
		if data, err = base64.StdEncoding.DecodeString(string(s)); err != nil {
			return c.invalid("extended JSON $binary is not valid base64")
		}
		c.skipSpace()
		if c.peek() != ',' {
			return c.invalid("legacy extended JSON $binary needs a $type")
		}
		c.pos++
		c.skipSpace()
		key, err := c.readString()
		if err != nil {
			return err
		}
		if string(key) != "$type" {
			return c.invalid("legacy extended JSON $binary needs a $type")
		}
		if err := c.colon(); err != nil {
			return err
		}
		if subtype, err = c.subtype("$binary $type"); err != nil {
			return err
		}
	default:
		if err := c.skipValue(); err != nil {
			return err
		}
		return c.invalid("extended JSON $binary must be an object")
	}

	c.out[typePos] = typeBinary
	c.out = appendBinary(c.out, subtype, data)
	return c.closeWrapper("$binary")
}

// subtype reads a binary subtype given as one or two hex digits.
func (c *jsonConverter) subtype(name string) (byte, error) {
	s, err := c.wrappedString(name)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(string(s), 16, 8)
	if err != nil {
		return 0, c.invalid("extended JSON %s %.40q is not a hex byte", name, s)
	}
	return byte(v), nil
}

// uuidWrapper reads {"$uuid": "8-4-4-4-12 hex digits"} as binary subtype 4.
func (c *jsonConverter) uuidWrapper(typePos int) error {
	s, err := c.wrappedString("$uuid")
	if err != nil {
		return err
	}
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return c.invalid("extended JSON $uuid %.40q is not in the 8-4-4-4-12 form", s)
	}
	var hexDigits [32]byte
	n := 0
	for i, b := range s {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			continue
		}
		hexDigits[n] = b
		n++
	}
	var uuid [16]byte
	if _, err := hex.Decode(uuid[:], hexDigits[:]); err != nil {
		return c.invalid("extended JSON $uuid %.40q has a character that is not a hex digit", s)
	}
	c.out[typePos] = typeBinary
	c.out = appendBinary(c.out, 4, uuid[:])
	return c.closeWrapper("$uuid")
}

// codeWrapper reads {"$code": "..."} or {"$code": "...", "$scope": {...}}.
func (c *jsonConverter) codeWrapper(typePos int) error {
	s, err := c.wrappedString("$code")
	if err != nil {
		return err
	}

	c.skipSpace()
	if c.peek() != ',' {
		c.out[typePos] = typeJavaScript
		c.out = appendBSONString(c.out, s)
		return c.closeWrapper("$code")
	}

	start := len(c.out)
	c.out = append(c.out, 0, 0, 0, 0)
	c.out = appendBSONString(c.out, s)

	c.pos++
	c.skipSpace()
	key, err := c.readString()
	if err != nil {
		return err
	}
	if string(key) != "$scope" {
		return c.invalid("extended JSON $code has an unknown key %.40q", key)
	}
	if err := c.colon(); err != nil {
		return err
	}
	if c.peek() != '{' {
		if err := c.skipValue(); err != nil {
			return err
		}
		return c.invalid("extended JSON $scope must be an object")
	}
	// The scope is an ordinary document one level below the wrapper.
	if err := c.enter(); err != nil {
		return err
	}
	if err := c.document(); err != nil {
		return err
	}
	c.leave()
	binary.LittleEndian.PutUint32(c.out[start:], uint32(len(c.out)-start))
	c.out[typePos] = typeCodeScope
	return c.closeWrapper("$code")
}

func (c *jsonConverter) timestampWrapper(typePos int) error {
	if c.peek() != '{' {
		if err := c.skipValue(); err != nil {
			return err
		}
		return c.invalid("extended JSON $timestamp must be an object")
	}
	var t, i uint32
	var haveT, haveI bool
	err := c.members("$timestamp", func(keyBytes []byte) error {
		key := string(keyBytes)
		var dst *uint32
		switch key {
		case "t":
			if haveT {
				return c.invalid("extended JSON $timestamp has t twice")
			}
			haveT, dst = true, &t
		case "i":
			if haveI {
				return c.invalid("extended JSON $timestamp has i twice")
			}
			haveI, dst = true, &i
		default:
			return c.invalid("extended JSON $timestamp has an unknown key %.40q", key)
		}
		v, err := c.jsonInteger("$timestamp " + key)
		if err != nil {
			return err
		}
		if v < 0 || v > math.MaxUint32 {
			return c.invalid("extended JSON $timestamp %s %d is outside the uint32 range", key, v)
		}
		*dst = uint32(v)
		return nil
	})
	if err != nil {
		return err
	}
	if !haveT || !haveI {
		return c.invalid("extended JSON $timestamp needs t and i")
	}
	c.out[typePos] = typeTimestamp
	c.out = binary.LittleEndian.AppendUint32(c.out, i)
	c.out = binary.LittleEndian.AppendUint32(c.out, t)
	return c.closeWrapper("$timestamp")
}

func (c *jsonConverter) regexWrapper(typePos int) error {
	if c.peek() != '{' {
		if err := c.skipValue(); err != nil {
			return err
		}
		return c.invalid("extended JSON $regularExpression must be an object")
	}
	var pattern, options []byte
	var havePattern, haveOptions bool
	err := c.members("$regularExpression", func(keyBytes []byte) error {
		key := string(keyBytes)
		var dst *[]byte
		switch key {
		case "pattern":
			if havePattern {
				return c.invalid("extended JSON $regularExpression has pattern twice")
			}
			havePattern, dst = true, &pattern
		case "options":
			if haveOptions {
				return c.invalid("extended JSON $regularExpression has options twice")
			}
			haveOptions, dst = true, &options
		default:
			return c.invalid("extended JSON $regularExpression has an unknown key %.40q", key)
		}
		s, err := c.wrappedString("$regularExpression " + key)
		if err != nil {
			return err
		}
		for _, b := range s {
			if b == 0 {
				return c.invalid("extended JSON $regularExpression %s contains a NUL character", key)
			}
		}
		*dst = append([]byte(nil), s...)
		return nil
	})
	if err != nil {
		return err
	}
	if !havePattern || !haveOptions {
		return c.invalid("extended JSON $regularExpression needs pattern and options")
	}
	// BSON stores regular expression options in alphabetical order.
	slices.Sort(options)
	c.out[typePos] = typeRegex
	c.out = append(c.out, pattern...)
	c.out = append(c.out, 0)
	c.out = append(c.out, options...)
	c.out = append(c.out, 0)
	return c.closeWrapper("$regularExpression")
}

func (c *jsonConverter) dbPointerWrapper(typePos int) error {
	if c.peek() != '{' {
		if err := c.skipValue(); err != nil {
			return err
		}
		return c.invalid("extended JSON $dbPointer must be an object")
	}
	var ns []byte
	var oid bson.ObjectID
	var haveRef, haveID bool
	err := c.members("$dbPointer", func(key []byte) error {
		switch string(key) {
		case "$ref":
			if haveRef {
				return c.invalid("extended JSON $dbPointer has $ref twice")
			}
			haveRef = true
			s, err := c.wrappedString("$dbPointer $ref")
			if err != nil {
				return err
			}
			ns = append([]byte(nil), s...)
			return nil
		case "$id":
			if haveID {
				return c.invalid("extended JSON $dbPointer has $id twice")
			}
			haveID = true
			// The id must be an {"$oid": ...} wrapper: convert it into a
			// throwaway element and take its 12 bytes.
			mark := len(c.out)
			c.out = append(c.out, 0)
			if c.peek() != '{' {
				return c.invalid("extended JSON $dbPointer $id must be an ObjectId")
			}
			// The id may be any wrapper, even another $dbPointer, so it
			// counts as a level like every other nested object.
			if err := c.enter(); err != nil {
				return err
			}
			ok, err := c.wrapper(mark)
			if err != nil {
				return err
			}
			c.leave()
			if !ok || c.out[mark] != typeObjectID {
				return c.invalid("extended JSON $dbPointer $id must be an ObjectId")
			}
			copy(oid[:], c.out[mark+1:])
			c.out = c.out[:mark]
			return nil
		default:
			return c.invalid("extended JSON $dbPointer has an unknown key %.40q", key)
		}
	})
	if err != nil {
		return err
	}
	if !haveRef || !haveID {
		return c.invalid("extended JSON $dbPointer needs $ref and $id")
	}
	c.out[typePos] = typeDBPointer
	c.out = appendBSONString(c.out, ns)
	c.out = append(c.out, oid[:]...)
	return c.closeWrapper("$dbPointer")
}

// isoDateLayouts are the date forms of relaxed Extended JSON: RFC 3339 with
// optional fractional seconds, and the same with a colon-less zone offset.
var isoDateLayouts = [...]string{"2006-01-02T15:04:05.999Z07:00", "2006-01-02T15:04:05.999Z0700"}

// dateWrapper reads {"$date": {"$numberLong": "ms"}}, {"$date": "ISO-8601"}
// or {"$date": ms}.
func (c *jsonConverter) dateWrapper(typePos int) error {
	var ms int64
	switch ch := c.peek(); {
	case ch == '{':
		var have bool
		err := c.members("$date", func(key []byte) error {
			if string(key) != "$numberLong" || have {
				return c.invalid("extended JSON $date object must hold one $numberLong")
			}
			have = true
			v, err := c.wrappedInteger("$date $numberLong", false)
			ms = v
			return err
		})
		if err != nil {
			return err
		}
		if !have {
			return c.invalid("extended JSON $date object must hold one $numberLong")
		}
	case ch == '"':
		s, err := c.readString()
		if err != nil {
			return err
		}
		var t time.Time
		for _, layout := range isoDateLayouts {
			if t, err = time.Parse(layout, string(s)); err == nil {
				break
			}
		}
		if err != nil {
			return c.invalid("extended JSON $date %.40q is not an ISO-8601 date", s)
		}
		ms = t.Unix()*1e3 + int64(t.Nanosecond())/1e6
	default:
		v, err := c.jsonInteger("$date")
		if err != nil {
			return err
		}
		ms = v
	}
	c.out[typePos] = typeDateTime
	c.out = binary.LittleEndian.AppendUint64(c.out, uint64(ms))
	return c.closeWrapper("$date")
}

func (c *jsonConverter) minMaxKeyWrapper(kind wrapperKind, typePos int) error {
	name, typ := "$minKey", typeMinKey
	if kind == wrapMaxKey {
		name, typ = "$maxKey", typeMaxKey
	}
	v, err := c.jsonInteger(name)
	if err != nil {
		return err
	}
	if v != 1 {
		return c.invalid("extended JSON %s must be 1", name)
	}
	c.out[typePos] = typ
	return c.closeWrapper(name)
}

// members walks the members of the object at c.pos, calling member with
// each key (valid until the next string is read) positioned at its value,
// which member must consume.
func (c *jsonConverter) members(name string, member func(key []byte) error) error {
	c.pos++ // '{'
	c.skipSpace()
	if c.peek() == '}' {
		c.pos++
		return nil
	}
	for {
		key, err := c.readString()
		if err != nil {
			return err
		}
		if err := c.colon(); err != nil {
			return err
		}
		if err := member(key); err != nil {
			return err
		}
		c.skipSpace()
		switch c.peek() {
		case ',':
			c.pos++
			c.skipSpace()
		case '}':
			c.pos++
			return nil
		default:
			return c.syntax("expected ',' or '}' in extended JSON %s", name)
		}
	}
}

// skipValue checks and skips the JSON value at c.pos without converting
// it, so that an error about its type comes after its syntax was checked.
// The value lies inside a wrapper, so its levels count from the wrapper's.
func (c *jsonConverter) skipValue() error {
	mark := len(c.out)
	c.out = append(c.out, 0)
	path := len(c.path)
	err := c.value(mark)
	c.out = c.out[:mark]
	c.path = c.path[:path]
	return err
}

// appendBSONString appends s as a BSON string: length, bytes, NUL.
func appendBSONString[T string | []byte](dst []byte, s T) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(s)+1))
	dst = append(dst, s...)
	return append(dst, 0)
}

// appendBinary appends a BSON binary value. The old binary subtype 2 holds
// its own length again inside the data, as the BSON specification defines.
func appendBinary(dst []byte, subtype byte, data []byte) []byte {
	if subtype == 2 {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(data)+4))
		dst = append(dst, subtype)
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(data)))
		return append(dst, data...)
	}
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(data)))
	dst = append(dst, subtype)
	return append(dst, data...)
}
