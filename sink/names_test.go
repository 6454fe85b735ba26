package sink

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/supervisor"
)

// TestSubscriptionWithSlashIsRejectedOrConsumed: a subscription name is
// free text for the broker's Subscribe call, and defaults to
// CONNECTOR_NAME. A '/' in it must not leave the route without a valid
// supervisor child, or the sink consumes nothing while it logs "sink
// started". Either New rejects the name or the route consumes.
func TestSubscriptionWithSlashIsRejectedOrConsumed(t *testing.T) {
	e := newEnv(t)
	const topic = "/default/slash"
	cfg := e.config(topic, "team/orders")
	e.subscribe(topic, "team/orders", 3)
	conn := newTestConn()
	if _, err := New(conn, cfg, Options{}); err != nil {
		t.Logf("New rejects the name, as it may: %v", err)
		return
	}
	r := start(t, conn, cfg, Options{})

	deadline := time.Now().Add(5 * time.Second)
	for len(e.broker.Consumers(topic)["team/orders"]) == 0 {
		if time.Now().After(deadline) {
			ready := r.rt.Ready(context.Background())
			live := r.rt.Live(context.Background())
			t.Fatalf("no route subscribed within 5s, and Run has not returned; Ready: %v; Live: %v", ready, live)
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.publish(topic, "m", 3)
	r.waitAcked(t, 3)
}

// TestSubscriptionWithSpecialCharactersIsConsumed: the characters that
// routeName escapes or keeps do not keep a route from running.
func TestSubscriptionWithSpecialCharactersIsConsumed(t *testing.T) {
	e := newEnv(t)
	const topic, sub = "/default/special", "team.orders@eu%1"
	cfg := e.config(topic, sub)
	e.subscribe(topic, sub, 3)
	conn := newTestConn()
	r := start(t, conn, cfg, Options{})

	e.waitConsumer(topic, sub)
	e.publish(topic, "m", 3)
	r.waitAcked(t, 3)
	conn.mu.Lock()
	got := conn.distinct(topic)
	conn.mu.Unlock()
	if got != 3 {
		t.Errorf("the connector wrote %d distinct records, want 3", got)
	}
}

func TestSlashInSubscriptionNameNamesItsKey(t *testing.T) {
	tests := []struct {
		name   string
		env    map[string]string
		yaml   string
		prefix string
	}{
		{
			name:   "subscription name",
			env:    map[string]string{"DANUBE_TOPIC": "/default/a,/default/b", "SUBSCRIPTION_NAME": "team/orders"},
			prefix: `SUBSCRIPTION_NAME: "team/orders" must not contain '/'`,
		},
		{
			name:   "connector name as default",
			env:    map[string]string{"DANUBE_TOPIC": "/default/a,/default/b", "CONNECTOR_NAME": "team/sink"},
			prefix: `CONNECTOR_NAME: "team/sink" is the default subscription name, which must not contain '/'`,
		},
		{
			name:   "route's own name",
			yaml:   "routes:\n  - topic: /default/a\n  - topic: /default/b\n    subscription_name: a/b\n",
			prefix: `routes[1].subscription_name (line 4): "a/b" must not contain '/'`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]string{"DANUBE_SERVICE_URL": "u", "CONNECTOR_NAME": "c"}
			for k, v := range tc.env {
				vars[k] = v
			}
			path := ""
			if tc.yaml != "" {
				path = writeYAML(t, tc.yaml)
			}
			_, err := loadConfig(path, lookup(vars))
			got := problemsOf(t, err)
			if len(got) != 1 {
				t.Fatalf("problems %q, want one", got)
			}
			if !strings.HasPrefix(got[0], tc.prefix) {
				t.Errorf("problem %q, want it to start with %q", got[0], tc.prefix)
			}
		})
	}
}

func TestRouteNamesAreValidAndDistinct(t *testing.T) {
	subscriptions := []string{"orders", "team/orders", "team%2Forders", "team.orders", "team%orders", "a@b", "/", "%"}
	seen := make(map[string]string)
	sup := supervisor.New("routes")
	for _, sub := range subscriptions {
		name := routeName("/default/orders", sub)
		if strings.Contains(name, "/") {
			t.Errorf("routeName(%q) = %q contains '/'", sub, name)
		}
		if other, dup := seen[name]; dup {
			t.Errorf("subscriptions %q and %q share the name %q", other, sub, name)
		}
		seen[name] = sub
		err := sup.Add(supervisor.Spec{Name: name, Child: supervisor.ChildFunc(func(context.Context) error { return nil })})
		if err != nil {
			t.Errorf("the supervisor rejects the name %q of subscription %q: %v", name, sub, err)
		}
	}
	if got := routeName("/default/orders", "team/orders"); got != "default.orders@team%2Forders" {
		t.Errorf("routeName = %q, want default.orders@team%%2Forders", got)
	}
}

func TestRejectedRouteChildFailsRun(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ServiceURL, cfg.ConnectorName = "127.0.0.1:1", "c"
	cfg.DanubeTopic = []string{"/default/a", "/default/b"}
	rt, err := New(newTestConn(), cfg, Options{Logger: testLogger()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	rt.routes[1].name = rt.routes[0].name // two children of one name

	_, err = rt.supervisor()
	if !errors.Is(err, supervisor.ErrDuplicateName) {
		t.Fatalf("supervisor() = %v, want the rejected child's error", err)
	}
	if !strings.Contains(err.Error(), rt.routes[1].label) {
		t.Errorf("error %q does not name the route %s", err, rt.routes[1].label)
	}
}
