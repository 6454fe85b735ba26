// Package pb holds the Go code generated from the Danube broker's protocol
// definitions. Regenerate it with `go generate ./danube/internal/pb` after
// installing protoc (3.21 or newer), protoc-gen-go v1.36.12 and
// protoc-gen-go-grpc v1.6.1.
package pb

//go:generate protoc --proto_path=danubepb --go_out=danubepb --go_opt=paths=source_relative --go-grpc_out=danubepb --go-grpc_opt=paths=source_relative DanubeApi.proto
//go:generate protoc --proto_path=schemapb --go_out=schemapb --go_opt=paths=source_relative --go-grpc_out=schemapb --go-grpc_opt=paths=source_relative SchemaRegistry.proto
//go:generate protoc --proto_path=adminpb --go_out=adminpb --go_opt=paths=source_relative --go-grpc_out=adminpb --go-grpc_opt=paths=source_relative DanubeAdmin.proto
