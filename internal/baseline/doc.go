// Package baseline measures the ceilings that this library's own figures
// are compared with, on the machine at hand and in the same run: raw gRPC
// unary calls and server streaming over loopback, goroutines chained by
// buffered channels, and InsertMany into a MongoDB server. A figure of ours
// is reported as a ratio to the matching ceiling, because these machines
// are noisy and only side-by-side ratios are comparable between runs.
package baseline
