package jsonl

import (
	"github.com/danube-messaging/danube-connect-go/source"
)

// Config is the configuration of the JSON-lines source process: the
// source runtime's settings and the file's, each from an environment
// variable or the YAML key in snake case. Load it with
// source.LoadConfigInto.
type Config struct {
	source.Config

	// File is the JSON-lines file to read. Required.
	File string `env:"JSONL_FILE" yaml:"jsonl_file" required:"true"`
	// CheckpointFile is the file the position is committed to, File with
	// ".checkpoint" appended by default.
	CheckpointFile string `env:"JSONL_CHECKPOINT_FILE" yaml:"jsonl_checkpoint_file"`
	// Follow keeps reading as the file grows; false ends the process once
	// the whole file is published.
	Follow bool `env:"JSONL_FOLLOW" yaml:"jsonl_follow" default:"true"`
	// MaxLineBytes bounds a line.
	MaxLineBytes int `env:"JSONL_MAX_LINE_BYTES" yaml:"jsonl_max_line_bytes" default:"1048576" min:"1"`
	// MaxRecordsPerPoll bounds the lines read by one poll.
	MaxRecordsPerPoll int `env:"JSONL_MAX_RECORDS_PER_POLL" yaml:"jsonl_max_records_per_poll" default:"1000" min:"1"`
	// KeyField names the top-level JSON field whose value is the routing
	// key; empty sets no key.
	KeyField string `env:"JSONL_KEY_FIELD" yaml:"jsonl_key_field"`
	// PositionAttributes adds the attributes jsonl-offset and jsonl-line
	// to each message.
	PositionAttributes bool `env:"JSONL_POSITION_ATTRIBUTES" yaml:"jsonl_position_attributes" default:"true"`
}

// SourceOptions returns the options of New that the configuration sets.
func (c *Config) SourceOptions() Options {
	return Options{
		File:               c.File,
		CheckpointFile:     c.CheckpointFile,
		Follow:             c.Follow,
		MaxLineBytes:       c.MaxLineBytes,
		MaxRecordsPerPoll:  c.MaxRecordsPerPoll,
		KeyField:           c.KeyField,
		PositionAttributes: c.PositionAttributes,
	}
}
