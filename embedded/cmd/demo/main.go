// Command demo runs the MongoDB sink end to end inside one process: an
// in-process Danube broker, an embedded MongoDB-compatible server, a
// producer of generated events and the sink.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "demo: the MongoDB sink is not written yet; run the tests with the second command of README.md")
	os.Exit(2)
}
