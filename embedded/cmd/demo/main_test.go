package main

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// summaryNumber returns the number on the summary line that starts with
// label, failing the test when there is none.
func summaryNumber(t *testing.T, out, label string) int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(label) + ` +([0-9,]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the summary has no line %q:\n%s", label, out)
	}
	n, err := strconv.Atoi(strings.ReplaceAll(m[1], ",", ""))
	if err != nil {
		t.Fatalf("summary line %q: %v", label, err)
	}
	return n
}

// TestDemoWritesEveryEvent runs the demo with a few hundred events and
// checks its summary: every order written, every invalid event
// dead-lettered, and a stored order printed as Extended JSON.
func TestDemoWritesEveryEvent(t *testing.T) {
	const orders, invalid = 400, 4
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	var stdout, stderr bytes.Buffer
	args := []string{"-events", strconv.Itoa(orders), "-invalid", strconv.Itoa(invalid), "-progress", "100ms"}
	if code := run(ctx, args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit status %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()

	if got := summaryNumber(t, out, "events published"); got != orders+invalid {
		t.Errorf("events published %d, want %d", got, orders+invalid)
	}
	if got := summaryNumber(t, out, "documents written"); got != orders {
		t.Errorf("documents written %d, want the %d orders published", got, orders)
	}
	if got := summaryNumber(t, out, "dead-lettered"); got != invalid {
		t.Errorf("dead-lettered %d, want the %d invalid events", got, invalid)
	}
	if want := "dead letters to /default/dead-letters"; !strings.Contains(out, want) {
		t.Errorf("the output does not contain %q:\n%s", want, out)
	}
	if got := summaryNumber(t, out, "throughput"); got <= 0 {
		t.Errorf("throughput %d docs/s, want a positive rate", got)
	}
	if !strings.Contains(out, "written") || !strings.Contains(out, "published") {
		t.Errorf("no progress line in the output:\n%s", out)
	}

	_, doc, ok := strings.Cut(out, "One stored document (relaxed Extended JSON):\n")
	if !ok {
		t.Fatalf("the summary shows no stored document:\n%s", out)
	}
	var stored bson.D
	if err := bson.UnmarshalExtJSON([]byte(doc), false, &stored); err != nil {
		t.Fatalf("the stored document does not parse as Extended JSON: %v\n%s", err, doc)
	}
	raw, err := bson.Marshal(stored)
	if err != nil {
		t.Fatal(err)
	}
	// Relaxed Extended JSON writes small int64 values as plain numbers,
	// which read back as int32, so only types it keeps are checked.
	for field, want := range map[string]bson.Type{
		"_id":                   bson.TypeString,
		"placed_at":             bson.TypeDateTime,
		"published_at":          bson.TypeDateTime,
		"total_cents":           bson.TypeInt32,
		"items":                 bson.TypeArray,
		"customer":              bson.TypeEmbeddedDocument,
		"_danube":               bson.TypeEmbeddedDocument,
		"_danube.topic":         bson.TypeString,
		"customer.since":        bson.TypeDateTime,
		"shipping.address.city": bson.TypeString,
	} {
		v, err := bson.Raw(raw).LookupErr(strings.Split(field, ".")...)
		if err != nil {
			t.Errorf("the stored document has no %s", field)
			continue
		}
		if v.Type != want {
			t.Errorf("stored %s is a %v, want a %v", field, v.Type, want)
		}
	}
}

// TestDemoHelpListsFlags checks that -h lists every flag and exits 0.
func TestDemoHelpListsFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, &stdout, &stderr); code != 0 {
		t.Errorf("exit status %d for -h, want 0", code)
	}
	for _, flag := range []string{"-events", "-invalid", "-seed", "-batch", "-progress", "-v"} {
		if !strings.Contains(stderr.String(), "  "+flag) {
			t.Errorf("-h does not list %s:\n%s", flag, stderr.String())
		}
	}
}

func TestDemoRejectsInvalidFlags(t *testing.T) {
	for _, args := range [][]string{{"-events", "0"}, {"-invalid", "-1"}, {"-batch", "0"}, {"-no-such-flag"}} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr); code != 2 {
			t.Errorf("run %v: exit status %d, want 2", args, code)
		}
	}
}

// TestGeneratorIsReproducible checks that a seed gives the same orders
// and another seed others.
func TestGeneratorIsReproducible(t *testing.T) {
	a, b, c := newGenerator(7), newGenerator(7), newGenerator(8)
	for i := range 50 {
		pa, ka := a.order()
		pb, kb := b.order()
		pc, _ := c.order()
		if !bytes.Equal(pa, pb) || ka != kb {
			t.Fatalf("order %d differs between two generators of seed 7", i)
		}
		if bytes.Equal(pa, pc) {
			t.Fatalf("order %d is the same for seeds 7 and 8", i)
		}
	}
}
