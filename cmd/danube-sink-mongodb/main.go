// Command danube-sink-mongodb consumes Danube topics and writes their
// messages to MongoDB: the sink runtime of package sink with the connector
// of package mongodb, configured by environment variables or a YAML file.
//
//	DANUBE_SERVICE_URL=http://danube-broker:6650 \
//	DANUBE_TOPIC=/default/orders \
//	CONNECTOR_NAME=orders-to-mongodb \
//	MONGODB_CONNECTION_STRING=mongodb://mongo:27017/ \
//	MONGODB_DATABASE=shop MONGODB_COLLECTION=orders \
//	danube-sink-mongodb
//
// danube-sink-mongodb -help lists every setting with its default and
// meaning. The process logs JSON lines to standard error, serves
// /metrics, /healthz and /readyz on METRICS_PORT, drains on SIGTERM or
// SIGINT and exits 0, and stops at once on a second signal.
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr))
}
