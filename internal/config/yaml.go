package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// readFile reads the YAML file at path into v, recording every problem.
// It returns false when the file's settings could not be read at all: the
// file cannot be read, is not valid YAML, contains more than one document, or
// is not a mapping. Then no setting of the file was applied.
func (ld *loader) readFile(path string, v reflect.Value, s *structSpec) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		msg := "cannot be read"
		switch {
		case errors.Is(err, fs.ErrNotExist):
			msg = "does not exist"
		case errors.Is(err, fs.ErrPermission):
			msg = "cannot be read: permission denied"
		}
		ld.probs.addAt(path, 0, msg)
		return false
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return true
	}

	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) { // only comments or document markers
			return true
		}
		line, message := describeYAMLError(err)
		ld.probs.addAt(path, line, "is not valid YAML: "+message)
		return false
	}
	// A second document would be ignored by a plain decode, and with it
	// whatever settings or mistakes it holds: refuse it.
	// An empty document, as after a closing '---', is fine.
	for {
		var next yaml.Node
		err := dec.Decode(&next)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			line, message := describeYAMLError(err)
			ld.probs.addAt(path, line, "is not valid YAML: "+message)
			return false
		}
		if len(next.Content) > 0 && !isNull(next.Content[0]) {
			ld.probs.addAt(path, next.Line, "holds more than one YAML document: put every setting in one document, without a '---' line between them")
			return false
		}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return true
	}
	root := resolve(doc.Content[0])
	ld.decodeStruct(root, v, s, "")
	return isNull(root) || root.Kind == yaml.MappingNode
}

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// nodeKind names a node's kind for a message.
func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return "a single value"
}

// decodeStruct reads the mapping n into the struct v.
func (ld *loader) decodeStruct(n *yaml.Node, v reflect.Value, s *structSpec, prefix string) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		where := prefix
		if where == "" {
			where = "the top level"
		}
		ld.probs.addAt(where, n.Line, "must be a mapping of keys to values, got "+nodeKind(n))
		return
	}

	firstLine := make(map[string]int)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := resolve(n.Content[i]), n.Content[i+1]
		f := s.byKey[k.Value]
		if f == nil {
			ld.unknownKey(prefix, k, s)
			continue
		}
		path := joinPath(prefix, k.Value)
		// The line where the key is written, an alias's own line rather
		// than its anchor's.
		keyLine := n.Content[i].Line
		if line, dup := firstLine[k.Value]; dup {
			ld.probs.addAt(path, keyLine, fmt.Sprintf("is given more than once, first on line %d; keep one", line))
			continue
		}
		firstLine[k.Value] = keyLine

		fv := v.FieldByIndex(f.index)
		switch f.kind {
		case kindLeaf:
			ld.decodeLeaf(resolve(val), ld.leafAt(path, f, fv))
		case kindStruct:
			ld.decodeStruct(val, fv, f.elem, path)
		case kindStructSlice:
			ld.decodeList(resolve(val), fv, f, path)
		}
	}
}

// settingNamePattern matches a key that may be named in a problem: a
// word of letters, digits, '_' and '-', as setting names are. A key of
// another shape, such as a connection string or a token that lost its
// key through a typo, is not shown.
var settingNamePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)

// unknownKey records the key k of the mapping at prefix, which the struct
// s does not have. The problem suggests the key meant when only its case
// or separators differ.
//
// NOTE: a secret written where a key belongs and shaped like a setting
// name (a short password of letters and digits) is still shown.
func (ld *loader) unknownKey(prefix string, k *yaml.Node, s *structSpec) {
	if !settingNamePattern.MatchString(k.Value) {
		where := prefix
		if where == "" {
			where = "the top level"
		}
		ld.probs.addAt(where, k.Line, "has an unknown key that is not shown, because it is not shaped like a setting name "+
			"and could be a value; remove the line, or fix the ':' and the indentation that made it a key")
		return
	}

	norm := func(key string) string { return strings.ReplaceAll(strings.ToLower(key), "-", "_") }
	message := "unknown key"
	for _, f := range s.fields {
		if norm(f.key) == norm(k.Value) {
			message = fmt.Sprintf("unknown key; did you mean %s?", f.key)
			break
		}
	}
	ld.probs.addAt(joinPath(prefix, k.Value), k.Line, message)
}

// decodeLeaf reads a value node into a value field.
func (ld *loader) decodeLeaf(n *yaml.Node, l *leaf) {
	if isNull(n) {
		return
	}
	l.origin, l.line = originFile, n.Line
	t := l.typ

	switch {
	case n.Kind == yaml.ScalarNode:
		ld.set(l, n.Value)
	case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
		items := make([]string, 0, len(n.Content))
		for _, item := range n.Content {
			item = resolve(item)
			if item.Kind != yaml.ScalarNode {
				ld.probs.add(l, "must be a list of single values, got "+nodeKind(item)+" as an item")
				return
			}
			items = append(items, item.Value)
		}
		tmp := reflect.New(t).Elem()
		if err := l.parseItems(tmp, items); err != nil {
			ld.probs.add(l, l.mismatch(strings.Join(items, ", "), err))
			return
		}
		l.v.Set(tmp)
		l.raw = strings.Join(items, ",")
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Map:
		m := reflect.MakeMapWithSize(t, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := resolve(n.Content[i]), resolve(n.Content[i+1])
			if k.Kind != yaml.ScalarNode {
				ld.probs.add(l, fmt.Sprintf("has %s as a key on line %d; each key must be a single value", nodeKind(k), n.Content[i].Line))
				return
			}
			if val.Kind != yaml.ScalarNode && l.secret {
				ld.probs.add(l, "each value must be a single value, got "+nodeKind(val))
				return
			}
			if val.Kind != yaml.ScalarNode {
				ld.probs.add(l, fmt.Sprintf("the value of %s must be a single value, got %s", k.Value, nodeKind(val)))
				return
			}
			key := reflect.ValueOf(k.Value).Convert(t.Key())
			if m.MapIndex(key).IsValid() {
				if l.secret {
					ld.probs.add(l, fmt.Sprintf("has a key given twice, the second time on line %d; keep one", n.Content[i].Line))
				} else {
					ld.probs.add(l, fmt.Sprintf("has the key %s given twice, the second time on line %d; keep one", k.Value, n.Content[i].Line))
				}
				return
			}
			m.SetMapIndex(key, reflect.ValueOf(val.Value).Convert(t.Elem()))
		}
		l.v.Set(m)
	default:
		ld.probs.add(l, "must be "+l.want()+", got "+nodeKind(n))
	}
}

// decodeList reads a sequence of mappings into a list of structs. Each
// element starts from the defaults of its fields.
func (ld *loader) decodeList(n *yaml.Node, fv reflect.Value, f *fieldSpec, path string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		ld.probs.addAt(path, n.Line, "must be a list of mappings, got "+nodeKind(n))
		return
	}
	list := reflect.MakeSlice(f.typ, len(n.Content), len(n.Content))
	for i, item := range n.Content {
		elemPath := fmt.Sprintf("%s[%d]", path, i)
		ev := list.Index(i)
		ld.walk(ev, f.elem, elemPath, ld.applyDefault)
		ld.decodeStruct(item, ev, f.elem, elemPath)
	}
	fv.Set(list)
}
